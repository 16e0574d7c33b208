"""Causal LM on the Pile: a seeded position in each text; predict the token there.

The position is drawn uniformly between ``scoring.min_context`` and the maximum length, seeded by
(seed, sample id) only, so all models that share a tokenizer score the same (context, target) pairs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from llmcal.registry import ConfigError
from llmcal.tasks import Task, register


def _uniform(seed: int, sample_id: str) -> float:
    """A per-sample uniform draw that depends only on (seed, id), not on order or the model."""
    h = hashlib.blake2b(f"{seed}:{sample_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def clm_requests(df, tokenizer, arch: str, cfg, seed: int, instruct: bool = False):
    import numpy as np

    from llmcal.scoring.tasks import Instructions, Requests, special_affixes, wrap

    prefix, suffix = special_affixes(tokenizer, arch)
    prefix = prefix + Instructions(tokenizer, TASK, instruct)()
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
        contexts.append(wrap(ids[:pos], prefix, suffix, cfg.max_length))
        targets.append(ids[pos])
    return Requests(list(df["id"]), contexts, np.array(targets, dtype=np.int64))


class CausalLM(Task):
    name = "clm"
    label = "Causal LM (Pile)"
    instruction = "Finish this sentence:"  # Table 1
    findings_role = "lm"

    def raw_files(self, source: str, cfg, raw: Path, key: str) -> dict:
        if source == "mini":
            return {
                "inputs": [str(raw)],
                "read": {"files": {"val": str(raw / "pile" / "val.jsonl"), "test": str(raw / "pile" / "test.jsonl")}},
            }
        if source == "local":
            local = cfg["local"]
            if not isinstance(local, dict):
                raise ConfigError(f"{key}.local: give the Pile files by split, e.g. {{val: ..., test: ...}}")
            return {"inputs": list(local.values()), "read": {"files": dict(local)}}
        if source != "hub" or "hub" not in cfg:
            raise ConfigError(f"{key}: the Pile comes from the hub (source: hub with hub.repo and hub.files)")
        files = {split: str(raw / name) for split, name in cfg["hub"]["files"].items()}
        return {"inputs": [str(raw)], "read": {"files": files}}

    def sample(self, read, cfg, seed: int, *, allow_fewer: bool, key: str):
        from llmcal.data import sources

        return sources.sample_clm(
            read["files"], cfg["n"], seed, cfg.get("min_chars", 1), allow_fewer=allow_fewer, key=key
        )

    def requests(self, df, tokenizer, arch: str, cfg, seed: int, instruct: bool = False):
        return clm_requests(df, tokenizer, arch, cfg, seed, instruct)


TASK = register(CausalLM())
