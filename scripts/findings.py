"""Snakemake entry point: the findings report (markdown and HTML)."""

import sys
from pathlib import Path

# The package from this checkout, in whichever environment the job runs (a --sdm conda env included).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from llmcal.env import prepare  # noqa: E402

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.findings_job(
    dict(sm.params.config),
    sm.input.metrics,
    dict(sm.params.figures),
    sm.params.n_boot,
    sm.params.seed,
    sm.output.md,
    sm.output.html,
    sm.output.selective,
    alignment_files=list(sm.input.alignment),
)
pipeline.finish()
