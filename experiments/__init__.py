"""One runnable module per d2l section and exercise; `python -m experiments` lists and runs them."""

import os as _os
import signal as _signal
import sys as _sys


def _interrupted_while_starting(signum, frame):  # pragma: no cover - runs in a subprocess the tests interrupt
    _os.write(2, b"interrupted while starting; nothing was run\n")
    _os._exit(130)


_interrupts = []


def _interrupted_while_working(signum, frame):
    _interrupts.append(signum)
    raise KeyboardInterrupt


def start_work() -> None:
    """Called by a command line when its work begins: Ctrl-C raises KeyboardInterrupt again, for the command to
    end the run it interrupted (status 130, one line), and is remembered (see interrupted) in case some code
    swallows the KeyboardInterrupt."""
    if _signal.getsignal(_signal.SIGINT) in (_interrupted_while_starting, _signal.default_int_handler):
        _signal.signal(_signal.SIGINT, _interrupted_while_working)


def interrupted() -> bool:
    """Whether a Ctrl-C came since start_work(), even one some code caught and went on from."""
    return bool(_interrupts)


# `python -m experiments...`: a Ctrl-C during the imports (jax and jaxlib turn it into an ImportError, or print it
# and carry on) ends the process at once with status 130 and one line, until start_work().
_argv = getattr(_sys, "orig_argv", [])
if ("-m" in _argv[:-1] and _argv[_argv.index("-m") + 1].split(".")[0] == "experiments"
        and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler):
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)
