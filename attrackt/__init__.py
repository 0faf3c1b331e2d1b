"""Attrackt: unsupervised training of a Trackastra-style association model (later issues)."""
