"""jaxdl: d2l as pure JAX functions over parameter pytrees, checked against PyTorch."""

from jaxdl import checks, data, divergence, files, losses, models, optimizers, plotting, sharding, training
from jaxdl.data import Dataset
from jaxdl.training import History, TrainingDiverged, fit

__all__ = [
    "Dataset", "History", "TrainingDiverged", "checks", "data", "divergence", "files", "fit", "losses", "models",
    "optimizers", "plotting", "sharding", "training",
]
__version__ = "0.1.0"
