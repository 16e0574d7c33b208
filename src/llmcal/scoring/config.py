"""The `scoring:` section: how each (model, task) job turns samples into next-token questions and scores them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from llmcal.sections import Section, setting

MMLU_CONFIDENCES = ("renormalized", "full_vocab")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ScoringConfig(Section):
    section: ClassVar[str] = "scoring"

    max_length: int = setting(2048, "longest context in tokens; MMLU prompts drop shots from the end to fit")
    min_context: int = setting(32, "shortest CLM context: the scored position is drawn between it and max_length")
    # Batching groups the same contexts differently; each row is scored on its own (padding is masked out), so
    # only float32 rounding can differ (up to 2e-6 on a confidence in the mini run when the budget is halved, no
    # prediction changed; identical in float64: bench/score_drift.py).
    batch_tokens: int = setting(16384, "token budget of one batch (rows x longest row)", runtime_only=True)
    max_batch: int = setting(64, "most rows in one batch", runtime_only=True)
    # The shared-prefix path gives the plain path's logits to float32 rounding (tests: |d logit| <= 1e-4, same
    # argmax), so, like batching, it changes how a score is computed, not what is asked.
    prefix_cache: bool = setting(
        True,
        "compute a prompt prefix shared by many samples once and score only the "
        "suffixes (causal models); false: the plain path, for debugging",
        runtime_only=True,
    )
    mmlu_confidence: str = setting(
        "renormalized",
        "MMLU confidence: softmax over the four letters (renormalized) or the letter's full_vocab probability",
    )
    dtype: str = setting("auto", "weights' dtype when scoring: auto (the checkpoint's), float32, bfloat16, float16")

    def __post_init__(self):
        if self.mmlu_confidence not in MMLU_CONFIDENCES:
            raise ValueError(f"mmlu_confidence must be one of {MMLU_CONFIDENCES}, got {self.mmlu_confidence!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
