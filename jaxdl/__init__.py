"""jaxdl: d2l chapters 2-5 as pure JAX functions over parameter pytrees, checked against PyTorch."""

from jaxdl import (checks, data, divergence, fashion_mnist, files, losses, models, optimizers, plotting, references,
                   training)
from jaxdl.data import Dataset
from jaxdl.training import History, TrainingDiverged, fit

__all__ = [
    "Dataset", "History", "TrainingDiverged", "checks", "data", "divergence", "fashion_mnist", "files", "fit",
    "losses", "models", "optimizers", "plotting", "references", "training",
]
__version__ = "0.1.0"
