"""Snakemake entry point: generate the mini world (stand-in datasets and pretraining corpus)."""

import sys
from pathlib import Path

# The package from this checkout, in whichever environment the job runs (a --sdm conda env included).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from llmcal.env import prepare  # noqa: E402

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

pipeline.setup_logging(snakemake.log[0])  # noqa: F821
pipeline.world_job(dict(snakemake.params.world), snakemake.output[0])  # noqa: F821
pipeline.finish()
