"""Snakemake entry point: the mini world's Alpaca, OpenAssistant and comparison stand-ins."""

import sys
from pathlib import Path

# The package from this checkout, in whichever environment the job runs (a --sdm conda env included).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from llmcal.env import prepare  # noqa: E402

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.mini_instructions_job(sm.input.world, sm.params.seed, dict(sm.params.sizes), sm.output[0])
pipeline.finish()
