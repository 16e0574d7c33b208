"""Snakemake entry point: generate the mini world (stand-in datasets and pretraining corpus)."""
from llmcal.env import prepare

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

pipeline.setup_logging(snakemake.log[0])  # noqa: F821
pipeline.world_job(dict(snakemake.params.world), snakemake.output[0])  # noqa: F821
