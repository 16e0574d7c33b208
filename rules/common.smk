# Config validation and the study registry; the logic lives in llmcal.study.
import re
import sys
from dataclasses import asdict
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from llmcal.config import fill_defaults  # noqa: E402
from llmcal.config import validate as check_config  # noqa: E402
from llmcal.registry import ConfigError  # noqa: E402
from llmcal.study import Study  # noqa: E402

try:
    # The closed schema (with the sections of the config's task_modules) first, one line per problem; then
    # its defaults are filled in, as Snakemake's validate would.
    check_config(config)
    fill_defaults(config)
    STUDY = Study(config)
except ConfigError as e:
    raise WorkflowError(f"config: {e}") from None


# One run at a time per results directory, whichever directory Snakemake was started from. onstart runs in the
# main process only, when jobs are about to run: dry runs, reports and cluster jobs take no lock.
onstart:
    from llmcal.fsio import ResultsInUse, lock_results

    try:
        lock_results(STUDY.results)
    except ResultsInUse as e:
        raise WorkflowError(str(e)) from None


LAYOUT = STUDY.layout
MODEL_NAMES = "|".join(re.escape(m) for m in STUDY.models)
TASK_NAMES = "|".join(re.escape(t) for t in STUDY.task_names)
MINI_ENTRIES = "|".join(re.escape(e) for e in STUDY.mini_entries()) or "^$"
KSHOT_MODELS = "|".join(re.escape(m) for m in STUDY.kshot_models) or "^$"


wildcard_constraints:
    task=TASK_NAMES,
    model=MODEL_NAMES,
    entry=MINI_ENTRIES,


def model_input(wildcards):
    return str(STUDY.model_dir(wildcards.model))


def model_files(wildcards):
    return STUDY.model_files(wildcards.model)


def resources_of(rule, **fixed):
    """A rule's resources, each a function of the job's wildcards (formula: llmcal.resources)."""

    def one(key):
        def value(wc):
            given = {k: getattr(wc, k) for k in ("model", "task") if hasattr(wc, k)}
            return STUDY.job_resources(rule, **fixed, **given)[key]

        return value

    return {key: one(key) for key in ("gpu", "mem_mb", "cpus_per_task", "runtime")}


# One pinned environment for the torch/HF stack, a light one for tables, figures and the report.
ENV_TORCH = "../envs/llmcal.yaml"
ENV_PLOT = "../envs/plot.yaml"
# Where a training and a scoring job are both ready, training goes first: long jobs first, and the many short
# scoring jobs fill the cores around them (on a cluster with a --jobs cap, the tuning chain is not queued behind them).
TRAIN_PRIORITY = 1


def hub_checkpoint(path):
    """A downloaded checkpoint; temporary when the config says so, deleted once every score needing it exists."""
    out = directory(path)
    return (
        temp(out)
        if config.get("resources", {}).get("temporary_hub_checkpoints")
        else out
    )
