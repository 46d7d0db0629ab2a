"""jaxdl: d2l as pure JAX functions over parameter pytrees, checked against PyTorch.

Models are `jaxdl.nn.Layer` values (pure init and apply); `fit` and `fit_many` train them.
"""

import os as _os
import signal as _signal
import sys as _sys


def _interrupted_while_starting(signum, frame):  # pragma: no cover - runs in a subprocess the tests interrupt
    _os.write(2, b"interrupted while starting; nothing was run\n")
    _os._exit(130)


# `python -m jaxdl...`: a Ctrl-C during the imports (jax and jaxlib turn it into an ImportError, or print it and
# carry on) ends the process at once with status 130 and one line; the command's main() takes SIGINT back.
_argv = getattr(_sys, "orig_argv", [])
if ("-m" in _argv[:-1] and _argv[_argv.index("-m") + 1].split(".")[0] == "jaxdl"
        and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler):
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)

from jaxdl import (callbacks, checkpoints, checks, data, divergence, files, losses, many, models, nn, optimizers,
                   plotting, sharding, state_dict, training)
from jaxdl.data import Dataset
from jaxdl.divergence import TrainingDiverged
from jaxdl.training import Fitted, History, fit, fit_many

__all__ = [
    "Dataset", "Fitted", "History", "TrainingDiverged", "callbacks", "checkpoints", "checks", "data", "divergence",
    "files", "fit", "fit_many", "losses", "many", "models", "nn", "optimizers", "plotting", "sharding", "state_dict",
    "training",
]
__version__ = "0.1.0"
