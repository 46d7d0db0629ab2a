# The two commands of the README: `make experiments` and `make test`. Both create .venv, install
# jaxdl with its dev extra, and make sure Fashion-MNIST is present before they run.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
FASHION_DIR := /usr/share/datasets/fashion-mnist
PYTEST_ARGS ?=
# d2l 5.7's Kaggle CSVs, kept beside the clone on CI machines (elsewhere the loader downloads them).
KAGGLE_HOUSE_DIR := $(abspath $(CURDIR)/../shared/data/kaggle-house)
ifneq ($(wildcard $(KAGGLE_HOUSE_DIR)/kaggle_house_pred_train.csv),)
export JAXDL_KAGGLE_HOUSE ?= $(KAGGLE_HOUSE_DIR)
endif
# The extras installed into .venv; CI adds tfds (its test reads TFDS's mock data): make test EXTRAS=dev,tfds
EXTRAS ?= dev

.PHONY: experiments test test-lowest test-newest data system benchmark references clean mutation

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

# Debian's packages where we can use apt as root: the dataset (elsewhere the loader downloads the official
# files) and Graphviz, which lays out 5.3's computational graph (matplotlib draws it where dot is missing).
system:
	@missing=""; \
	[ -f $(FASHION_DIR)/t10k-labels-idx1-ubyte.gz ] || missing=" dataset-fashion-mnist"; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

data: $(INSTALLED) system
	$(PY) -m jaxdl

experiments: data
	$(PY) -m experiments all

# lint-imports first: the import contracts of pyproject.toml ([tool.importlinter]).
test: data
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest $(PYTEST_ARGS)

# The suite in fresh virtualenvs under .nox/: on exactly the lowest versions pyproject.toml declares, and on the
# newest releases (noxfile.py).
test-lowest: data
	$(VENV)/bin/nox -s lowest -- $(PYTEST_ARGS)

test-newest: data
	$(VENV)/bin/nox -s newest -- $(PYTEST_ARGS)

benchmark: data
	$(PY) -m experiments.benchmark

# Regenerates the committed PyTorch reference files. Only torch's CPU build (+cpu): from the wheels pip
# already knows of (as on the project's machines), else from PyTorch's CPU index; never a plain
# `pip install torch`, which pulls a multi-GB CUDA build.
TORCH := torch==2.13.0+cpu
# Each section's generator lies beside it (experiments/chN/*_torch.py); SECTIONS="4.4 ch5" regenerates only those.
SECTIONS ?=
references: data
	$(PY) -m pip install --quiet "$(TORCH)" || \
		$(PY) -m pip install --quiet "$(TORCH)" --extra-index-url https://download.pytorch.org/whl/cpu
	$(PY) -m experiments.reference $(SECTIONS)

# Mutation testing of jaxdl/ and experiments/harness/result.py with the fast tests (configured under [tool.mutmut] in
# pyproject.toml). Slow, not part of CI: run it before submitting changes to the library. Prints the share
# killed and every survivor not explained in tests/mutation_equivalents.md.
mutation: $(INSTALLED)
	$(VENV)/bin/mutmut run --max-children $$(nproc)
	$(PY) tests/mutation_report.py

clean:
	rm -rf $(VENV) runs .pytest_cache .nox mutants
