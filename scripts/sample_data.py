"""Snakemake entry point: draw one task's seeded canonical sample."""

import sys
from pathlib import Path

# The package from this checkout, in whichever environment the job runs (a --sdm conda env included).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from llmcal.env import prepare  # noqa: E402

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.sample_job(
    sm.wildcards.task,
    dict(sm.params.read),
    dict(sm.params.data),
    sm.params.seed,
    sm.output[0],
    task_modules=sm.config["task_modules"],
)
pipeline.finish()
