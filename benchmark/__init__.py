"""The method-agnostic harness of the Attrackt benchmark suite: data, linking, evaluation, MLflow glue."""
