"""Snakemake entry point: the LoRA reward model, merged, with its held-out pairwise accuracy."""
from llmcal.env import prepare

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.set_threads(sm.threads)
pipeline.reward_job(dict(sm.params.settings), sm.input.base, sm.input.pairs, dict(sm.params.launch),
                    sm.output.model, sm.output.metrics)
