"""Snakemake entry point: the metrics table over every (model, task)."""
from llmcal.env import prepare

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.aggregate_job(list(sm.input), list(sm.params.rows), dict(sm.params.metrics), sm.params.seed, sm.output[0])
