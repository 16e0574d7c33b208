"""Snakemake entry point: instruction sets of equal size, reward pairs and PPO prompts as canonical tables."""

import sys
from pathlib import Path

# The package from this checkout, in whichever environment the job runs (a --sdm conda env included).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from llmcal.env import prepare  # noqa: E402

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.instruction_data_job(
    dict(sm.params.raw),
    sm.params.n,
    sm.params.n_prompts,
    sm.params.seed,
    {k: sm.output[k] for k in sm.output.keys()},
    sm.params.allow_fewer,
)
pipeline.finish()
