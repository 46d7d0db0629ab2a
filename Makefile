# The two commands of the README: `make experiments` and `make test`. Both create .venv, install
# jaxdl with its dev extra, and make sure Fashion-MNIST is present before they run.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
FASHION_DIR := /usr/share/datasets/fashion-mnist
PYTEST_ARGS ?=

.PHONY: experiments test data benchmark references clean mutation

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Debian's package where we can use apt as root; elsewhere the loader downloads the official files.
data: $(INSTALLED)
	@if [ ! -f $(FASHION_DIR)/t10k-labels-idx1-ubyte.gz ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's dataset-fashion-mnist"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi
	$(PY) -m jaxdl

experiments: data
	$(PY) -m experiments all

test: data
	$(PY) -m pytest $(PYTEST_ARGS)

benchmark: data
	$(PY) -m experiments.benchmark

# Regenerates the committed PyTorch reference files. Only torch's CPU build (+cpu): from the wheels pip
# already knows of (as on the project's machines), else from PyTorch's CPU index; never a plain
# `pip install torch`, which pulls a multi-GB CUDA build.
TORCH := torch==2.13.0+cpu
references: data
	$(PY) -m pip install --quiet "$(TORCH)" || \
		$(PY) -m pip install --quiet "$(TORCH)" --extra-index-url https://download.pytorch.org/whl/cpu
	$(PY) -m experiments.reference

# Mutation testing of jaxdl/ and experiments/common.py with the fast tests (configured under [tool.mutmut] in
# pyproject.toml). Slow, not part of CI: run it before submitting changes to the library. Prints the share
# killed and every survivor not explained in tests/mutation_equivalents.md.
mutation: $(INSTALLED)
	$(VENV)/bin/mutmut run --max-children $$(nproc)
	$(PY) tests/mutation_report.py

clean:
	rm -rf $(VENV) runs .pytest_cache mutants
