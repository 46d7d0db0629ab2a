"""jaxdl: d2l as pure JAX functions over parameter pytrees, checked against PyTorch.

Models are `jaxdl.nn.Layer` values (pure init and apply); `fit` and `fit_many` train them.
"""

from jaxdl import (callbacks, checks, data, divergence, files, losses, many, models, nn, optimizers, plotting,
                   sharding, training)
from jaxdl.data import Dataset
from jaxdl.divergence import TrainingDiverged
from jaxdl.training import Fitted, History, fit, fit_many

__all__ = [
    "Dataset", "Fitted", "History", "TrainingDiverged", "callbacks", "checks", "data", "divergence", "files", "fit",
    "fit_many", "losses", "many", "models", "nn", "optimizers", "plotting", "sharding", "training",
]
__version__ = "0.1.0"
