"""The book's datasets: found, verified, downloaded when missing, and handed over as arrays.

`jaxdl.datasets.fashion_mnist` (d2l 4.2, also through tensorflow-datasets) and
`jaxdl.datasets.kaggle_house` (d2l 5.7). Every loader refuses a missing, truncated or foreign file
with one error, `DataError`, whose message names the file and what to do.
"""


class DataError(RuntimeError):
    """A data file is missing, truncated, corrupted or not what it claims to be."""
