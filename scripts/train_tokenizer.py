"""Snakemake entry point: the mini suite's byte-level BPE tokenizer."""
from llmcal.env import prepare

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.tokenizer_job(sm.input.world, sm.params.vocab_size, sm.output[0])
