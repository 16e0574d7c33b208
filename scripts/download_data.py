"""Snakemake entry point: fetch one task's raw data (login node, with internet)."""

import sys
from pathlib import Path

# The package from this checkout, in whichever environment the job runs (a --sdm conda env included).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from llmcal.env import prepare  # noqa: E402

prepare(offline=False)
from llmcal import pipeline  # noqa: E402

pipeline.setup_logging(snakemake.log[0])  # noqa: F821
pipeline.download_data_job(dict(snakemake.params.spec), snakemake.output[0])  # noqa: F821
pipeline.finish()
