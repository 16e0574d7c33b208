"""Snakemake entry point: Figure 6's data (response embeddings, diversity, t-SNE)."""

import sys
from pathlib import Path

# The package from this checkout, in whichever environment the job runs (a --sdm conda env included).
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from llmcal.env import prepare  # noqa: E402

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.diversity_job(
    {"alpaca": sm.input.alpaca, "oasst": sm.input.oasst},
    dict(sm.params.embedder),
    dict(sm.params.cfg),
    sm.params.seed,
    sm.output.summary,
    sm.output.points,
)
pipeline.finish()
