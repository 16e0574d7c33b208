"""The three tasks as (context, target) pairs in a model's own tokens, and their scoring.

Tasks are data (the canonical sample files); this module turns a sample into
the one next-token question the paper asks of it:
- clm: a seeded position in a Pile text; predict the token there.
- facts: the text before a T-REx entity; predict the entity's first token as
  the tokenizer splits it in context (so " Paris", with its leading space).
- mmlu: the 5-shot prompt ending in "Answer:"; choose among the letter tokens. A prompt longer
  than ``scoring.max_length`` loses shots from the end until it fits, as Hendrycks' evaluate.py
  does; the header and the question are never cut (the score file's ``n_shots`` says how many
  shots each prompt kept).

Instruction-tuned models (``instruct=True``) get the same questions inside the
Stanford Alpaca template they were tuned with, with the task instructions of
the paper's Table 1; the text the model continues becomes the start of its
response. The instruction is a prefix of separately encoded tokens, so the
(context, target) pairs are the ones a base model is asked, token for token.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from llmcal.data.instructions import format_alpaca
from llmcal.data.mmlu_prompt import LETTERS, assemble, header
from llmcal.scoring.config import ScoringConfig
from llmcal.scoring.engine import choice_reducer, score_contexts, top1_reducer

TASKS = ("clm", "facts", "mmlu")
# Table 1 of the paper; MMLU's instruction is its own few-shot header.
INSTRUCTIONS = {"clm": "Finish this sentence:", "facts": "Finish this Wikipedia description:"}

log = logging.getLogger("llmcal")


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


def _wrap(ids: list[int], prefix: list[int], suffix: list[int], max_length: int) -> list[int]:
    """Keep the end of a too-long context: the tokens nearest the prediction matter most."""
    budget = max_length - len(prefix) - len(suffix)
    if budget < 1:
        raise ValueError(f"scoring.max_length {max_length} leaves no room for a context after "
                         f"{len(prefix) + len(suffix)} prompt tokens")
    return prefix + ids[max(0, len(ids) - budget) :] + suffix


def instruction(task: str, subject: str | None = None) -> str:
    """The Table 1 instruction of a task, as the tuned model sees it: in the Alpaca template."""
    if task == "mmlu":
        return format_alpaca(header(subject).strip())
    return format_alpaca(INSTRUCTIONS[task])


def split_mmlu_header(prompt: str, subject: str) -> str:
    """The few-shot body of an MMLU prompt; its header moves into the instruction."""
    head = header(subject)
    if not prompt.startswith(head):
        raise ValueError(f"the prompt does not start with the MMLU header for {subject!r}")
    return prompt[len(head):]


class _Instructions:
    """Encoded instruction prefixes, one per distinct instruction (MMLU has one per subject)."""

    def __init__(self, tokenizer, task: str, enabled: bool):
        self.tokenizer, self.task, self.enabled, self.cache = tokenizer, task, enabled, {}

    def __call__(self, subject: str | None = None) -> list[int]:
        if not self.enabled:
            return []
        if subject not in self.cache:
            text = instruction(self.task, subject)
            self.cache[subject] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.cache[subject]


def _uniform(seed: int, sample_id: str) -> float:
    """A per-sample uniform draw that depends only on (seed, id), not on order or the model."""
    h = hashlib.blake2b(f"{seed}:{sample_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def clm_requests(df: pd.DataFrame, tokenizer, arch: str, cfg: ScoringConfig, seed: int,
                 instruct: bool = False) -> Requests:
    prefix, suffix = special_affixes(tokenizer, arch)
    prefix = prefix + _Instructions(tokenizer, "clm", instruct)()
    # The position is drawn within the plain budget, so an instructed model is asked for the same token.
    budget = cfg.max_length - len(special_affixes(tokenizer, arch)[0]) - len(suffix)
    if budget < 1:
        raise ValueError(f"scoring.max_length {cfg.max_length} leaves no room for a context")
    encoded = tokenizer(list(df["text"]), add_special_tokens=False)["input_ids"]
    contexts, targets = [], []
    for sample_id, ids in zip(df["id"], encoded):
        if len(ids) < 2:
            raise ValueError(f"clm sample {sample_id}: the text has {len(ids)} token(s); at least 2 are needed")
        hi = min(len(ids) - 1, budget)  # the target's index; the context is everything before it
        lo = max(1, min(cfg.min_context, hi))
        pos = lo + int(_uniform(seed, sample_id) * (hi - lo + 1))
        contexts.append(_wrap(ids[:pos], prefix, suffix, cfg.max_length))
        targets.append(ids[pos])
    return Requests(list(df["id"]), contexts, np.array(targets, dtype=np.int64))


def entity_split(tokenizer, context: str, entity: str) -> tuple[list[int], int]:
    """Context tokens and the entity's first token, tokenised together as the model reads them."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("the facts task needs a fast tokenizer (character offsets)")
    enc = tokenizer(context + entity, add_special_tokens=False, return_offsets_mapping=True)
    start = len(context)
    for i, (_, end) in enumerate(enc["offset_mapping"]):
        if end > start:
            return enc["input_ids"][:i], enc["input_ids"][i]
    raise ValueError("the entity produced no tokens")


def facts_requests(df: pd.DataFrame, tokenizer, arch: str, cfg: ScoringConfig, instruct: bool = False) -> Requests:
    prefix, suffix = special_affixes(tokenizer, arch)
    prefix = prefix + _Instructions(tokenizer, "facts", instruct)()
    contexts, targets = [], []
    for sample_id, context, entity in zip(df["id"], df["context"], df["entity"]):
        try:
            ctx, target = entity_split(tokenizer, context, entity)
        except ValueError as e:
            raise ValueError(f"facts sample {sample_id}: {e}") from None
        if not ctx:
            raise ValueError(f"facts sample {sample_id}: the entity's first token starts the text; no context")
        contexts.append(_wrap(ctx, prefix, suffix, cfg.max_length))
        targets.append(target)
    return Requests(list(df["id"]), contexts, np.array(targets, dtype=np.int64))


def letter_token_ids(tokenizer) -> list[int]:
    """The token each answer letter is after "Answer:", as the model would write it."""
    base = tokenizer("Answer:", add_special_tokens=False)["input_ids"]
    ids = []
    for letter in LETTERS:
        full = tokenizer(f"Answer: {letter}", add_special_tokens=False)["input_ids"]
        if full[: len(base)] != base or len(full) != len(base) + 1:
            raise ValueError(f"the tokenizer does not write ' {letter}' after 'Answer:' as one token")
        ids.append(full[-1])
    if len(set(ids)) != 4:
        raise ValueError("the answer letters share a token")
    return ids


def _mmlu_parts(sample_id: str, subject: str, prompt: str, shots_json) -> tuple[list[str], str]:
    """A prompt's shots and question, checked to be exactly its header, these shots, then the question."""
    try:
        shots = json.loads(shots_json)
    except (TypeError, ValueError):
        shots = None
    if not isinstance(shots, list) or not all(isinstance(shot, str) for shot in shots):
        raise ValueError(f"mmlu sample {sample_id}: its `shots` is not a JSON list of strings; "
                         f"rebuild the MMLU sample")
    start = header(subject) + "".join(shots)
    if not prompt.startswith(start):
        raise ValueError(f"mmlu sample {sample_id}: its prompt is not the header for {subject!r} followed by "
                         f"its `shots`; rebuild the MMLU sample")
    return shots, prompt[len(start):]


def mmlu_requests(df: pd.DataFrame, tokenizer, arch: str, cfg: ScoringConfig, instruct: bool = False) -> Requests:
    """The letter question of each prompt; a prompt too long for ``cfg.max_length`` drops its last shots.

    As Hendrycks' evaluate.py does: k shots, then k-1, ... until the prompt fits; the header and the
    question stay whole. A prompt that does not fit even with no shots is an error naming the sample.
    Prompts that fit are the sample's ``prompt``, token for token.
    """
    bad = [a for a in df["answer"] if a not in LETTERS]
    if bad:
        raise ValueError(f"mmlu: answers must be one of A-D, found {bad[0]!r}")
    targets = np.array([LETTERS.index(a) for a in df["answer"]], dtype=np.int64)
    prefix, suffix = special_affixes(tokenizer, arch)
    ids, prompts = list(df["id"]), list(df["prompt"])
    has_shots = "shots" in df.columns
    if (instruct or has_shots) and "subject" not in df.columns:
        raise ValueError("mmlu: the sample has no `subject` column; rebuild the MMLU sample")
    subjects = list(df["subject"]) if "subject" in df.columns else [None] * len(df)
    shots_col = list(df["shots"]) if has_shots else [None] * len(df)

    def body(prompt: str, subject: str | None) -> str:
        return split_mmlu_header(prompt, subject) if instruct else prompt

    def encode(texts: list[str]) -> list[list[int]]:
        return tokenizer(texts, add_special_tokens=False)["input_ids"]

    encoded = encode([body(p, s) for p, s in zip(prompts, subjects)])
    instruction_ids = _Instructions(tokenizer, "mmlu", instruct)
    contexts, n_shots, shortened = [], [], 0
    for sample_id, prompt, subject, shots_json, tokens in zip(ids, prompts, subjects, shots_col, encoded):
        head = prefix + instruction_ids(subject)
        budget = cfg.max_length - len(head) - len(suffix)
        if budget < 1:
            raise ValueError(f"scoring.max_length {cfg.max_length} leaves no room for a context after "
                             f"{len(head) + len(suffix)} prompt tokens")
        shots, question, k = None, None, None
        if has_shots:
            shots, question = _mmlu_parts(sample_id, subject, prompt, shots_json)
            k = len(shots)
        full = k
        while len(tokens) > budget:
            if k is None:
                raise ValueError(
                    f"mmlu sample {sample_id}: the prompt has {len(tokens)} tokens, more than the {budget} that "
                    f"scoring.max_length {cfg.max_length} leaves, and the sample has no `shots` column to drop "
                    f"shots from; rebuild the MMLU sample, or raise scoring.max_length")
            if k == 0:
                raise ValueError(
                    f"mmlu sample {sample_id}: even with 0 shots the prompt has {len(tokens)} tokens, more than "
                    f"the {budget} that scoring.max_length {cfg.max_length} leaves after {len(head) + len(suffix)} "
                    f"special and instruction tokens; raise scoring.max_length (up to the model's context "
                    f"window) or leave this question out of the sample")
            k -= 1
            tokens = encode([body(assemble(subject, shots[:k], question), subject)])[0]
        shortened += k != full
        contexts.append(head + tokens + suffix)
        n_shots.append(k)
    if shortened:
        log.warning("mmlu: %d of %d prompts were longer than scoring.max_length %d; they dropped shots until "
                    "they fit, as Hendrycks' evaluate.py does (n_shots in the score file)", shortened, len(ids),
                    cfg.max_length)
    return Requests(ids, contexts, targets, n_shots=n_shots, shortened=int(shortened))


def build_requests(task: str, df: pd.DataFrame, tokenizer, arch: str, cfg: ScoringConfig, seed: int,
                   instruct: bool = False) -> Requests:
    if task == "clm":
        return clm_requests(df, tokenizer, arch, cfg, seed, instruct)
    if task == "facts":
        return facts_requests(df, tokenizer, arch, cfg, instruct)
    if task == "mmlu":
        return mmlu_requests(df, tokenizer, arch, cfg, instruct)
    raise ValueError(f"unknown task {task!r}; tasks are {TASKS}")


def score_task(lm, task: str, df: pd.DataFrame, cfg: ScoringConfig, seed: int, instruct: bool = False) -> pd.DataFrame:
    """Per-sample confidence and correctness of one model on one task's samples."""
    req = build_requests(task, df, lm.tokenizer, lm.arch, cfg, seed, instruct)
    n_context = np.array([len(c) for c in req.contexts], dtype=np.int64)
    if task == "mmlu":
        res = score_contexts(lm, req.contexts, choice_reducer(letter_token_ids(lm.tokenizer), cfg.mmlu_confidence),
                             cfg.batch_tokens, cfg.max_batch)
        choice = res["choice"]
        out = pd.DataFrame({
            "id": req.ids,
            "confidence": res["confidence"],
            "correct": choice == req.targets,
            "prediction": [LETTERS[i] for i in choice],
            "target": [LETTERS[i] for i in req.targets],
            "n_context": n_context,
            "n_shots": pd.array(req.n_shots, dtype="Int64"),
        })
        for j, letter in enumerate(LETTERS):
            out[f"p_{letter}"] = res["choice_probs"][:, j]
        out.attrs["shortened"] = req.shortened
        return out
    res = score_contexts(lm, req.contexts, top1_reducer(req.targets), cfg.batch_tokens, cfg.max_batch)
    decode = lm.tokenizer.convert_ids_to_tokens
    return pd.DataFrame({
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
    })
