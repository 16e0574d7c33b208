"""Alignment data in its published formats -> canonical instruction and preference tables.

Section 6.1 of Zhu et al. (2023) tunes on two instruction sets and trains a
reward model on one preference set:

* Alpaca (Taori et al., 2023): GPT-generated, self-instruct style;
  ``alpaca_data.json`` or the ``tatsu-lab/alpaca`` hub parquet.
* OpenAssistant oasst1: human-written conversation trees, of which only the
  English single-turn conversations are used; a messages jsonl (``.gz`` too,
  or the release's nested trees jsonl) or the ``OpenAssistant/oasst1`` parquet.
* GPT-4-LLM's ``comparison_data_v2.json`` (Peng et al., 2023): responses to
  Alpaca instructions, scored by GPT-4, for the reward model.

The two instruction sets are sampled to the same size "considering fairness";
PPO then runs on the Alpaca prompts. Every prompt, here and in instruction-tuned
scoring, is wrapped by :func:`format_alpaca`, the one place the template lives.

Ids come from where a row sits in its source (``alpaca-{row}``,
``oasst-{reply message_id}``, ``comparison-{entry}``), never from the draw.
Readers return lists that also carry ``skipped``: how many source items were
left out, by reason; the tables keep those counts in their schema metadata
(see :func:`llmcal.data.sources.sample_info`).
"""

from __future__ import annotations

import logging
import math
import operator
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from llmcal.data.sources import (
    PathLike,
    SampleError,
    SampleShortfallWarning,
    _check_n,
    _choose,
    _iter_jsonl,
    _load_json,
    _need_file,
    _read_parquet,
    _read_parquet_schema,
    _to_table,
)

log = logging.getLogger(__name__)

# Stanford Alpaca's PROMPT_DICT (train.py), verbatim.
ALPACA_PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)

INSTRUCTION_SCHEMA = pa.schema(
    [(name, pa.string()) for name in ("id", "instruction", "input", "output", "prompt", "response")]
)
COMPARISON_SCHEMA = pa.schema([(name, pa.string()) for name in ("id", "prompt", "chosen", "rejected")])
PPO_COLUMNS = ["id", "prompt"]

ALPACA_FIELDS = ("instruction", "input", "output")
OASST_REQUIRED = ("message_id", "parent_id", "text", "role", "lang")
OASST_OPTIONAL = ("rank", "deleted", "review_result", "message_tree_id")
OASST_ROLES = ("prompter", "assistant")


class Collected(list):
    """Rows kept from a source, plus ``skipped``: {reason: count} of what was left out."""

    def __init__(self, rows: Iterable = (), skipped: Mapping[str, int] | None = None):
        super().__init__(rows)
        self.skipped: dict[str, int] = dict(sorted((skipped or {}).items()))


def _log_skips(what: str, kept: int, skipped: Mapping[str, int]) -> None:
    log.info("%s: kept %d, skipped %s", what, kept, dict(sorted(skipped.items())) or "none")


def _collected(what: str, rows: list, skipped: Counter) -> Collected:
    _log_skips(what, len(rows), skipped)
    return Collected(rows, skipped)


def format_alpaca(instruction: str, input: str = "") -> str:
    """``instruction`` (and ``input``, if any) in the Stanford Alpaca prompt template.

    As in Stanford Alpaca, only an empty input selects the shorter template.
    """
    if input:
        return ALPACA_PROMPT_INPUT.format(instruction=instruction, input=input)
    return ALPACA_PROMPT_NO_INPUT.format(instruction=instruction)


# --------------------------------------------------------------------------
# Shared reading helpers


def _hub_parquet_files(root: Path, splits: Sequence[str]) -> list[Path]:
    """``{split}-*.parquet`` under ``root/data`` (the hub layout) or ``root``, splits in order."""
    for base in (root / "data", root):
        files = [f for split in splits for f in sorted(base.glob(f"{split}-*.parquet"))]
        if files:
            return files
    patterns = ", ".join(f"{split}-*.parquet" for split in splits)
    raise SampleError(f"{root}: no {patterns} files here or under data/")


def _read_parquet_rows(path: Path, required: Sequence[str], optional: Sequence[str] = ()) -> list[dict]:
    # Reading only the columns used skips oasst1's bulky label and emoji structs.
    present = set(_read_parquet_schema(path).names)
    missing = [c for c in required if c not in present]
    if missing:
        raise SampleError(f"{path}: missing columns {missing}")
    columns = [*required, *(c for c in optional if c in present)]
    return _read_parquet(path, columns).to_pylist()


def _load_json_list(path: Path, what: str) -> list:
    data = _load_json(path, f"a JSON list of {what}")
    if not isinstance(data, list):
        raise SampleError(f"{path}: expected a JSON list of {what}, got {type(data).__name__}")
    return data


def _file_records(
    path: Path, what: str, columns: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[tuple[str, Any]]:
    """(where, record) of one file: a ``.parquet`` table, a jsonl (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``),
    or a JSON list (anything else)."""
    _need_file(path, what)
    name = path.name.lower()
    if name.endswith(".parquet"):
        for row, record in enumerate(_read_parquet_rows(path, columns, optional)):
            yield f"{path}: row {row}", record
    elif any(name.endswith(s) for s in (".jsonl", ".jsonl.gz", ".jsonl.zst")):
        for line_number, record in _iter_jsonl(path):
            yield f"{path}: line {line_number}", record
    else:
        for row, record in enumerate(_load_json_list(path, what)):
            yield f"{path}: row {row}", record


def _is_missing(value: Any) -> bool:
    # Parquet written through pandas turns a null number into NaN.
    return value is None or (isinstance(value, float) and math.isnan(value))


def _nonblank(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


# --------------------------------------------------------------------------
# Alpaca


def read_alpaca(path: PathLike) -> Collected:
    """Alpaca rows ``{id, instruction, input, output}`` from ``alpaca_data.json`` or a hub folder.

    A folder is read as ``tatsu-lab/alpaca``: ``[data/]train-*.parquet``. ``id``
    is ``alpaca-{row}``, the row's 0-based position in the whole source
    (skipped rows included), so the JSON and parquet releases give the same ids.
    Rows with a blank instruction or output are skipped (``skipped["empty"]``).
    """
    path = Path(path)
    rows, skipped = [], Counter()
    for index, (where, record) in enumerate(_alpaca_records(path)):
        fields = _alpaca_fields(where, record)
        if not fields["instruction"].strip() or not fields["output"].strip():
            skipped["empty"] += 1
            continue
        rows.append({"id": f"alpaca-{index}", **fields})
    return _collected(f"Alpaca {path}", rows, skipped)


def _alpaca_records(path: Path) -> Iterator[tuple[str, Any]]:
    if path.is_dir():
        for file in _hub_parquet_files(path, ["train"]):
            for row, record in enumerate(_read_parquet_rows(file, ALPACA_FIELDS)):
                yield f"{file}: row {row}", record
    else:
        yield from _file_records(path, "Alpaca instructions", ALPACA_FIELDS)


def _alpaca_fields(where: str, record: Any) -> dict[str, str]:
    if not isinstance(record, dict):
        raise SampleError(f"{where}: expected an object with {list(ALPACA_FIELDS)}")
    for field in ALPACA_FIELDS:
        if field not in record:
            raise SampleError(f"{where}: missing field {field!r}")
        if not isinstance(record[field], str):
            raise SampleError(f"{where}: field {field!r} is not a string: {record[field]!r}")
    return {field: record[field] for field in ALPACA_FIELDS}


# --------------------------------------------------------------------------
# OpenAssistant oasst1


def read_oasst(path: PathLike) -> list[dict]:
    """oasst1 messages, each ``{message_id, parent_id, text, role, lang, rank, deleted,
    review_result, message_tree_id}``, in file order.

    ``path`` is a messages jsonl (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``): flat
    messages one a line (``*.messages.jsonl``, the hub's jsonl), messages with
    their ``replies`` nested, or the release's ``*.trees.jsonl`` (one
    ``{message_tree_id, prompt}`` a line, ``prompt`` the root with nested
    ``replies``); one ``.parquet`` file; or a folder in the
    ``OpenAssistant/oasst1`` layout, ``[data/]{train,validation}-*.parquet``,
    read train first. Missing optional fields become None (``deleted``: False).
    """
    path = Path(path)
    messages: list[dict] = []
    first_seen: dict[str, str] = {}
    for where, record in _oasst_records(path):
        message = _oasst_message(where, record)
        message_id = message["message_id"]
        # Replies are found by parent id, so a repeated id would graft trees together.
        if message_id in first_seen:
            raise SampleError(f"{where}: message_id {message_id!r} repeats the one at {first_seen[message_id]}")
        first_seen[message_id] = where
        messages.append(message)
    if not messages:
        raise SampleError(f"{path}: no messages")
    return messages


def _oasst_records(path: Path) -> Iterator[tuple[str, Any]]:
    if path.is_dir():
        files = _hub_parquet_files(path, ["train", "validation"])
    else:
        files = [path]
    for file in files:
        for where, record in _file_records(file, "OpenAssistant messages", OASST_REQUIRED, OASST_OPTIONAL):
            if isinstance(record, dict) and "message_id" not in record and "prompt" in record:
                # The release's *.trees.jsonl: {message_tree_id, tree_state, prompt: root message with replies}.
                if not isinstance(record["prompt"], dict):
                    raise SampleError(f"{where}: 'prompt' of a message tree must be a message object")
                tree_id = record.get("message_tree_id")
                yield from _flatten_tree(record["prompt"], None, f"{where}, message ", tree_id)
            elif isinstance(record, dict) and "replies" in record:
                # A message with its replies nested (a tree node on a line of its own).
                yield from _flatten_tree(record, _NO_PARENT, f"{where}, message ", record.get("message_tree_id"))
            else:
                yield where, record


_NO_PARENT = object()


def _flatten_tree(
    message: Any, parent_id: Any, where: str, tree_id: Any, counter: list | None = None
) -> Iterator[tuple[str, dict]]:
    """A nested export message and its replies, depth first, as (where, flat message).

    ``where`` ends with "message " and gets the message's position in the tree
    (0 the root, depth first). A node's own ``parent_id``, where given, must
    be its parent's ``message_id``; ``_NO_PARENT`` takes the node's own.
    """
    counter = [0] if counter is None else counter
    here = f"{where}{counter[0]}"
    counter[0] += 1
    if not isinstance(message, dict):
        raise SampleError(f"{here}: expected a message object, got {type(message).__name__}")
    flat = {key: value for key, value in message.items() if key != "replies"}
    if parent_id is not _NO_PARENT:
        given = flat.get("parent_id")
        if "parent_id" in flat and not _is_missing(given) and given != parent_id:
            raise SampleError(
                f"{here}: parent_id {given!r} is not the id of the message it is nested under ({parent_id!r})"
            )
        flat["parent_id"] = parent_id
    if tree_id is not None:
        flat.setdefault("message_tree_id", tree_id)
    yield here, flat
    replies = message.get("replies")
    if replies is None:
        return
    if not isinstance(replies, list):
        raise SampleError(f"{here}: replies must be a list of messages, got {type(replies).__name__}")
    for reply in replies:
        yield from _flatten_tree(reply, flat.get("message_id"), where, tree_id, counter)


def _oasst_message(where: str, record: Any) -> dict:
    if not isinstance(record, dict):
        raise SampleError(f"{where}: expected a message object")
    missing = [field for field in OASST_REQUIRED if field not in record]
    if missing:
        raise SampleError(f"{where}: missing fields {missing}")
    if not _nonblank(record["message_id"]):
        raise SampleError(f"{where}: message_id must be a non-empty string, got {record['message_id']!r}")
    parent_id = None if _is_missing(record["parent_id"]) else record["parent_id"]
    if parent_id is not None and not _nonblank(parent_id):
        raise SampleError(f"{where}: parent_id must be null or a message id, got {parent_id!r}")
    if not isinstance(record["text"], str):
        raise SampleError(f"{where}: text is not a string")
    if record["role"] not in OASST_ROLES:
        raise SampleError(f"{where}: role {record['role']!r} is not one of {list(OASST_ROLES)}")
    if not isinstance(record["lang"], str):
        raise SampleError(f"{where}: lang is not a string: {record['lang']!r}")
    return {
        "message_id": record["message_id"],
        "parent_id": parent_id,
        "text": record["text"],
        "role": record["role"],
        "lang": record["lang"],
        "rank": _oasst_rank(where, record.get("rank")),
        "deleted": _oasst_flag(where, "deleted", record.get("deleted"), default=False),
        "review_result": _oasst_flag(where, "review_result", record.get("review_result"), default=None),
        "message_tree_id": record.get("message_tree_id"),
    }


def _oasst_rank(where: str, rank: Any) -> int | None:
    if _is_missing(rank):
        return None
    if isinstance(rank, bool) or not isinstance(rank, (int, float)) or rank < 0 or rank != int(rank):
        raise SampleError(f"{where}: rank must be null or a non-negative integer, got {rank!r}")
    return int(rank)


def _oasst_flag(where: str, field: str, value: Any, default: bool | None) -> bool | None:
    if _is_missing(value):
        return default
    if not isinstance(value, bool):
        raise SampleError(f"{where}: {field} must be true, false or null, got {value!r}")
    return value


def oasst_single_turn(messages: Iterable[Mapping]) -> Collected:
    """English single-turn pairs ``{id, instruction, input, output}`` from oasst1 messages.

    One pair per usable tree: its root prompt (``parent_id`` null, role
    prompter, ``lang == "en"``, not deleted, ``review_result`` not False) and
    the best of the root's direct replies that are English, non-deleted,
    non-rejected, non-blank assistant messages. Best means lowest ``rank``
    (0 first); replies without a rank lose to ranked ones, and where no reply
    is ranked (oasst1 leaves single replies and unfinished rankings null) the
    first in file order wins, as do equal ranks. Deeper turns are ignored.
    ``id`` is ``oasst-{message_id of the reply}``; ``input`` is always "".

    ``skipped`` counts left-out roots: ``non_english``, ``deleted``,
    ``failed_review``, ``empty`` (blank prompt), ``assistant_root``, ``no_reply``.
    """
    roots: list[Mapping] = []
    children: dict[str, list[Mapping]] = defaultdict(list)
    for message in messages:
        if message["parent_id"] is None:
            roots.append(message)
        else:
            children[message["parent_id"]].append(message)
    pairs, skipped = [], Counter()
    for root in roots:
        reason = _root_problem(root)
        if reason is None:
            replies = [m for m in children.get(root["message_id"], []) if _usable_reply(m)]
            if replies:
                pairs.append(_oasst_pair(root, _best_reply(replies)))
                continue
            reason = "no_reply"
        skipped[reason] += 1
    if not pairs and roots:
        raise SampleError(
            f"OpenAssistant: no English single-turn pair in {sum(skipped.values())} conversation trees "
            f"(left out by reason: {dict(sorted(skipped.items()))}); a pair needs an English, non-deleted "
            "prompter root with an English assistant reply"
        )
    if not roots:
        raise SampleError(
            "OpenAssistant: no root messages (parent_id null) among the messages; is this a full oasst1 export?"
        )
    return _collected("OpenAssistant single-turn pairs", pairs, skipped)


def _root_problem(root: Mapping) -> str | None:
    if root["role"] != "prompter":
        return "assistant_root"
    if root["lang"] != "en":
        return "non_english"
    if root.get("deleted"):
        return "deleted"
    if root.get("review_result") is False:
        return "failed_review"
    if not _nonblank(root["text"]):
        return "empty"
    return None


def _usable_reply(message: Mapping) -> bool:
    return (
        message["role"] == "assistant"
        and message["lang"] == "en"
        and not message.get("deleted")
        and message.get("review_result") is not False
        and _nonblank(message["text"])
    )


def _best_reply(replies: list[Mapping]) -> Mapping:
    ranked = [m for m in replies if not _is_missing(m.get("rank"))]
    # min() keeps the first of equal ranks, i.e. file order breaks ties.
    return min(ranked, key=lambda m: m["rank"]) if ranked else replies[0]


def _oasst_pair(root: Mapping, reply: Mapping) -> dict:
    return {"id": f"oasst-{reply['message_id']}", "instruction": root["text"], "input": "", "output": reply["text"]}


# --------------------------------------------------------------------------
# Equal-size instruction sets


def build_instruction_sets(
    alpaca_rows: Sequence[Mapping],
    oasst_pairs: Sequence[Mapping],
    n: int | None = None,
    seed: int = 0,
    allow_fewer: bool = False,
) -> tuple[pa.Table, pa.Table]:
    """(alpaca, oasst) tables of equal size, each a seeded draw without replacement.

    The size is the smaller set's (the paper), or ``n`` where that is smaller.
    Columns: ``id``, ``instruction``, ``input``, ``output``, ``prompt``
    (:func:`format_alpaca`), ``response`` (the output again: what tuning learns
    to produce after the prompt). Rows keep source order.
    """
    if n is not None:
        n = _check_n(n)
    alpaca = _instruction_rows("Alpaca", alpaca_rows)
    oasst = _instruction_rows("OpenAssistant", oasst_pairs)
    size = min(len(alpaca), len(oasst))
    if n is not None and n > size:
        _short(
            "instruction sets",
            n,
            size,
            allow_fewer,
            "alignment.data.allow_fewer",
            f"Alpaca has {len(alpaca)} usable examples, OpenAssistant {len(oasst)} single-turn pairs",
        )
    size = size if n is None else min(n, size)
    shared = {"requested": "smallest" if n is None else n, "size": size, "seed": seed}
    return (
        _draw_set("alpaca", alpaca, _skipped_info(alpaca_rows), size, seed, shared),
        _draw_set("oasst", oasst, _skipped_info(oasst_pairs), size, seed, shared),
    )


def _draw_set(name: str, rows: list[Mapping], skipped: dict, size: int, seed: int, shared: dict) -> pa.Table:
    picks = _choose(len(rows), size, seed).tolist()
    info = {"dataset": name, **shared, "eligible": len(rows), **skipped}
    return _to_table([_instruction_row(rows[i]) for i in picks], INSTRUCTION_SCHEMA, info)


def _instruction_rows(what: str, rows: Sequence[Mapping]) -> list[Mapping]:
    if not rows:
        raise SampleError(f"no {what} instruction rows to sample from")
    seen: set[str] = set()
    for index, row in enumerate(rows):
        for field in ("id", *ALPACA_FIELDS):
            if not isinstance(row.get(field), str):
                raise SampleError(f"{what} row {index}: {field!r} is missing or not a string")
        if row["id"] in seen:
            raise SampleError(f"{what} row {index}: id {row['id']!r} repeats an earlier row's")
        seen.add(row["id"])
    return list(rows)


def _instruction_row(row: Mapping) -> dict:
    return {
        "id": row["id"],
        **{field: row[field] for field in ALPACA_FIELDS},
        "prompt": format_alpaca(row["instruction"], row["input"]),
        "response": row["output"],
    }


def _skipped_info(rows: Any) -> dict[str, int]:
    return {f"skipped.{reason}": count for reason, count in getattr(rows, "skipped", {}).items()}


def _short(what: str, n: int, eligible: int, allow_fewer: bool, key: str, why: str) -> None:
    """Fewer items than asked: an error naming the key that accepts it, or (when accepted) a warning."""
    message = f"{what}: asked for {n} items but only {eligible} are available ({why})"
    if not allow_fewer:
        raise SampleError(f"{message}; set {key}: true to accept {eligible}, or lower the n")
    warnings.warn(f"{message}; {key} is true, so the sample holds all {eligible}", SampleShortfallWarning, stacklevel=3)


def ppo_prompts(alpaca_table: pa.Table, n: int | None = None, seed: int = 0, allow_fewer: bool = False) -> pa.Table:
    """The PPO stage's prompts: ``id``, ``prompt`` of the (sampled) Alpaca table, all or a seeded ``n``."""
    missing = [c for c in PPO_COLUMNS if c not in alpaca_table.column_names]
    if missing:
        raise SampleError(f"Alpaca table lacks columns {missing}")
    table = alpaca_table.select(PPO_COLUMNS)
    if n is None:
        return table
    n = _check_n(n)
    if n > table.num_rows:
        _short(
            "PPO prompts",
            n,
            table.num_rows,
            allow_fewer,
            "alignment.data.allow_fewer",
            f"alignment.rlhf.n_prompts is {n}; the prompts come from the {table.num_rows}-example Alpaca set",
        )
    # A different stream from the instruction sets' draw, so the prompts are not simply the first rows drawn.
    return table.take(_choose(table.num_rows, min(n, table.num_rows), seed + 1))


# --------------------------------------------------------------------------
# GPT-4-LLM comparison data


def read_comparison(path: PathLike) -> list[dict]:
    """The entries of GPT-4-LLM's ``comparison_data_v2.json``, checked, as published.

    Each is ``{"user_input", "responses_and_scores": [{"response", "score",
    "source"}, ...]}``. A missing, null or blank response is allowed (the entry
    may be skipped later); a present response needs a numeric score.
    """
    path = Path(path)
    entries = _load_json_list(path, "comparison entries")
    for index, entry in enumerate(entries):
        _check_comparison_entry(f"{path}: entry {index}", entry)
    return entries


def _check_comparison_entry(where: str, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise SampleError(f"{where}: expected an object with user_input and responses_and_scores")
    if not isinstance(entry.get("user_input"), str):
        raise SampleError(f"{where}: user_input is missing or not a string")
    items = entry.get("responses_and_scores")
    if not isinstance(items, list):
        raise SampleError(f"{where}: responses_and_scores is missing or not a list")
    for k, item in enumerate(items):
        if not isinstance(item, dict):
            raise SampleError(f"{where}, response {k}: expected an object with response and score")
        response = item.get("response")
        if response is not None and not isinstance(response, str):
            raise SampleError(f"{where}, response {k}: response is not a string")
        if _nonblank(response) and not _is_score(item.get("score")):
            raise SampleError(f"{where}, response {k}: score must be a number, got {item.get('score')!r}")


def _is_score(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def build_comparison(
    entries: Sequence[Mapping], seed: int, n: int | None = None, allow_fewer: bool = False
) -> pa.Table:
    """Reward-model pairs ``{id, prompt, chosen, rejected}`` (all, or a seeded ``n``).

    The data has no preference field: chosen is the highest-scored non-blank
    response, rejected the lowest-scored (the first in the entry on equal
    scores). ``prompt`` is :func:`format_alpaca` of ``user_input``; ``id`` is
    ``comparison-{entry index}``. Skipped, counted in the metadata:
    ``too_few_responses`` (< 2 non-blank), ``tied`` (best score == worst),
    ``empty_prompt``.
    """
    if n is not None:
        n = _check_n(n)
    pairs, skipped = [], Counter()
    for index, entry in enumerate(entries):
        _check_comparison_entry(f"comparison entry {index}", entry)
        pair, reason = _comparison_pair(index, entry)
        if pair is None:
            skipped[reason] += 1
        else:
            pairs.append(pair)
    _log_skips("comparison pairs", len(pairs), skipped)
    if n is not None and n > len(pairs):
        _short(
            "comparison pairs",
            n,
            len(pairs),
            allow_fewer,
            "alignment.data.allow_fewer",
            f"{len(entries)} comparison entries, {sum(skipped.values())} without a usable pair",
        )
    picks = _choose(len(pairs), n, seed).tolist()
    info = {
        "requested": "all" if n is None else n,
        "eligible": len(pairs),
        "seed": seed,
        **{f"skipped.{reason}": count for reason, count in sorted(skipped.items())},
    }
    return _to_table([pairs[i] for i in picks], COMPARISON_SCHEMA, info)


def _comparison_pair(index: int, entry: Mapping) -> tuple[dict | None, str | None]:
    if not entry["user_input"].strip():
        return None, "empty_prompt"
    scored = [
        (item["score"], item["response"]) for item in entry["responses_and_scores"] if _nonblank(item.get("response"))
    ]
    if len(scored) < 2:
        return None, "too_few_responses"
    by_score = operator.itemgetter(0)
    best, worst = max(scored, key=by_score), min(scored, key=by_score)
    if best[0] == worst[0]:
        return None, "tied"
    return {
        "id": f"comparison-{index}",
        "prompt": format_alpaca(entry["user_input"]),
        "chosen": best[1],
        "rejected": worst[1],
    }, None
