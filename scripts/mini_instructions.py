"""Snakemake entry point: the mini world's Alpaca, OpenAssistant and comparison stand-ins."""
from llmcal.env import prepare

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.mini_instructions_job(sm.input.world, sm.params.seed, dict(sm.params.sizes), sm.output[0])
