"""Snakemake entry point: PPO on the instruction-tuned model, one merged checkpoint per epoch."""

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
pipeline.ppo_job(
    dict(sm.params.run),
    sm.input.policy,
    sm.input.reward,
    sm.input.prompts,
    dict(sm.params.launch),
    sm.params.state,
    list(sm.output),
)
pipeline.finish()
