"""Snakemake entry point: per-sample confidence and correctness of one model on one task."""
from llmcal.env import prepare

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.score_job(sm.input.model, dict(sm.params.model), sm.wildcards.task, sm.input.data, dict(sm.params.scoring),
                   sm.params.seed, sm.output[0], threads=sm.threads)
