"""Snakemake entry point: fetch one hub checkpoint (login node, with internet)."""
from llmcal.env import prepare

prepare(offline=False)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.download_model_job(sm.params.repo, sm.params.revision, sm.output[0])
