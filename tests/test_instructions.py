"""Alignment data: readers on small files in the published formats, and the mini-world stand-ins."""

from __future__ import annotations

import gzip
import json
import random
import re
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from llmcal.data.instructions import (
    build_comparison,
    build_instruction_sets,
    format_alpaca,
    oasst_single_turn,
    ppo_prompts,
    read_alpaca,
    read_comparison,
    read_oasst,
)
from llmcal.data.miniworld import REL, WorldConfig, _render, generate_world
from llmcal.data.miniworld_instructions import (
    ALPACA_FILE,
    COMPARISON_FILE,
    OASST_FILE,
    generate_instruction_data,
)
from llmcal.data.sources import SampleError, SampleShortfallWarning, sample_info, write_table

PREAMBLE_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
)
PREAMBLE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
)


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def parquet_bytes(table: pa.Table, path: Path) -> bytes:
    write_table(table, path)
    return path.read_bytes()


# --------------------------------------------------------------------------
# The Alpaca template


def test_format_alpaca_with_input_is_stanford_template():
    assert format_alpaca("Translate to French.", "Good morning") == (
        PREAMBLE_INPUT + "### Instruction:\nTranslate to French.\n\n### Input:\nGood morning\n\n### Response:\n"
    )


def test_format_alpaca_without_input_is_stanford_template():
    expected = PREAMBLE + "### Instruction:\nName a colour.\n\n### Response:\n"
    assert format_alpaca("Name a colour.") == expected
    assert format_alpaca("Name a colour.", "") == expected


def test_format_alpaca_keeps_braces_in_text():
    assert "### Instruction:\nFill {x} in.\n\n### Input:\n{}" in format_alpaca("Fill {x} in.", "{}")


# --------------------------------------------------------------------------
# Alpaca

ALPACA_RECORDS = [
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well. Sleep. Move."},
    {"instruction": "Classify the animal.", "input": "Whale", "output": "Mammal."},
    {"instruction": "", "input": "x", "output": "orphan output"},
    {"instruction": "Say nothing.", "input": "", "output": "   "},
    {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
]


def alpaca_hub(root: Path, records: list[dict]) -> Path:
    frame = pd.DataFrame(records)
    frame["text"] = [format_alpaca(r["instruction"], r["input"]) + r["output"] for r in records]
    write_parquet(root / "data" / "train-00000-of-00001-a09b74b3ef9c3b56.parquet", frame)
    return root


def test_read_alpaca_json_skips_and_counts_empty_rows(tmp_path):
    rows = read_alpaca(write_json(tmp_path / "alpaca_data.json", ALPACA_RECORDS))

    assert [r["id"] for r in rows] == ["alpaca-0", "alpaca-1", "alpaca-4"]
    assert rows[1] == {"id": "alpaca-1", **ALPACA_RECORDS[1]}
    assert rows.skipped == {"empty": 2}


def test_read_alpaca_hub_parquet_matches_json(tmp_path):
    from_json = read_alpaca(write_json(tmp_path / "alpaca_data.json", ALPACA_RECORDS))
    from_hub = read_alpaca(alpaca_hub(tmp_path / "hub", ALPACA_RECORDS))

    assert list(from_hub) == list(from_json)
    assert from_hub.skipped == from_json.skipped


def test_alpaca_rows_get_the_full_template(tmp_path):
    rows = read_alpaca(write_json(tmp_path / "alpaca_data.json", ALPACA_RECORDS))
    oasst = [{"id": f"oasst-{i}", "instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(3)]
    alpaca, _ = build_instruction_sets(rows, oasst, seed=0)

    by_id = {r["id"]: r for r in alpaca.to_pylist()}
    assert by_id["alpaca-0"]["prompt"] == (
        PREAMBLE + "### Instruction:\nGive three tips for staying healthy.\n\n### Response:\n"
    )
    assert by_id["alpaca-1"]["prompt"] == (
        PREAMBLE_INPUT + "### Instruction:\nClassify the animal.\n\n### Input:\nWhale\n\n### Response:\n"
    )
    assert by_id["alpaca-1"]["response"] == "Mammal."


def test_read_alpaca_missing_field_names_file_and_row(tmp_path):
    path = write_json(tmp_path / "alpaca_data.json", [ALPACA_RECORDS[0], {"instruction": "x", "input": ""}])
    with pytest.raises(SampleError, match=r"alpaca_data\.json: row 1: missing field 'output'"):
        read_alpaca(path)


def test_read_alpaca_non_string_field_names_row(tmp_path):
    path = write_json(tmp_path / "alpaca_data.json", [{"instruction": "x", "input": None, "output": "y"}])
    with pytest.raises(SampleError, match=r"row 0: field 'input' is not a string"):
        read_alpaca(path)


def test_read_alpaca_rejects_non_list_and_bad_json(tmp_path):
    with pytest.raises(SampleError, match="expected a JSON list"):
        read_alpaca(write_json(tmp_path / "a.json", {"instruction": "x"}))
    bad = tmp_path / "b.json"
    bad.write_text("[{", encoding="utf-8")
    with pytest.raises(SampleError, match=r"b\.json: not valid JSON"):
        read_alpaca(bad)


def test_read_alpaca_hub_missing_column_names_file(tmp_path):
    write_parquet(tmp_path / "data" / "train-00000-of-00001.parquet", pd.DataFrame({"instruction": ["x"]}))
    with pytest.raises(SampleError, match=r"train-00000-of-00001\.parquet: missing columns \['input', 'output'\]"):
        read_alpaca(tmp_path)


def test_read_alpaca_hub_null_names_file_and_row(tmp_path):
    records = [dict(ALPACA_RECORDS[0]), dict(ALPACA_RECORDS[1], output=None)]
    alpaca_hub_frame = pd.DataFrame(records)
    write_parquet(tmp_path / "data" / "train-00000-of-00001.parquet", alpaca_hub_frame)
    with pytest.raises(SampleError, match=r"train-00000-of-00001\.parquet: row 1: field 'output'"):
        read_alpaca(tmp_path)


def test_read_alpaca_folder_without_parquet(tmp_path):
    with pytest.raises(SampleError, match=r"no train-\*\.parquet files"):
        read_alpaca(tmp_path)


# --------------------------------------------------------------------------
# OpenAssistant


def msg(message_id, parent_id, text, role, *, lang="en", rank=None, deleted=False, review_result=True, tree=None):
    return {
        "message_id": message_id,
        "parent_id": parent_id,
        "user_id": "u",
        "text": text,
        "role": role,
        "lang": lang,
        "review_count": 3,
        "review_result": review_result,
        "deleted": deleted,
        "rank": rank,
        "synthetic": False,
        "model_name": None,
        "message_tree_id": tree or message_id,
        "tree_state": "ready_for_export",
    }


def oa_trees() -> list[list[dict]]:
    """Each inner list is one tree, in file order."""
    return [
        # Several ranked replies out of rank order, and a second turn under the best one.
        [
            msg("r1", None, "What is tea?", "prompter"),
            msg("a1", "r1", "A drink, I guess.", "assistant", rank=1, tree="r1"),
            msg("a2", "r1", "Tea is a drink brewed from leaves.", "assistant", rank=0, tree="r1"),
            msg("a3", "r1", "No idea.", "assistant", rank=2, tree="r1"),
            msg("p1", "a2", "And where does it grow?", "prompter", tree="r1"),
            msg("a4", "p1", "In warm hills.", "assistant", rank=0, tree="r1"),
        ],
        # The rank-0 reply is deleted: the next best wins.
        [
            msg("r2", None, "Tell me a joke.", "prompter"),
            msg("b0", "r2", "Deleted joke.", "assistant", rank=0, deleted=True, tree="r2"),
            msg("b1", "r2", "Why did the river cross the road?", "assistant", rank=1, tree="r2"),
        ],
        # Not English.
        [
            msg("r3", None, "Was ist Tee?", "prompter", lang="de"),
            msg("c0", "r3", "Ein Getränk.", "assistant", lang="de", rank=0, tree="r3"),
        ],
        # Deleted prompt.
        [
            msg("r4", None, "Deleted prompt", "prompter", deleted=True),
            msg("d0", "r4", "Answer to a deleted prompt.", "assistant", rank=0, tree="r4"),
        ],
        # Prompt that failed review.
        [
            msg("r5", None, "Spam spam spam", "prompter", review_result=False),
            msg("e0", "r5", "Answer to spam.", "assistant", tree="r5"),
        ],
        # No ranks: the first reply in file order; replies listed before their root.
        [
            msg("f1", "r6", "First unranked reply.", "assistant", tree="r6"),
            msg("f2", "r6", "Second unranked reply.", "assistant", tree="r6"),
            msg("r6", None, "Describe a cat.", "prompter"),
        ],
        # No reply at all.
        [msg("r7", None, "Anyone there?", "prompter")],
        # Only reply deleted.
        [
            msg("r8", None, "Write a haiku.", "prompter"),
            msg("h0", "r8", "Gone.", "assistant", rank=0, deleted=True, tree="r8"),
        ],
        # A ranked reply beats an unranked one listed first.
        [
            msg("r9", None, "Name a river.", "prompter"),
            msg("i0", "r9", "Unranked river.", "assistant", tree="r9"),
            msg("i1", "r9", "The Nile.", "assistant", rank=1, tree="r9"),
        ],
    ]


def oa_messages() -> list[dict]:
    return [m for tree in oa_trees() for m in tree]


EXPECTED_PAIRS = [
    {"id": "oasst-a2", "instruction": "What is tea?", "input": "", "output": "Tea is a drink brewed from leaves."},
    {"id": "oasst-b1", "instruction": "Tell me a joke.", "input": "", "output": "Why did the river cross the road?"},
    {"id": "oasst-f1", "instruction": "Describe a cat.", "input": "", "output": "First unranked reply."},
    {"id": "oasst-i1", "instruction": "Name a river.", "input": "", "output": "The Nile."},
]
EXPECTED_SKIPPED = {"deleted": 1, "failed_review": 1, "no_reply": 2, "non_english": 1}


@pytest.mark.parametrize("name", ["messages.jsonl", "messages.jsonl.gz"])
def test_oasst_single_turn_from_jsonl(tmp_path, name):
    messages = read_oasst(write_jsonl(tmp_path / name, oa_messages()))
    pairs = oasst_single_turn(messages)

    assert list(pairs) == EXPECTED_PAIRS
    assert pairs.skipped == EXPECTED_SKIPPED


def test_oasst_deeper_turns_are_not_pairs(tmp_path):
    pairs = oasst_single_turn(read_oasst(write_jsonl(tmp_path / "m.jsonl", oa_messages())))
    texts = {p["instruction"] for p in pairs} | {p["output"] for p in pairs}
    assert "And where does it grow?" not in texts
    assert "In warm hills." not in texts


def test_oasst_hub_parquet_reads_train_then_validation(tmp_path):
    trees = oa_trees()
    # Through pandas, as the hub's files were written: null ranks become NaN.
    extra = {"emojis": None, "labels": None, "detoxify": None}
    train = pd.DataFrame([{**m, **extra} for tree in trees[:5] for m in tree])
    validation = pd.DataFrame([{**m, **extra} for tree in trees[5:] for m in tree])
    assert train["rank"].dtype == float
    write_parquet(tmp_path / "data" / "validation-00000-of-00001-xyz.parquet", validation)
    write_parquet(tmp_path / "data" / "train-00000-of-00001-abc.parquet", train)

    pairs = oasst_single_turn(read_oasst(tmp_path))

    assert list(pairs) == EXPECTED_PAIRS
    assert pairs.skipped == EXPECTED_SKIPPED


def test_oasst_trees_export_is_flattened(tmp_path):
    def nest(tree, message_id):
        node = next(m for m in tree if m["message_id"] == message_id)
        children = [m["message_id"] for m in tree if m["parent_id"] == message_id]
        return {**node, "replies": [nest(tree, c) for c in children]}

    lines = [
        {
            "message_tree_id": tree[0]["message_tree_id"],
            "tree_state": "ready_for_export",
            "prompt": nest(tree, next(m["message_id"] for m in tree if m["parent_id"] is None)),
        }
        for tree in oa_trees()
    ]
    pairs = oasst_single_turn(read_oasst(write_jsonl(tmp_path / "trees.jsonl", lines)))

    # Nesting puts replies after their root; the rank-less tree keeps its reply order.
    assert list(pairs) == EXPECTED_PAIRS
    assert pairs.skipped == EXPECTED_SKIPPED


def test_read_oasst_missing_field_names_file_and_line(tmp_path):
    records = oa_messages()[:3]
    del records[2]["role"]
    with pytest.raises(SampleError, match=r"m\.jsonl: line 3: missing fields \['role'\]"):
        read_oasst(write_jsonl(tmp_path / "m.jsonl", records))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("role", "user", "role 'user'"),
        ("rank", "first", "rank must be"),
        ("rank", -1, "rank must be"),
        ("deleted", "no", "deleted must be"),
        ("lang", None, "lang is not a string"),
    ],
)
def test_read_oasst_bad_values_name_line(tmp_path, field, value, message):
    records = oa_messages()[:2]
    records[1][field] = value
    with pytest.raises(SampleError, match=rf"line 2: {message}"):
        read_oasst(write_jsonl(tmp_path / "m.jsonl", records))


def test_read_oasst_repeated_id_names_both_places(tmp_path):
    records = oa_messages()[:2] + [oa_messages()[1]]
    with pytest.raises(SampleError, match=r"line 3: message_id 'a1' repeats the one at .*line 2"):
        read_oasst(write_jsonl(tmp_path / "m.jsonl", records))


def test_read_oasst_bad_parquet_row_names_file_and_row(tmp_path):
    frame = pd.DataFrame(oa_messages()[:3])
    frame.loc[2, "role"] = "moderator"
    path = write_parquet(tmp_path / "train-00000-of-00001.parquet", frame)
    with pytest.raises(SampleError, match=rf"{re.escape(str(path))}: row 2: role 'moderator'"):
        read_oasst(tmp_path)


def test_read_oasst_hub_missing_column_names_file(tmp_path):
    write_parquet(tmp_path / "data" / "train-0.parquet", pd.DataFrame(oa_messages()).drop(columns=["lang"]))
    with pytest.raises(SampleError, match=r"train-0\.parquet: missing columns \['lang'\]"):
        read_oasst(tmp_path)


# --------------------------------------------------------------------------
# Equal-size instruction sets


def instruction_rows(prefix: str, n: int) -> list[dict]:
    return [
        {"id": f"{prefix}-{i}", "instruction": f"{prefix} task {i}", "input": "", "output": f"done {i}"}
        for i in range(n)
    ]


def test_sets_are_sampled_to_the_smaller_size():
    alpaca, oasst = build_instruction_sets(instruction_rows("alpaca", 50), instruction_rows("oasst", 20), seed=1)

    assert alpaca.num_rows == oasst.num_rows == 20
    assert alpaca.column_names == ["id", "instruction", "input", "output", "prompt", "response"]
    assert oasst.column("id").to_pylist() == [f"oasst-{i}" for i in range(20)]
    ids = alpaca.column("id").to_pylist()
    assert len(set(ids)) == 20
    assert ids == sorted(ids, key=lambda i: int(i.split("-")[1])), "a sample keeps source order"
    info = sample_info(alpaca)
    assert (info["dataset"], info["eligible"], info["size"], info["seed"]) == ("alpaca", "50", "20", "1")


def test_sets_take_n_when_smaller():
    alpaca, oasst = build_instruction_sets(instruction_rows("alpaca", 50), instruction_rows("oasst", 20), n=7)
    assert alpaca.num_rows == oasst.num_rows == 7


def test_sets_refuse_n_beyond_the_smaller_set_unless_allowed():
    with pytest.raises(
        SampleError,
        match=r"instruction sets: asked for 30 items but only 20 are available \(Alpaca "
        r"has 50 usable examples, OpenAssistant 20 single-turn pairs\); set "
        r"alignment.data.allow_fewer: true to accept 20",
    ):
        build_instruction_sets(instruction_rows("alpaca", 50), instruction_rows("oasst", 20), n=30)
    with pytest.warns(SampleShortfallWarning, match="asked for 30"):
        alpaca, oasst = build_instruction_sets(
            instruction_rows("alpaca", 50), instruction_rows("oasst", 20), n=30, allow_fewer=True
        )
    assert alpaca.num_rows == oasst.num_rows == 20


def test_ppo_prompts_refuse_more_than_the_alpaca_set_unless_allowed():
    alpaca, _ = build_instruction_sets(instruction_rows("alpaca", 12), instruction_rows("oasst", 12))
    with pytest.raises(SampleError, match=r"PPO prompts: asked for 20 items but only 12 .*alignment.data.allow_fewer"):
        ppo_prompts(alpaca, 20)
    with pytest.warns(SampleShortfallWarning):
        assert ppo_prompts(alpaca, 20, allow_fewer=True).num_rows == 12


def test_sets_are_deterministic_to_the_byte(tmp_path):
    args = (instruction_rows("alpaca", 60), instruction_rows("oasst", 25))
    first = build_instruction_sets(*args, seed=3)
    again = build_instruction_sets(*args, seed=3)
    other = build_instruction_sets(*args, seed=4)

    for k, name in enumerate(("alpaca", "oasst")):
        assert parquet_bytes(first[k], tmp_path / f"a-{name}.parquet") == parquet_bytes(
            again[k], tmp_path / f"b-{name}.parquet"
        )
    assert first[0].column("id").to_pylist() != other[0].column("id").to_pylist()


def test_sets_carry_reader_skip_counts(tmp_path):
    rows = read_alpaca(write_json(tmp_path / "alpaca_data.json", ALPACA_RECORDS))
    pairs = oasst_single_turn(read_oasst(write_jsonl(tmp_path / "m.jsonl", oa_messages())))
    alpaca, oasst = build_instruction_sets(rows, pairs, seed=0)

    assert alpaca.num_rows == oasst.num_rows == 3
    assert sample_info(alpaca)["skipped.empty"] == "2"
    assert sample_info(oasst)["skipped.non_english"] == "1"
    assert sample_info(oasst)["skipped.no_reply"] == "2"


def test_sets_reject_repeated_ids_and_empty_sets():
    rows = instruction_rows("alpaca", 3)
    with pytest.raises(SampleError, match="Alpaca row 3: id 'alpaca-0' repeats"):
        build_instruction_sets(rows + rows[:1], instruction_rows("oasst", 3))
    with pytest.raises(SampleError, match="no OpenAssistant instruction rows"):
        build_instruction_sets(rows, [])
    with pytest.raises(SampleError, match="row 0: 'output' is missing"):
        build_instruction_sets([{"id": "x", "instruction": "y", "input": ""}], rows)


def test_ppo_prompts_are_the_alpaca_prompts():
    alpaca, _ = build_instruction_sets(instruction_rows("alpaca", 5), instruction_rows("oasst", 5))
    prompts = ppo_prompts(alpaca)

    assert prompts.column_names == ["id", "prompt"]
    assert prompts.to_pylist() == alpaca.select(["id", "prompt"]).to_pylist()


# --------------------------------------------------------------------------
# Comparison data


def scored(response, score, source="gpt4"):
    return {"response": response, "score": score, "source": source}


COMPARISON = [
    {
        "user_input": "Name a fruit.",
        "responses_and_scores": [scored("Apple.", 9.0), scored("Rock.", 3.0, "icm-1.3b"), scored("Pear", 6.0)],
    },
    {"user_input": "Missing one.", "responses_and_scores": [{"score": 5.0, "source": "x"}, scored("Only one.", 8.0)]},
    {"user_input": "Blank ones.", "responses_and_scores": [scored("", 2.0), scored("   ", 1.0), scored("ok", 7.0)]},
    {"user_input": "Tied.", "responses_and_scores": [scored("Same A.", 8.0), scored("Same B.", 8)]},
    {"user_input": "Single.", "responses_and_scores": [scored("Alone.", 10.0)]},
    {
        "user_input": "With a null.",
        "responses_and_scores": [scored(None, None), scored("Good.", 7.0), scored("Bad.", 2.0)],
    },
    {
        "user_input": "Equal best.",
        "responses_and_scores": [scored("First best.", 9.0), scored("Second best.", 9.0), scored("Worst.", 1.0)],
    },
    {"user_input": "None at all.", "responses_and_scores": []},
]


def test_comparison_pairs_best_against_worst(tmp_path):
    entries = read_comparison(write_json(tmp_path / "comparison_data_v2.json", COMPARISON))
    table = build_comparison(entries, seed=0)

    assert table.column_names == ["id", "prompt", "chosen", "rejected"]
    assert table.to_pylist() == [
        {
            "id": "comparison-0",
            "prompt": PREAMBLE + "### Instruction:\nName a fruit.\n\n### Response:\n",
            "chosen": "Apple.",
            "rejected": "Rock.",
        },
        {"id": "comparison-5", "prompt": format_alpaca("With a null."), "chosen": "Good.", "rejected": "Bad."},
        {"id": "comparison-6", "prompt": format_alpaca("Equal best."), "chosen": "First best.", "rejected": "Worst."},
    ]
    info = sample_info(table)
    assert info["skipped.too_few_responses"] == "4"
    assert info["skipped.tied"] == "1"
    assert info["eligible"] == "3"


def test_comparison_sampling_is_seeded(tmp_path):
    entries = [
        {"user_input": f"q{i}", "responses_and_scores": [scored(f"good {i}", 9.0), scored("bad", 1.0)]}
        for i in range(40)
    ]
    first, again, other = (build_comparison(entries, seed, n=10) for seed in (5, 5, 6))

    assert first.num_rows == 10
    assert parquet_bytes(first, tmp_path / "a.parquet") == parquet_bytes(again, tmp_path / "b.parquet")
    assert first.column("id").to_pylist() != other.column("id").to_pylist()
    with pytest.raises(SampleError, match=r"comparison pairs: asked for 41 items but only 40 are available"):
        build_comparison(entries, 0, n=41)
    with pytest.warns(SampleShortfallWarning):
        assert build_comparison(entries, 0, n=41, allow_fewer=True).num_rows == 40


def test_read_comparison_errors_name_file_and_entry(tmp_path):
    no_input = [COMPARISON[0], {"responses_and_scores": []}]
    with pytest.raises(SampleError, match=r"comparison_data_v2\.json: entry 1: user_input is missing"):
        read_comparison(write_json(tmp_path / "comparison_data_v2.json", no_input))
    bad_score = [{"user_input": "q", "responses_and_scores": [scored("a", 9.0), scored("b", "high")]}]
    with pytest.raises(SampleError, match=r"c\.json: entry 0, response 1: score must be a number"):
        read_comparison(write_json(tmp_path / "c.json", bad_score))
    not_list = [{"user_input": "q", "responses_and_scores": "a"}]
    with pytest.raises(SampleError, match=r"d\.json: entry 0: responses_and_scores"):
        read_comparison(write_json(tmp_path / "d.json", not_list))


# --------------------------------------------------------------------------
# The mini world's instruction data


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    generate_world(root, WorldConfig.tiny())
    start = time.perf_counter()
    summary = generate_instruction_data(root, seed=7)
    return root, summary, time.perf_counter() - start


@pytest.fixture(scope="module")
def mini_world(mini):
    return json.loads((mini[0] / "world.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def mini_sets(mini):
    folder = mini[0] / "instructions"
    alpaca = read_alpaca(folder / ALPACA_FILE)
    pairs = oasst_single_turn(read_oasst(folder / OASST_FILE))
    return alpaca, pairs, build_instruction_sets(alpaca, pairs, seed=0)


def true_statements(world: dict, split: str | None = None) -> set[str]:
    """Every corpus wording of the world's facts (of one MMLU split, or of the facts outside test)."""
    keep = [
        f
        for f in world["facts"]
        if (str(f["mmlu"]).endswith("/test") if split == "test" else not str(f["mmlu"]).endswith("/test"))
    ]
    return {_render(t, f["subject_name"], f["object_name"])[0] for f in keep for t in REL[f["relation"]].train}


def test_mini_files_parse_with_the_readers(mini, mini_sets):
    root, summary, _ = mini
    alpaca, pairs, (alpaca_table, oasst_table) = mini_sets
    entries = read_comparison(root / "instructions" / COMPARISON_FILE)

    assert len(alpaca) == summary["alpaca"] and alpaca.skipped == {}
    assert 300 <= len(pairs) <= 600
    assert len(pairs) == summary["oasst_pairs"]
    assert set(pairs.skipped) >= {"non_english", "deleted", "no_reply"}
    assert alpaca_table.num_rows == oasst_table.num_rows == len(pairs)
    assert build_comparison(entries, seed=0).num_rows == summary["comparison_pairs"]
    assert 0 < summary["comparison_pairs"] < len(entries), "some entries are meant to be skipped"


def test_mini_oasst_has_the_tree_features_the_converter_handles(mini):
    messages = read_oasst(mini[0] / "instructions" / OASST_FILE)
    by_id = {m["message_id"]: m for m in messages}
    root_replies: dict[str, list[dict]] = {}
    for m in messages:
        if m["parent_id"] in by_id and by_id[m["parent_id"]]["parent_id"] is None:
            root_replies.setdefault(m["parent_id"], []).append(m)

    assert {m["lang"] for m in messages} == {"en", "de", "es"}
    assert any(m["deleted"] for m in messages if m["role"] == "assistant")
    assert any(len(r) == 3 and sorted(m["rank"] for m in r) == [0, 1, 2] for r in root_replies.values())
    assert any(all(m["rank"] is None for m in r) for r in root_replies.values())
    deeper = [m for m in messages if m["parent_id"] in by_id and by_id[m["parent_id"]]["role"] == "assistant"]
    assert deeper and all(m["role"] == "prompter" for m in deeper)


def test_mini_data_is_deterministic_and_fast(mini, tmp_path):
    root, summary, seconds = mini
    shutil.copy(root / "world.json", tmp_path / "world.json")
    again = generate_instruction_data(tmp_path, seed=7)
    for name in (ALPACA_FILE, OASST_FILE, COMPARISON_FILE):
        assert (tmp_path / "instructions" / name).read_bytes() == (root / "instructions" / name).read_bytes()
    assert again == summary
    assert seconds < 2.0

    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(root / "world.json", other / "world.json")
    generate_instruction_data(other, seed=8)
    assert (other / "instructions" / OASST_FILE).read_bytes() != (root / "instructions" / OASST_FILE).read_bytes()


def _skeletons(texts: list[str], world: dict) -> list[str]:
    """Texts with every entity name masked, so only the wording is left to compare."""
    names = sorted({e["name"] for e in world["entities"]}, key=len, reverse=True)
    alternatives = "|".join(map(re.escape, names))
    pattern = re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)
    return [pattern.sub("<E>", t) for t in texts]


def _mean_jaccard(texts: list[str], n_pairs: int = 2000) -> float:
    tokens = [set(re.findall(r"<E>|\w+", t.lower())) for t in texts]
    rng = random.Random(0)
    pairs = [rng.sample(range(len(tokens)), 2) for _ in range(n_pairs)]
    return sum(len(tokens[i] & tokens[j]) / len(tokens[i] | tokens[j]) for i, j in pairs) / n_pairs


def test_mini_alpaca_is_less_diverse_than_oasst(mini_sets, mini_world):
    _, _, (alpaca, oasst) = mini_sets
    a = _skeletons(alpaca.column("response").to_pylist(), mini_world)
    o = _skeletons(oasst.column("response").to_pylist(), mini_world)

    # Distinct response templates, over equal-size sets.
    assert len(set(a)) / len(a) < 0.15 < 0.5 < len(set(o)) / len(o)
    assert _mean_jaccard(a) > 2 * _mean_jaccard(o)


def _claim_patterns(world: dict) -> list[tuple[str, re.Pattern]]:
    """(relation, pattern) for every corpus and T-REx wording: a fact-shaped claim between two entity names."""
    names = defaultdict(list)
    for e in world["entities"]:
        names[e["kind"]].append(re.escape(e["name"]))
    patterns = []
    for rel in REL.values():
        subj = "|".join(sorted(names[rel.subject_kind], key=len, reverse=True))
        obj = "|".join(sorted(names[rel.object_kind], key=len, reverse=True))
        for template in (*rel.train, *rel.trex):
            body = re.escape(template.rstrip("."))
            body = body.replace(re.escape("{s}"), f"(?P<s>{subj})").replace(re.escape("{ao}"), f"an? (?P<o>{obj})")
            body = body.replace(re.escape("{o}"), f"(?P<o>{obj})")
            patterns.append((rel.name, re.compile(rf"\b{body}\b", re.IGNORECASE)))
    return patterns


def _claims(text: str, patterns) -> set[tuple[str, str, str]]:
    return {(rel, m["s"].lower(), m["o"].lower()) for rel, pattern in patterns for m in pattern.finditer(text)}


def _world_facts(world: dict) -> set[tuple[str, str, str]]:
    return {(f["relation"], f["subject_name"].lower(), f["object_name"].lower()) for f in world["facts"]}


def test_mini_responses_never_claim_a_false_fact(mini, mini_world):
    folder = mini[0] / "instructions"
    patterns, facts = _claim_patterns(mini_world), _world_facts(mini_world)
    alpaca = read_alpaca(folder / ALPACA_FILE)
    replies = [m["text"] for m in read_oasst(folder / OASST_FILE) if m["role"] == "assistant" and m["lang"] == "en"]
    kinds = {e["name"]: e["kind"] for e in mini_world["entities"]}
    for text in [r["output"] for r in alpaca] + replies:
        claims = _claims(text, patterns)
        assert claims <= facts, (text, claims - facts)
    # Both sets teach the world's facts: every Alpaca output states one (classification rows state a kind),
    # and most OA replies do (stories and poems carry theirs in their own words).
    classify = [r for r in alpaca if r["input"] in kinds and r["output"].startswith(r["input"] + " is a")]
    for row in classify:
        kind = kinds[row["input"]]
        assert row["output"] == f"{row['input']} is {'an' if kind == 'animal' else 'a'} {kind}."
    assert sum(bool(_claims(r["output"], patterns)) for r in alpaca) + len(classify) == len(alpaca)
    assert sum(bool(_claims(text, patterns)) for text in replies) > 0.6 * len(replies)


def test_the_claim_check_can_fail(mini_world):
    patterns, facts = _claim_patterns(mini_world), _world_facts(mini_world)
    f = next(f for f in mini_world["facts"] if f["relation"] == "capital")
    other = next(g["object_name"] for g in mini_world["facts"] if g["relation"] == "capital" and g is not f)
    assert _claims(f"Sure! The capital of {f['subject_name']} is {f['object_name']}.", patterns) <= facts
    assert not _claims(f"Sure! The capital of {f['subject_name']} is {other}.", patterns) <= facts


def _instruction_skeletons(rows, world: dict) -> list[str]:
    return _skeletons([r["instruction"] + "\n" + r["input"] for r in rows], world)


def _top_share(items: list[str], k: int) -> float:
    return sum(c for _, c in Counter(items).most_common(k)) / len(items)


def _distinct_ngrams(texts: list[str], n: int = 3) -> float:
    """Distinct word n-grams over all n-grams of the texts: lexical diversity (1 = nothing repeats)."""
    grams = [tuple(w[i : i + n]) for t in texts for w in [re.findall(r"\w+", t.lower())] for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams)


def test_mini_alpaca_is_built_the_self_instruct_way(mini_sets, mini_world):
    alpaca, pairs, (alpaca_table, oasst_table) = mini_sets
    a_rows, o_rows = alpaca_table.to_pylist(), oasst_table.to_pylist()

    # A few seed instructions, lightly reworded, produce most rows; crowd prompts hardly repeat.
    a_share = _top_share(_instruction_skeletons(a_rows, mini_world), 10)
    o_share = _top_share(_instruction_skeletons(o_rows, mini_world), 10)
    assert a_share > 0.5 and a_share > 2 * o_share
    # Responses repeat their wording and content; OA's use far more distinct word trigrams.
    a_responses, o_responses = alpaca_table.column("response").to_pylist(), oasst_table.column("response").to_pylist()
    assert _distinct_ngrams(a_responses) < 0.5 * _distinct_ngrams(o_responses)
    # Content is concentrated: the favourite entities recur far more often than in the crowd's prompts.
    names = sorted({e["name"] for e in mini_world["entities"]}, key=len, reverse=True)
    pattern = re.compile(rf"\b(?:{'|'.join(map(re.escape, names))})\b")

    def top_entity_share(texts):
        return _top_share([m for t in texts for m in dict.fromkeys(pattern.findall(t))], 5)

    assert top_entity_share(a_responses) > 1.5 * top_entity_share(o_responses)
    # Alpaca's share of rows with an input (about 40% in the real set), in the published format.
    with_input = sum(1 for r in alpaca if r["input"]) / len(alpaca)
    assert 0.25 < with_input < 0.55
    assert all(set(r) == {"id", "instruction", "input", "output"} for r in alpaca)


def test_mini_oasst_is_crowd_like(mini_sets):
    _, pairs, _ = mini_sets
    lengths = sorted(len(p["output"]) for p in pairs)
    # One-word answers beside multi-paragraph replies.
    assert lengths[0] < 20 and lengths[-1] > 3 * lengths[len(lengths) // 2]
    assert sum("\n\n" in p["output"] for p in pairs) > 0.15 * len(pairs)
    first_words = Counter(p["output"].split()[0] for p in pairs)
    assert len(first_words) > 0.1 * len(pairs)


def test_mini_comparison_chosen_states_true_facts(mini, mini_world):
    table = build_comparison(read_comparison(mini[0] / "instructions" / COMPARISON_FILE), seed=0)
    truths = true_statements(mini_world)
    for chosen, rejected in zip(table.column("chosen").to_pylist(), table.column("rejected").to_pylist()):
        assert re.split(r"(?<=\.) ", chosen)[0] in truths, chosen
        assert rejected not in truths, rejected


def test_mini_data_never_states_mmlu_test_facts_or_questions(mini, mini_world):
    folder = mini[0] / "instructions"
    texts = [r["output"] for r in read_alpaca(folder / ALPACA_FILE)]
    texts += [r["instruction"] + " " + r["input"] for r in read_alpaca(folder / ALPACA_FILE)]
    texts += [m["text"] for m in read_oasst(folder / OASST_FILE)]
    texts += [e["user_input"] for e in read_comparison(folder / COMPARISON_FILE)]
    texts += [r["response"] for e in read_comparison(folder / COMPARISON_FILE) for r in e["responses_and_scores"]]
    blob = "\n".join(texts)

    test_facts = true_statements(mini_world, split="test")
    assert not [s for s in test_facts if s in blob]
    questions = [q["question"] for s in mini_world["mmlu"].values() for q in s["test"]]
    assert not [q for q in questions if q in blob]
    # No MMLU question wording and no T-REx-only sentence, for any fact, in any case.
    low = blob.lower()
    for f in mini_world["facts"]:
        rel = REL[f["relation"]]
        worded = [_render(rel.mmlu, f["subject_name"])[0]]
        worded += [_render(t, f["subject_name"], f["object_name"])[0] for t in rel.trex]
        assert not [w for w in worded if w.lower() in low]
