"""What every task shares when a sample becomes next-token questions: affixes, wrapping, instructions.

Each task (llmcal.tasks: clm, facts, mmlu and any task module a config names) turns its samples into
`Requests`, the one next-token question per sample in a model's own tokens, and scores them; this
module holds the parts they share (the entry points that ask the registry for a task are in llmcal.tasks).

Instruction-tuned models (``instruct=True``) get the same questions inside the
Stanford Alpaca template they were tuned with, with the task instructions of
the paper's Table 1; the text the model continues becomes the start of its
response. The instruction is a prefix of separately encoded tokens, so the
(context, target) pairs are the ones a base model is asked, token for token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from llmcal.scoring.config import ScoringConfig  # noqa: F401  (tasks and tests import it from here)
from llmcal.scoring.engine import score_contexts, top1_reducer


@dataclass
class Requests:
    ids: list[str]
    contexts: list[list[int]]
    targets: np.ndarray  # token ids (clm, facts) or letter indices (mmlu)
    # mmlu: the shots each prompt kept (None: the sample does not say), and how many prompts lost shots.
    n_shots: list[int | None] | None = None
    shortened: int = 0


def special_affixes(tokenizer, arch: str) -> tuple[list[int], list[int]]:
    """The special tokens the model expects around an input (LLaMA's BOS; T5's encoder EOS)."""
    plain = tokenizer("hello world", add_special_tokens=False)["input_ids"]
    full = tokenizer("hello world", add_special_tokens=True)["input_ids"]
    for k in range(len(full) - len(plain) + 1):
        if full[k : k + len(plain)] == plain:
            prefix, suffix = full[:k], full[k + len(plain) :]
            break
    else:
        prefix, suffix = [], []
    # A causal model continues the text, so an end-of-sequence marker would end it.
    return prefix, (suffix if arch == "seq2seq" else [])


def wrap(ids: list[int], prefix: list[int], suffix: list[int], max_length: int) -> list[int]:
    """Keep the end of a too-long context: the tokens nearest the prediction matter most."""
    budget = max_length - len(prefix) - len(suffix)
    if budget < 1:
        raise ValueError(
            f"scoring.max_length {max_length} leaves no room for a context after "
            f"{len(prefix) + len(suffix)} prompt tokens"
        )
    return prefix + ids[max(0, len(ids) - budget) :] + suffix


class Instructions:
    """Encoded instruction prefixes of a task, one per distinct instruction (MMLU has one per subject)."""

    def __init__(self, tokenizer, task, enabled: bool):  # task: a llmcal.tasks.Task (which imports this module)
        self.tokenizer, self.task, self.enabled, self.cache = tokenizer, task, enabled, {}

    def __call__(self, subject: str | None = None) -> list[int]:
        if not self.enabled:
            return []
        if subject not in self.cache:
            text = self.task.instruction_text(subject)
            self.cache[subject] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.cache[subject]


def run_contexts(lm, contexts: list[list[int]], reduce, cfg: ScoringConfig) -> dict:
    """The engine on a task's contexts under the scoring settings (batching, shared-prefix reuse): the one call
    every task makes, so a new task gets each engine setting without passing it itself."""
    return score_contexts(lm, contexts, reduce, cfg.batch_tokens, cfg.max_batch, cfg.prefix_cache)


def score_top1(lm, req: Requests, cfg: ScoringConfig) -> pd.DataFrame:
    """Rows of a next-token task: confidence is the top-1 probability, correct if it is the target token.

    The top-1 and target probabilities over the engine's temperature grid are kept (conf_t, target_prob_t), and
    the probabilities of the engine's TOP_K most probable tokens with whether each is the target (topk_p,
    topk_hit), the candidates of the metrics table's candidate ECE.
    """
    n_context = np.array([len(c) for c in req.contexts], dtype=np.int64)
    res = run_contexts(lm, req.contexts, top1_reducer(req.targets), cfg)
    decode = lm.tokenizer.convert_ids_to_tokens
    return pd.DataFrame(
        {
            "id": req.ids,
            "confidence": res["confidence"],
            "correct": res["pred_id"] == req.targets,
            "prediction": decode([int(i) for i in res["pred_id"]]),
            "target": decode([int(i) for i in req.targets]),
            "pred_id": res["pred_id"].astype(np.int64),
            "target_id": req.targets,
            "target_prob": res["target_prob"],
            "n_context": n_context,
            "conf_t": list(res["conf_t"]),
            "target_prob_t": list(res["target_prob_t"]),
            "topk_p": list(res["topk_p"]),
            "topk_hit": list(res["topk_hit"]),
        }
    )
