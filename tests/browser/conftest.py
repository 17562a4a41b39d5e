"""Browser tests: the admin served by a real server in a thread, driven by Playwright in
Debian's Chromium (/usr/bin/chromium, installed by scripts/install_browser.sh).

Skipped, with the reason, when Chromium or the playwright package is missing.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CALLFLOWS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def _missing() -> str | None:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} not found: run scripts/install_browser.sh (Debian chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed: run scripts/install_browser.sh"
    return None


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    reason = _missing()
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "browser: drives Debian's Chromium with Playwright (scripts/install_browser.sh)")


class Live:
    def __init__(self, url: str, store: Any, root: Path):
        self.url = url
        self.store = store
        self.root = root
        self.call_id: str | None = None


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from werkzeug.serving import make_server

    from admin.testing import add_users, copy_verticals, make_app, seed_call
    from callflows.store import Store

    root = tmp_path_factory.mktemp("admin-live")
    old = os.environ.get("CALLFLOWS_VERTICALS_DIR")
    os.environ["CALLFLOWS_VERTICALS_DIR"] = str(copy_verticals(root / "verticals"))
    store = Store(f"sqlite:///{root / 'callflows.db'}")
    store.upgrade()
    add_users(store)
    app = make_app(store, root / "verticals")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="admin-live", daemon=True)
    thread.start()
    live = Live(f"http://127.0.0.1:{server.server_port}", store, root)
    live.call_id = seed_call(store)
    try:
        yield live
    finally:
        server.shutdown()
        thread.join(timeout=10)
        store.dispose()
        if old is None:
            os.environ.pop("CALLFLOWS_VERTICALS_DIR", None)
        else:
            os.environ["CALLFLOWS_VERTICALS_DIR"] = old
        shutil.rmtree(root / "verticals", ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def login_as(page: Any, username: str, password: str | None = None) -> None:
    from admin.testing import PASSWORD

    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password or PASSWORD)
    page.click("button[type=submit]")
