#!/usr/bin/env bash
# Browser-test stage: Debian's Chromium (+ chromedriver and fonts) from apt, and the
# `playwright` Python package in ./.venv. Playwright drives /usr/bin/chromium
# (executable_path); it never downloads a browser of its own (no `playwright install`).
# Idempotent and quiet on a second run.
#   bash scripts/install_browser.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="${VENV:-$ROOT/.venv}"
PLAYWRIGHT_SPEC="${PLAYWRIGHT_SPEC:-playwright>=1.45,<2}"
say() { printf '[install:browser] %s\n' "$*"; }

pkgs="chromium chromium-driver fonts-dejavu-core fonts-liberation"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  say "apt packages:$missing"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ -x /usr/bin/chromium ] || { say "error: /usr/bin/chromium missing after install" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  say "error: no venv at $VENV (run scripts/install.sh core first)" >&2
  exit 1
fi
if ! "$VENV/bin/python" -c "import playwright.sync_api" >/dev/null 2>&1; then
  say "python package: playwright (drives /usr/bin/chromium; no browser download)"
  # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: belt and braces, the pip package downloads nothing itself.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$VENV/bin/pip" install -q --disable-pip-version-check "$PLAYWRIGHT_SPEC"
fi
