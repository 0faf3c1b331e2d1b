"""The Trackastra-style association model (SPEC section 4): building blocks, then the full network."""
