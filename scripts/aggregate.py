"""Snakemake entry point: the metrics table over every (model, task)."""

import sys
from pathlib import Path

# The package from this checkout, in whichever environment the job runs (a --sdm conda env included).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from llmcal.env import prepare  # noqa: E402

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.aggregate_job(
    list(sm.input),
    list(sm.params.rows),
    dict(sm.params.metrics),
    sm.params.seed,
    sm.output.metrics,
    per_subject_out=sm.output.per_subject,
)
pipeline.finish()
