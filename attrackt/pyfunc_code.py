"""The code MLflow stores with every association model and runs to load it ("models from code":
nothing is unpickled). Not imported by the suite itself."""

from mlflow.models import set_model

from attrackt.pyfunc_model import AssociationPyfunc

set_model(AssociationPyfunc())
