"""Facts on T-REx: the text before an entity; predict the entity's first token.

The target is the entity's first token as the tokenizer splits it in context (so " Paris", with its
leading space); entities at position 0 have no context and are errors of the sample.
"""

from __future__ import annotations

from pathlib import Path

from llmcal.tasks import Task, register


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


def facts_requests(df, tokenizer, arch: str, cfg, instruct: bool = False):
    import numpy as np

    from llmcal.scoring.tasks import Instructions, Requests, special_affixes, wrap

    prefix, suffix = special_affixes(tokenizer, arch)
    prefix = prefix + Instructions(tokenizer, TASK, instruct)()
    contexts, targets = [], []
    for sample_id, context, entity in zip(df["id"], df["context"], df["entity"]):
        try:
            ctx, target = entity_split(tokenizer, context, entity)
        except ValueError as e:
            raise ValueError(f"facts sample {sample_id}: {e}") from None
        if not ctx:
            raise ValueError(f"facts sample {sample_id}: the entity's first token starts the text; no context")
        contexts.append(wrap(ctx, prefix, suffix, cfg.max_length))
        targets.append(target)
    return Requests(list(df["id"]), contexts, np.array(targets, dtype=np.int64))


class Facts(Task):
    name = "facts"
    label = "Facts (T-REx)"
    instruction = "Finish this Wikipedia description:"  # Table 1
    findings_role = "knowledge"

    def raw_files(self, source: str, cfg, raw: Path, key: str) -> dict:
        if source == "mini":
            return {"inputs": [str(raw)], "read": {"paths": [str(raw / "trex")]}}
        path = cfg["local"] if source == "local" else str(raw)
        return {"inputs": [path], "read": {"paths": [path]}}

    def sample(self, read, cfg, seed: int, *, allow_fewer: bool, key: str):
        from llmcal.data import sources

        return sources.sample_facts(
            read["paths"],
            cfg["n"],
            seed,
            format=cfg.get("format", "trex"),
            annotators=cfg.get("annotators"),
            allow_fewer=allow_fewer,
            key=key,
        )

    def requests(self, df, tokenizer, arch: str, cfg, seed: int, instruct: bool = False):
        return facts_requests(df, tokenizer, arch, cfg, instruct)


TASK = register(Facts())
