"""The command that regenerates the PyTorch reference files (`python -m experiments.reference`); the files and
their generators lie beside the experiments, in the chapter packages."""
