"""A task from outside the package, as a user would write one: predict the last word of a line.

Registered by importing this module (config: `task_modules: [toy_task]`); nothing in llmcal names it.
Its raw data is one jsonl file of {"id", "text"} lines; the sample is n of them, drawn with the seed;
the request is the text before the last word, the target that word's first token in context.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmcal.tasks import Task, register


class LastWord(Task):
    name = "toy"
    label = "Last word (toy)"
    instruction = "Finish this line:"
    data_schema = {
        "type": "object",
        "properties": {
            "source": {"$ref": "#/definitions/source"},
            "local": {"type": "string"},
            "n": {"type": "integer", "minimum": 1, "default": 4},
            "allow_fewer": {"type": "boolean", "default": False},
        },
        "required": ["source"],
        "additionalProperties": False,
    }

    def sample(self, read, cfg, seed, *, allow_fewer, key):
        import numpy as np
        import pyarrow as pa

        from llmcal.data import sources

        path = Path(read["path"])
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        eligible = sorted((r for r in rows if len(r["text"].split()) >= 2), key=lambda r: r["id"])
        n = int(cfg["n"])
        sources.check_sample_size(
            "toy sample", [path], n, len(eligible), "lines of two words or more", allow_fewer, key
        )
        pick = np.sort(np.random.default_rng(seed).choice(len(eligible), size=min(n, len(eligible)), replace=False))
        table = pa.table({"id": [eligible[i]["id"] for i in pick], "text": [eligible[i]["text"] for i in pick]})
        return sources.add_info(table, {"requested": n, "eligible": len(eligible), "n": table.num_rows})

    def requests(self, df, tokenizer, arch, cfg, seed, instruct=False):
        import numpy as np

        from llmcal.scoring.tasks import Instructions, Requests, special_affixes, wrap
        from llmcal.tasks.facts import entity_split

        prefix, suffix = special_affixes(tokenizer, arch)
        prefix = prefix + Instructions(tokenizer, self, instruct)()
        contexts, targets = [], []
        for text in df["text"]:
            head, last = text.rsplit(" ", 1)
            ctx, target = entity_split(tokenizer, head + " ", last)
            contexts.append(wrap(ctx, prefix, suffix, cfg.max_length))
            targets.append(target)
        return Requests(list(df["id"]), contexts, np.array(targets, dtype=np.int64))

    def log_summary(self, result) -> str:
        return f" toy lines={len(result)}"


TASK = register(LastWord())


class LastWordNoInstruction(LastWord):
    """The same task without a Table 1 instruction: instruction-tuned models cannot be asked it."""

    name = "toy_plain"
    label = "Last word (toy, no instruction)"
    instruction = None


PLAIN = register(LastWordNoInstruction())
