# Config validation and the study registry; the logic lives in llmcal.study.
import re
import sys
from dataclasses import asdict
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from llmcal.registry import ConfigError, hub_dir  # noqa: E402
from llmcal.study import Study  # noqa: E402

validate(config, "../schemas/config.schema.yaml")
try:
    STUDY = Study(config)
except ConfigError as e:
    raise WorkflowError(f"config: {e}") from None

R = str(STUDY.results)
MODEL_NAMES = "|".join(re.escape(m) for m in STUDY.models)
MINI_ENTRIES = "|".join(re.escape(e) for e in STUDY.mini_entries()) or "^$"


wildcard_constraints:
    task="clm|facts|mmlu",
    model=MODEL_NAMES,
    entry=MINI_ENTRIES,


def download_targets():
    raw = [STUDY.raw_dir(t) for t in STUDY.downloaded_tasks()]
    return raw + [str(hub_dir(R, m)) for m in STUDY.hub_models()]


def model_input(wildcards):
    return str(STUDY.model_dir(wildcards.model))


def score_rows():
    """Which model and task each score file of the aggregation belongs to."""
    rows = []
    for model, spec in STUDY.models.items():
        for task in STUDY.tasks:
            rows.append({"model": model, "family": spec.family, "size": spec.size, "step": spec.step, "task": task})
    return rows


def figure_scores(wildcards):
    fig = STUDY.figure(wildcards.name)
    tasks = [fig.task] if fig.task else STUDY.tasks
    return {f"{m}|{t}": STUDY.score_file(t, m) for m in fig.models for t in tasks}


def figure_labels(wildcards):
    return {m: STUDY.models[m].size for m in STUDY.figure(wildcards.name).models}
