#!/usr/bin/env bash
# Install, then run the test suite (fast selection by default; pass -m slow, -k ..., etc. to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MLFLOW_DISABLE_TELEMETRY=true
exec .venv/bin/python -m pytest "$@"
