"""Snakemake entry point: per-sample confidence and correctness of one model on every task, one model load."""

import sys
from pathlib import Path

# The package from this checkout, in whichever environment the job runs (a --sdm conda env included).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from llmcal.env import prepare  # noqa: E402

prepare(offline=True)
from llmcal import pipeline  # noqa: E402
from llmcal.scoring.config import ScoringConfig  # noqa: E402
from llmcal.sections import job_settings  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
# params hold the settings that change scores; batching (runtime-only) comes from the config.
scoring = job_settings(ScoringConfig, sm.params.scoring, sm.config)
# Inputs and outputs both follow the config's `tasks` (Study.data_files, Study.model_scores).
files = {t: (data, out) for t, data, out in zip(sm.params.tasks, sm.input.data, sm.output, strict=True)}
pipeline.score_model_job(
    sm.input.model,
    dict(sm.params.model),
    files,
    scoring,
    sm.params.seed,
    threads=sm.threads,
    task_modules=sm.config["task_modules"],
)
pipeline.finish()
