# The README's two set-up commands. Both create .venv on first use.
#   make mini   install, then run the whole study in miniature (offline, CPU, minutes)
#   make test   install, then run the test suite (make test-fast: without the mini DAG and SLURM tests)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.llmcal-installed
# The bench's own environment: the project's stack plus lm-evaluation-harness, which the workflow never needs.
BENCH_VENV ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.llmcal-installed

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

$(BENCH_STAMP): requirements.txt pyproject.toml bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r requirements.txt -r bench/requirements.txt
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(BENCH_STAMP)

# MMLU 5-shot (llmcal with and without prefix reuse, a plain loop, lm-evaluation-harness) and instructed CLM/facts,
# one thread, random weights in Pythia-70m's shape; options: make bench BENCH_ARGS="--shape 160m".
bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/scoring_speed.py $(BENCH_ARGS)

clean-mini:
	rm -rf results/mini
