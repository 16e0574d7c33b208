"""Snakemake entry point: PPO on the instruction-tuned model, one merged checkpoint per epoch."""
from llmcal.env import prepare

prepare(offline=True)
from llmcal import pipeline  # noqa: E402

sm = snakemake  # noqa: F821
pipeline.setup_logging(sm.log[0])
pipeline.set_threads(sm.threads)
pipeline.ppo_job(dict(sm.params.run), sm.input.policy, sm.input.reward, sm.input.prompts, dict(sm.params.launch),
                 sm.params.state, list(sm.output))
