#!/usr/bin/env bash
# Install everything (idempotent, quiet on a second run) and start the main job on embedded defaults.
#   scripts/run.sh                  -> the dental clinic agent in text mode
#   scripts/run.sh <callflows args> -> any callflows command
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/callflows db upgrade >/dev/null
if [ $# -eq 0 ]; then set -- chat dental_clinic; fi
exec .venv/bin/callflows "$@"
