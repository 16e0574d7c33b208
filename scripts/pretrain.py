"""Snakemake entry point: pretrain one mini-suite scale, saving every checkpoint."""
from llmcal.env import prepare

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.pretrain_job(sm.input.tokenizer, sm.input.world, dict(sm.params.arch), dict(sm.params.train),
                      list(sm.params.steps), list(sm.output))
