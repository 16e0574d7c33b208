"""Snakemake entry point: fetch one task's raw data (login node, with internet)."""
from llmcal.env import prepare

prepare(offline=False)
from llmcal import pipeline  # noqa: E402

pipeline.setup_logging(snakemake.log[0])  # noqa: F821
pipeline.download_data_job(dict(snakemake.params.spec), snakemake.output[0])  # noqa: F821
