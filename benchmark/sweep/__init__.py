"""Sweeps: grid files and running them as child runs of one MLflow sweep run."""
