"""Export a sweep's results from the MLflow store into a committed results file (benchmark/results.py).

    .venv/bin/python scripts/export_results.py --sweep-run <id>    # -> results/<grid>-<date>.json

The main job's sweep run id is printed at its end ("MLflow runs: ... (sweep run <id>)"). The tracking
store is MLFLOW_TRACKING_URI, else the suite's default (sqlite:///mlflow.db in the working folder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.report.export import export_sweep
from benchmark.run_lookup import check_run_id
from benchmark.tracking import use_default_store

ROOT = Path(__file__).resolve().parent.parent  # the project folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep-run", required=True, help="id of the sweep run (the main job's, or any sweep's)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "results", help="folder of the results file (default results/)"
    )
    args = parser.parse_args(argv)
    try:
        use_default_store()
        path = export_sweep(check_run_id("sweep_run", args.sweep_run), args.out)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
