"""`python -m jaxdl`: makes sure Fashion-MNIST and d2l 5.7's Kaggle house CSVs are present and valid,
downloading them if needed. A missing or damaged copy is one line and status 1; Ctrl-C is one line and 130."""

import signal
import sys

from jaxdl.datasets import DataError, fashion_mnist, kaggle_house


def main() -> int:
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # the start-up is over (see jaxdl/__init__.py)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        arrays = fashion_mnist.load_arrays()
        print(f"Fashion-MNIST ok in {fashion_mnist.locate()}: "
              + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))
        train, test = kaggle_house.load()
        print(f"Kaggle house prices ok in {kaggle_house.locate()}: train {train.shape}, test {test.shape}")
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # downloads are atomic: nothing half-written is left
        print("interrupted; files not yet downloaded are not there", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
