# The README's two set-up commands. Both create .venv on first use.
#   make mini   install, then run the whole study in miniature (offline, CPU, minutes)
#   make test   install, then run the test suite (make test-fast: without the mini DAG and SLURM tests)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.llmcal-installed

.PHONY: mini test test-fast paper-dry-run bench clean-mini

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

mini: $(STAMP)
	$(BIN)/python -m llmcal.config config/mini.yaml
	$(BIN)/llmcal --cores $(CORES) --configfile config/mini.yaml -- all

test: $(STAMP)
	$(BIN)/python -m pytest

# The edit loop: everything but the whole mini DAG and the SLURM cluster (.ci/run still runs all).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# What the paper config would run, without touching the network.
paper-dry-run: $(STAMP)
	$(BIN)/snakemake -n --quiet rules -- all

bench: $(STAMP)
	$(BIN)/python bench/scoring_speed.py

clean-mini:
	rm -rf results/mini
