"""Snakemake entry point: the LoRA reward model, merged, with its held-out pairwise accuracy."""

import sys
from pathlib import Path

# The package from this checkout, in whichever environment the job runs (a --sdm conda env included).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from llmcal.env import prepare  # noqa: E402

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.set_threads(sm.threads)
pipeline.reward_job(
    dict(sm.params.settings), sm.input.base, sm.input.pairs, dict(sm.params.launch), sm.output.model, sm.output.metrics
)
pipeline.finish()
