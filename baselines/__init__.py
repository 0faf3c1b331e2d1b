"""Baselines of the paper's Table 1; each gives the ILP its appearance term d2 (or none)."""
