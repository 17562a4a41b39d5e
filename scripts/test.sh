#!/usr/bin/env bash
# The whole test suite: installs what is missing (same script as the README's first command), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export CALLFLOWS_TEST_PG_URL=${CALLFLOWS_TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
