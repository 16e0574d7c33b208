"""Snakemake entry point: draw one task's seeded canonical sample."""
from llmcal.env import prepare

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.sample_job(sm.wildcards.task, dict(sm.params.read), dict(sm.params.data), sm.params.seed, sm.output[0])
