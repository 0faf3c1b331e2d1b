"""Reports from MLflow runs: Table 1, the fine-tuning table, Figures 2 and 3, and an index page."""

from benchmark.report.build import build_report

__all__ = ["build_report"]
