"""Tuning of the ILP weights (w1, |w2|, b, C_a, C_d) on a dataset's validation sequences (entry point
``tune``), and their use by the method entry points (``linking.weights_run`` / ``ilp_weights_run``)."""
