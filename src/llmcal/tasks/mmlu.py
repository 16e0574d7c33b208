"""MMLU: the k-shot prompt ending in "Answer:"; choose among the four letter tokens.

A prompt longer than ``scoring.max_length`` loses shots from the end until it fits, as Hendrycks'
evaluate.py does; the header and the question are never cut (the score file's ``n_shots`` says how
many shots each prompt kept, the job's log how many prompts were shortened). An instruction-tuned
model gets the prompt's header as its instruction and the shots and question as the start of its
response.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from llmcal.data.mmlu_prompt import LETTERS, assemble, header
from llmcal.registry import ConfigError
from llmcal.tasks import Task, register

log = logging.getLogger("llmcal")

TEST_QUESTIONS = 14_042  # MMLU's test split: what a sample without `n` scores
DEFAULT_SHOTS = 5  # data.mmlu.n_shots when the config does not set it: the paper's 5-shot prompt


def split_mmlu_header(prompt: str, subject: str) -> str:
    """The few-shot body of an MMLU prompt; its header moves into the instruction."""
    head = header(subject)
    if not prompt.startswith(head):
        raise ValueError(f"the prompt does not start with the MMLU header for {subject!r}")
    return prompt[len(head) :]


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
        raise ValueError(f"mmlu sample {sample_id}: its `shots` is not a JSON list of strings; rebuild the MMLU sample")
    start = header(subject) + "".join(shots)
    if not prompt.startswith(start):
        raise ValueError(
            f"mmlu sample {sample_id}: its prompt is not the header for {subject!r} followed by "
            f"its `shots`; rebuild the MMLU sample"
        )
    return shots, prompt[len(start) :]


def mmlu_at_shots(df, k: int):
    """The MMLU sample with every prompt rebuilt from its first k shots: header, shots[:k], then the question.

    The k-shot sweep (config `kshot`) shows each question with the same dev examples, in the same order, for
    every k, so that only the number of shots differs between its prompts; k equal to the sample's own number
    of shots gives its prompts unchanged. The `shots` column keeps the shots used.
    """
    if k < 0:
        raise ValueError(f"kshot.shots: {k} shots is negative")
    missing = [c for c in ("subject", "shots") if c not in df.columns]
    if missing:
        raise ValueError(f"mmlu: a k-shot sweep needs the sample's {missing} column(s); rebuild the MMLU sample")
    prompts, kept = [], []
    for sample_id, subject, prompt, shots_json in zip(df["id"], df["subject"], df["prompt"], df["shots"]):
        shots, question = _mmlu_parts(sample_id, subject, prompt, shots_json)
        if k > len(shots):
            raise ValueError(
                f"mmlu sample {sample_id}: it has {len(shots)} shots and the k-shot sweep asks for {k}; raise "
                f"data.mmlu.n_shots or leave {k} out of kshot.shots"
            )
        prompts.append(assemble(subject, shots[:k], question))
        kept.append(json.dumps(shots[:k]))
    out = df.copy()
    out["prompt"], out["shots"] = prompts, kept
    return out


def mmlu_requests(df, tokenizer, arch: str, cfg, instruct: bool = False):
    """The letter question of each prompt; a prompt too long for ``cfg.max_length`` drops its last shots.

    As Hendrycks' evaluate.py does: k shots, then k-1, ... until the prompt fits; the header and the
    question stay whole. A prompt that does not fit even with no shots is an error naming the sample.
    Prompts that fit are the sample's ``prompt``, token for token.
    """
    import numpy as np

    from llmcal.scoring.tasks import Instructions, Requests, special_affixes

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
    instruction_ids = Instructions(tokenizer, TASK, instruct)
    contexts, n_shots, shortened = [], [], 0
    for sample_id, prompt, subject, shots_json, tokens in zip(ids, prompts, subjects, shots_col, encoded):
        head = prefix + instruction_ids(subject)
        budget = cfg.max_length - len(head) - len(suffix)
        if budget < 1:
            raise ValueError(
                f"scoring.max_length {cfg.max_length} leaves no room for a context after "
                f"{len(head) + len(suffix)} prompt tokens"
            )
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
                    f"shots from; rebuild the MMLU sample, or raise scoring.max_length"
                )
            if k == 0:
                raise ValueError(
                    f"mmlu sample {sample_id}: even with 0 shots the prompt has {len(tokens)} tokens, more than "
                    f"the {budget} that scoring.max_length {cfg.max_length} leaves after {len(head) + len(suffix)} "
                    f"special and instruction tokens; raise scoring.max_length (up to the model's context "
                    f"window) or leave this question out of the sample"
                )
            k -= 1
            tokens = encode([body(assemble(subject, shots[:k], question), subject)])[0]
        shortened += k != full
        contexts.append(head + tokens + suffix)
        n_shots.append(k)
    if shortened:
        log.warning(
            "mmlu: %d of %d prompts were longer than scoring.max_length %d; they dropped shots until "
            "they fit, as Hendrycks' evaluate.py does (n_shots in the score file)",
            shortened,
            len(ids),
            cfg.max_length,
        )
    return Requests(ids, contexts, targets, n_shots=n_shots, shortened=int(shortened))


class MMLU(Task):
    name = "mmlu"
    label = "MMLU"
    findings_role = "knowledge"

    def check(self, cfg, key: str, world) -> None:
        if world is not None and cfg.get("source") == "mini":
            shots = int(cfg.get("n_shots", DEFAULT_SHOTS))
            if shots > world.mmlu_dev_per_subject:
                raise ConfigError(
                    f"{key}.n_shots: {shots} shots asked but the mini world writes "
                    f"world.mmlu_dev_per_subject = {world.mmlu_dev_per_subject} dev examples per "
                    f"subject; lower n_shots or raise world.mmlu_dev_per_subject"
                )

    def raw_files(self, source: str, cfg, raw: Path, key: str) -> dict:
        if source == "mini":
            return {"inputs": [str(raw)], "read": {"root": str(raw / "mmlu" / "data"), "layout": "csv"}}
        if source == "local":
            # Hendrycks' CSV folders or the cais/mmlu parquet: detected from the files present.
            return {"inputs": [cfg["local"]], "read": {"root": cfg["local"], "layout": "auto"}}
        layout = "hub" if source == "hub" else "auto"
        return {"inputs": [str(raw)], "read": {"root": str(raw), "layout": layout}}

    def sample(self, read, cfg, seed: int, *, allow_fewer: bool, key: str):
        from llmcal.data import sources

        dev, test = sources.read_mmlu(read["root"], read.get("layout", "auto"))
        n = cfg.get("n")
        files = list(test.attrs.get("files", {}).values())
        if n is not None:
            sources.check_sample_size(
                "MMLU sample", files, int(n), len(test), f"{len(test)} test questions", allow_fewer, key
            )
        table = sources.build_mmlu(
            dev,
            test,
            n_shots=cfg.get("n_shots", DEFAULT_SHOTS),
            n=n,
            seed=seed,
            prompt_style=cfg.get("prompt", "hendrycks"),
        )
        return sources.add_info(table, {"n": table.num_rows, "allow_fewer": allow_fewer})

    def expected_samples(self, cfg) -> int:
        return int(cfg.get("n") or TEST_QUESTIONS)

    @property
    def instructable(self) -> bool:
        return True

    def instruction_text(self, subject: str | None = None) -> str:
        """MMLU's instruction is its own few-shot header (Table 1), one per subject."""
        from llmcal.data.instructions import format_alpaca

        return format_alpaca(header(subject).strip())

    def requests(self, df, tokenizer, arch: str, cfg, seed: int, instruct: bool = False):
        return mmlu_requests(df, tokenizer, arch, cfg, instruct)

    def score(self, lm, df, cfg, seed: int, instruct: bool = False):
        import numpy as np
        import pandas as pd

        from llmcal.scoring.engine import choice_reducer
        from llmcal.scoring.tasks import run_contexts

        req = self.requests(df, lm.tokenizer, lm.arch, cfg, seed, instruct)
        n_context = np.array([len(c) for c in req.contexts], dtype=np.int64)
        res = run_contexts(lm, req.contexts, choice_reducer(letter_token_ids(lm.tokenizer), cfg.mmlu_confidence), cfg)
        choice = res["choice"]
        out = pd.DataFrame(
            {
                "id": req.ids,
                "confidence": res["confidence"],
                "correct": choice == req.targets,
                "prediction": [LETTERS[i] for i in choice],
                "target": [LETTERS[i] for i in req.targets],
                "n_context": n_context,
                "n_shots": pd.array(req.n_shots, dtype="Int64"),
            }
        )
        for j, letter in enumerate(LETTERS):
            out[f"p_{letter}"] = res["choice_probs"][:, j]
        if "subject" in df.columns:  # every sample the workflow builds has it: the per-subject table reads it here
            out["subject"] = list(df["subject"])
        out.attrs["shortened"] = req.shortened
        return out

    def log_summary(self, result) -> str:
        return f" shortened prompts={result.attrs.get('shortened', 0)}"


TASK = register(MMLU())
