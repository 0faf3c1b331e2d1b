#!/usr/bin/env bash
# The main job: install, then run every available method on the embedded synthetic datasets.
# Extra arguments go to `python -m benchmark.cli main` (e.g. --profile smoke).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MLFLOW_DISABLE_TELEMETRY=true
exec .venv/bin/python -m benchmark.cli main "$@"
