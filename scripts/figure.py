"""Snakemake entry point: draw one figure of the paper."""

import sys
from pathlib import Path

# The package from this checkout, in whichever environment the job runs (a --sdm conda env included).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from llmcal.env import prepare  # noqa: E402

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.figure_job(
    dict(sm.params.figure),
    {k: sm.input[k] for k in sm.input.keys()},
    dict(sm.params.data),
    dict(sm.params.task_labels),
    sm.params.n_bins,
    sm.output[0],
)
pipeline.finish()
