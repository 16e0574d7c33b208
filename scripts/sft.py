"""Snakemake entry point: instruction-tune the base model (full or LoRA), one checkpoint per epoch."""
from llmcal.env import prepare

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.set_threads(sm.threads)
pipeline.sft_job(dict(sm.params.run), sm.input.base, sm.input.data, dict(sm.params.launch), sm.params.state,
                 list(sm.output))
