"""Take the README's admin screenshots from a seeded, throw-away instance.

    .venv/bin/python scripts/admin_screenshots.py            # writes docs/img/admin-*.png

Needs Debian's Chromium and the playwright package (scripts/install_browser.sh). Everything
(database, a copy of the verticals) lives in a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("CALLFLOWS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--extra", type=Path, help="Also shoot the YAML editor, test chat and a call page here.")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    with tempfile.TemporaryDirectory(prefix="callflows-shots-") as tmp:
        tmp_path = Path(tmp)
        from admin.testing import PASSWORD, add_users, copy_verticals, make_app, seed_history

        os.environ["CALLFLOWS_VERTICALS_DIR"] = str(copy_verticals(tmp_path / "verticals"))
        from callflows.store import Store

        store = Store(f"sqlite:///{tmp_path / 'callflows.db'}")
        store.upgrade()
        add_users(store, ("editor",))
        seed_history(store, days=14)
        app = make_app(store, tmp_path / "verticals")
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
        args.out.mkdir(parents=True, exist_ok=True)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                page = browser.new_page(base_url=base, viewport={"width": 1280, "height": 860})
                page.goto("/login")
                page.fill("input[name=username]", "editor")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(base + "/")
                page.screenshot(path=str(args.out / "admin-dashboard.png"), full_page=False)

                # the flow editor with a draft: a changed greeting and a mistake caught next to its field
                token = page.locator("input[name=csrf_token]").first.input_value()
                for path, value in (
                    (["responses", "greet", 0], "Good morning, Bright Smile Dental. I can book, move or cancel "
                                                "an appointment, or answer a question. How can I help?"),
                    (["responses", "help", 0], "Call us back at {{ clinic_phone }} or say 'talk to a person'."),
                ):
                    page.request.post(base + "/flows/dental_clinic/field",
                                      form={"csrf_token": token, "path": json.dumps(path), "value": value})
                page.goto("/flows/dental_clinic")
                page.screenshot(path=str(args.out / "admin-flow-editor.png"), full_page=False)
                if args.extra:
                    args.extra.mkdir(parents=True, exist_ok=True)
                    page.goto("/flows/dental_clinic/yaml")
                    page.locator("a.goto-line").first.click()
                    page.screenshot(path=str(args.extra / "yaml.png"))
                    page.goto("/testchat/?vertical=dental_clinic")
                    page.select_option("select[name=version]", "published")  # the draft has a mistake
                    page.get_by_test_id("start-chat").click()
                    for line in ("i'd like to book a cleaning with doctor patel", "next tuesday at 3",
                                 "my name is Jane Smith"):
                        page.get_by_test_id("say").fill(line)
                        page.get_by_role("button", name="Send").click()
                    page.locator(".nlu").first.click()
                    page.screenshot(path=str(args.extra / "chat.png"))
                    page.goto("/calls/")
                    page.screenshot(path=str(args.extra / "calls.png"))
                    page.locator("table[data-testid=calls] a").first.click()
                    page.screenshot(path=str(args.extra / "call.png"), full_page=True)
                    page.goto("/flows/dental_clinic/diff")
                    page.screenshot(path=str(args.extra / "diff.png"))
                browser.close()
        finally:
            server.shutdown()
            store.dispose()
    for name in ("admin-dashboard.png", "admin-flow-editor.png"):
        path = args.out / name
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
