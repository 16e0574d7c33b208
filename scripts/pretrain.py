"""Snakemake entry point: pretrain one mini-suite scale, saving every checkpoint."""

import sys
from pathlib import Path

# The package from this checkout, in whichever environment the job runs (a --sdm conda env included).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from llmcal.env import prepare  # noqa: E402

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.pretrain_job(
    sm.input.tokenizer,
    sm.input.world,
    dict(sm.params.arch),
    dict(sm.params.train),
    list(sm.params.steps),
    list(sm.output),
)
pipeline.finish()
