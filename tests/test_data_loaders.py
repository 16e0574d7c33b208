"""Readers and samplers on small files written here in the published formats."""

from __future__ import annotations

import csv
import gzip
import json
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from llmcal.data import sources
from llmcal.data.mmlu_prompt import build_prompt, format_example, format_subject
from llmcal.data.sources import (
    SampleError,
    SampleShortfallWarning,
    build_mmlu,
    read_mmlu_csv,
    read_mmlu_hub,
    read_pile,
    read_trex,
    sample_clm,
    sample_facts,
    sample_info,
    write_table,
)


def written_bytes(table: pa.Table, path: Path) -> bytes:
    write_table(table, path)
    return path.read_bytes()


# --------------------------------------------------------------------------
# The Pile


def pile_record(text: str, source: str = "Pile-CC") -> dict:
    return {"text": text, "meta": {"pile_set_name": source}}


def write_jsonl(path: Path, lines: list[str]) -> Path:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    elif path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def write_pile(path: Path, records: list[dict]) -> Path:
    return write_jsonl(path, [json.dumps(r) for r in records])


@pytest.mark.parametrize("name", ["val.jsonl", "val.jsonl.zst", "val.jsonl.gz"])
def test_read_pile_reads_each_compression(tmp_path, name):
    records = [pile_record("first line\nstill first"), pile_record("ünïcode ✓", "Github")]
    path = write_pile(tmp_path / name, records)

    assert list(read_pile(path)) == records


def test_read_pile_streams_zst_in_pieces(tmp_path):
    # A stream of several frames, as a streaming compressor writes it.
    records = [pile_record(f"document {i} " * 50) for i in range(200)]
    path = tmp_path / "val.jsonl.zst"
    compressor = zstandard.ZstdCompressor()
    with open(path, "wb") as fh, compressor.stream_writer(fh) as writer:
        for record in records:
            writer.write((json.dumps(record) + "\n").encode())

    assert list(read_pile(path)) == records


def test_read_pile_names_file_and_line_of_bad_json(tmp_path):
    path = write_jsonl(tmp_path / "test.jsonl", [json.dumps(pile_record("ok")), "", "{not json"])

    with pytest.raises(SampleError, match=r"test\.jsonl: line 3"):
        list(read_pile(path))


def test_read_pile_refuses_record_without_text(tmp_path):
    path = write_pile(tmp_path / "test.jsonl", [pile_record("ok"), {"meta": {}}])

    with pytest.raises(SampleError, match=r"test\.jsonl: line 2"):
        list(read_pile(path))


@pytest.fixture
def pile_files(tmp_path):
    val = write_pile(
        tmp_path / "val.jsonl.zst",
        [pile_record("a long enough text", "Pile-CC"), pile_record(""), pile_record("short", "ArXiv")],
    )
    test0 = write_pile(tmp_path / "test.jsonl.gz", [pile_record("another long text", "Github")])
    # A blank line still counts, so later line numbers match the file.
    test1 = write_jsonl(tmp_path / "test2.jsonl", ["", json.dumps(pile_record("third long text", "Books3"))])
    return {"val": val, "test": [test0, test1]}


def test_sample_clm_takes_all_eligible_with_source_ids(pile_files):
    with pytest.warns(SampleShortfallWarning, match=r"val\.jsonl\.zst"):
        table = sample_clm(pile_files, n=10, seed=0, min_chars=10, allow_fewer=True)

    assert table.schema.names == ["id", "split", "source", "text"]
    assert table.to_pylist() == [
        {"id": "test-0-1", "split": "test", "source": "Github", "text": "another long text"},
        {"id": "test-1-2", "split": "test", "source": "Books3", "text": "third long text"},
        {"id": "val-0-1", "split": "val", "source": "Pile-CC", "text": "a long enough text"},
    ]
    assert sample_info(table) == {
        "requested": "10",
        "eligible": "3",
        "n": "3",
        "seed": "0",
        "min_chars": "10",
        "records": "5",
        "short": "2",
        "allow_fewer": "True",
    }


def test_sample_clm_default_min_chars_drops_only_empty_texts(pile_files):
    with pytest.warns(SampleShortfallWarning):
        table = sample_clm(pile_files, n=10, seed=0, allow_fewer=True)

    assert table["id"].to_pylist() == ["test-0-1", "test-1-2", "val-0-1", "val-0-3"]


@pytest.fixture
def big_pile(tmp_path):
    records = [pile_record(f"text number {i}") for i in range(60)]
    return {
        "val": write_pile(tmp_path / "val.jsonl", records[:30]),
        "test": write_pile(tmp_path / "test.jsonl", records[30:]),
    }


def test_sample_clm_is_seeded_and_keeps_source_order(big_pile):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = sample_clm(big_pile, n=12, seed=3)
    again = sample_clm(big_pile, n=12, seed=3)
    other = sample_clm(big_pile, n=12, seed=4)

    assert first.num_rows == 12
    assert first.equals(again)
    assert first["id"].to_pylist() != other["id"].to_pylist()
    everything = sample_clm(big_pile, n=60, seed=0)["id"].to_pylist()
    ids = first["id"].to_pylist()
    assert ids == sorted(ids, key=everything.index)
    # The id points back to the record: line k of val.jsonl is text number k-1.
    for row in first.to_pylist():
        split, _, line = row["id"].split("-")
        offset = 0 if split == "val" else 30
        assert row["text"] == f"text number {offset + int(line) - 1}"


def test_sample_clm_does_not_depend_on_split_order(big_pile):
    reordered = {"test": big_pile["test"], "val": big_pile["val"]}

    assert sample_clm(big_pile, n=7, seed=1).equals(sample_clm(reordered, n=7, seed=1))


def test_sample_clm_parquet_is_byte_identical(big_pile, tmp_path):
    first = written_bytes(sample_clm(big_pile, n=12, seed=3), tmp_path / "out" / "a.parquet")
    second = written_bytes(sample_clm(big_pile, n=12, seed=3), tmp_path / "out" / "b.parquet")

    assert first == second


def test_sample_clm_rejects_non_positive_n(big_pile):
    with pytest.raises(ValueError, match="positive"):
        sample_clm(big_pile, n=0, seed=0)


# --------------------------------------------------------------------------
# write_table


def test_write_table_drops_pandas_metadata_and_index(tmp_path):
    frame = pd.DataFrame({"id": ["x", "y"], "v": [1, 2]}, index=[5, 9])
    table = pa.Table.from_pandas(frame, preserve_index=False)

    written = pq.read_table(write_table(table, tmp_path / "t.parquet"))

    assert written.schema.names == ["id", "v"]
    assert b"pandas" not in (written.schema.metadata or {})


def test_write_table_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "t.parquet"
    table = pa.table({"id": ["a"]})
    write_table(table, target)
    before = target.read_bytes()

    def interrupted(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(sources.pq, "write_table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_table(pa.table({"id": ["b"]}), target)

    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


# --------------------------------------------------------------------------
# T-REx


def entity(start: int, end: int, surfaceform: str, uri: str = "http://www.wikidata.org/entity/Q1") -> dict:
    return {
        "uri": uri,
        "boundaries": [start, end],
        "surfaceform": surfaceform,
        "annotator": "Wikidata_Spotlight_Entity_Linker",
    }


def trex_doc(docid: str, text: str, entities: list[dict]) -> dict:
    return {
        "docid": docid,
        "title": docid,
        "uri": f"http://www.wikidata.org/entity/{docid}",
        "text": text,
        "sentences_boundaries": [[0, len(text)]],
        "words_boundaries": [],
        "entities": entities,
        "triples": [],
    }


def write_trex(path: Path, docs: list[dict]) -> Path:
    path.write_text(json.dumps(docs), encoding="utf-8")
    return path


PARIS = "Paris is the capital of France. It lies on the Seine."


@pytest.fixture
def trex_dir(tmp_path):
    folder = tmp_path / "trex"
    folder.mkdir()
    paris = trex_doc(
        "Q90",
        PARIS,
        [
            entity(0, 5, "Paris", "http://www.wikidata.org/entity/Q90"),  # nothing before it
            entity(24, 30, "France", "http://www.wikidata.org/entity/Q142"),
            entity(24, 30, "France", "http://www.wikidata.org/entity/Q142"),  # same span again
            entity(47, 52, "Seine River", "http://www.wikidata.org/entity/Q1471"),  # surfaceform differs
        ],
    )
    berlin = trex_doc(
        "Q64",
        "  Berlin is in Germany.",
        [
            entity(2, 8, "Berlin", "http://www.wikidata.org/entity/Q64"),
            entity(15, 22, "Germany", "http://www.wikidata.org/entity/Q183"),
        ],
    )
    # Written out of name order: a folder is read in sorted order.
    write_trex(folder / "re-nlg_1.json", [berlin])
    write_trex(folder / "re-nlg_0.json", [paris])
    (folder / "notes.txt").write_text("not a T-REx file")
    return folder


def test_read_trex_reads_folder_in_name_order(trex_dir):
    assert [doc["docid"] for doc in read_trex(trex_dir)] == ["Q90", "Q64"]
    assert [doc["docid"] for doc in read_trex([trex_dir / "re-nlg_1.json"])] == ["Q64"]


def test_sample_facts_keeps_eligible_entities_with_their_context(trex_dir):
    with pytest.warns(SampleShortfallWarning, match="re-nlg_0.json"):
        table = sample_facts(trex_dir, n=100, seed=0, allow_fewer=True)

    assert table.schema == sources.FACTS_SCHEMA.with_metadata(table.schema.metadata)
    assert table.to_pylist() == [
        {
            "id": "Q90-1",
            "docid": "Q90",
            "uri": "http://www.wikidata.org/entity/Q142",
            "context": "Paris is the capital of ",
            "entity": "France",
            "start": 24,
        },
        {
            "id": "Q90-3",
            "docid": "Q90",
            "uri": "http://www.wikidata.org/entity/Q1471",
            "context": "Paris is the capital of France. It lies on the ",
            "entity": "Seine",
            "start": 47,
        },
        {
            "id": "Q64-1",
            "docid": "Q64",
            "uri": "http://www.wikidata.org/entity/Q183",
            "context": "  Berlin is in ",
            "entity": "Germany",
            "start": 15,
        },
    ]
    assert sample_info(table)["eligible"] == "3"


@pytest.mark.parametrize("bounds", [[47, 99], [30, 30], [-1, 5], [31, 24]])
def test_sample_facts_names_file_docid_and_entity_of_bad_boundary(tmp_path, bounds):
    doc = trex_doc("Q90", PARIS, [entity(24, 30, "France"), {**entity(0, 1, "x"), "boundaries": bounds}])
    path = write_trex(tmp_path / "bad.json", [doc])

    with pytest.raises(SampleError, match=r"bad\.json: document 'Q90', entity 1"):
        sample_facts([path], n=1, seed=0)


def test_read_trex_refuses_a_file_that_is_not_a_list(tmp_path):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"docid": "Q1"}))

    with pytest.raises(SampleError, match=r"odd\.json"):
        list(read_trex(path))


def test_sample_facts_refuses_repeated_docid(tmp_path):
    doc = trex_doc("Q90", PARIS, [entity(24, 30, "France")])
    first = write_trex(tmp_path / "a.json", [doc])
    second = write_trex(tmp_path / "b.json", [doc])

    with pytest.raises(SampleError, match=r"b\.json: document 'Q90' repeats one in .*a\.json"):
        sample_facts([first, second], n=1, seed=0)


@pytest.fixture
def many_facts(tmp_path):
    words = [f"w{i}" for i in range(40)]
    text = " ".join(words)
    spans, start = [], 0
    for word in words:
        spans.append(entity(start, start + len(word), word))
        start += len(word) + 1
    return write_trex(tmp_path / "many.json", [trex_doc("Q7", text, spans)])


def test_sample_facts_is_seeded_and_byte_identical(many_facts, tmp_path):
    first = sample_facts(many_facts, n=10, seed=0)
    other = sample_facts(many_facts, n=10, seed=1)

    assert first.num_rows == 10
    assert first["id"].to_pylist() != other["id"].to_pylist()
    indices = [int(i.split("-")[1]) for i in first["id"].to_pylist()]
    assert indices == sorted(indices) and 0 not in indices
    assert written_bytes(first, tmp_path / "a.parquet") == written_bytes(
        sample_facts(many_facts, n=10, seed=0), tmp_path / "b.parquet"
    )


# --------------------------------------------------------------------------
# MMLU


def mmlu_rows(subject: str, count: int, answer_cycle: str = "ABCD") -> list[list[str]]:
    return [
        [
            f'{subject} question {i}, with "quotes", commas',
            f"alpha, {i}",
            "beta",
            'say "gamma"',
            "delta",
            answer_cycle[i % 4],
        ]
        for i in range(count)
    ]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def write_mmlu_csv(root: Path, subjects: dict[str, tuple[int, int]]) -> Path:
    for subject, (n_dev, n_test) in subjects.items():
        write_csv(root / "dev" / f"{subject}_dev.csv", mmlu_rows(subject, n_dev))
        write_csv(root / "test" / f"{subject}_test.csv", mmlu_rows(subject, n_test))
    return root


SUBJECTS = {"world_religions": (5, 4), "abstract_algebra": (6, 3)}


def test_read_mmlu_csv_keeps_quoted_fields_and_builds_ids(tmp_path):
    dev, test = read_mmlu_csv(write_mmlu_csv(tmp_path, SUBJECTS))

    assert list(test.columns) == ["id", "subject", "question", "A", "B", "C", "D", "answer"]
    assert test["id"].tolist() == [
        "abstract_algebra-0",
        "abstract_algebra-1",
        "abstract_algebra-2",
        "world_religions-0",
        "world_religions-1",
        "world_religions-2",
        "world_religions-3",
    ]
    assert test.iloc[0].to_dict() == {
        "id": "abstract_algebra-0",
        "subject": "abstract_algebra",
        "question": 'abstract_algebra question 0, with "quotes", commas',
        "A": "alpha, 0",
        "B": "beta",
        "C": 'say "gamma"',
        "D": "delta",
        "answer": "A",
    }
    assert len(dev) == 11 and dev["answer"].tolist()[:5] == ["A", "B", "C", "D", "A"]


def test_read_mmlu_csv_accepts_data_folder(tmp_path):
    write_mmlu_csv(tmp_path / "data", SUBJECTS)

    dev, test = read_mmlu_csv(tmp_path)

    assert len(dev) == 11 and len(test) == 7


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["q", "a", "b", "c", "d", "E"], r"abstract_algebra_test\.csv, row 1 .*answer 'E'"),
        (["q", "a", "b", "c", "A"], r"abstract_algebra_test\.csv, row 1 .*6 columns .* got 5"),
        (["q", "a", "b", "c", "d", "A", "extra"], r"abstract_algebra_test\.csv, row 1 .*got 7"),
    ],
)
def test_read_mmlu_csv_names_file_and_row_of_bad_rows(tmp_path, row, message):
    write_mmlu_csv(tmp_path, SUBJECTS)
    write_csv(tmp_path / "test" / "abstract_algebra_test.csv", [mmlu_rows("x", 1)[0], row])

    with pytest.raises(SampleError, match=message):
        read_mmlu_csv(tmp_path)


def test_read_mmlu_csv_refuses_empty_file(tmp_path):
    write_mmlu_csv(tmp_path, SUBJECTS)
    (tmp_path / "dev" / "world_religions_dev.csv").write_text("")

    with pytest.raises(SampleError, match=r"world_religions_dev\.csv: empty file"):
        read_mmlu_csv(tmp_path)


def test_read_mmlu_csv_refuses_missing_layout(tmp_path):
    with pytest.raises(SampleError, match="dev/ and test/"):
        read_mmlu_csv(tmp_path)


def write_hub_split(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [
            ("question", pa.string()),
            ("subject", pa.string()),
            ("choices", pa.list_(pa.string())),
            ("answer", pa.int64()),
        ]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def hub_rows(subjects: dict[str, tuple[int, int]], split: str) -> list[dict]:
    """The rows the CSV layout would hold, in cais/mmlu's subject order."""
    rows = []
    for subject in sorted(subjects):
        count = subjects[subject][0 if split == "dev" else 1]
        for question, *choices, letter in mmlu_rows(subject, count):
            rows.append({"question": question, "subject": subject, "choices": choices, "answer": "ABCD".index(letter)})
    return rows


def write_mmlu_hub(root: Path, subjects: dict[str, tuple[int, int]]) -> Path:
    for split in ("dev", "test"):
        write_hub_split(root / "all" / f"{split}-00000-of-00001.parquet", hub_rows(subjects, split))
    # Same folder, other splits: must not be picked up.
    write_hub_split(root / "all" / "auxiliary_train-00000-of-00001.parquet", hub_rows({"misc": (1, 1)}, "dev"))
    write_hub_split(root / "all" / "validation-00000-of-00001.parquet", hub_rows({"misc": (1, 1)}, "dev"))
    return root


def test_read_mmlu_hub_matches_csv_layout(tmp_path):
    csv_dev, csv_test = read_mmlu_csv(write_mmlu_csv(tmp_path / "csv", SUBJECTS))
    hub_dev, hub_test = read_mmlu_hub(write_mmlu_hub(tmp_path / "hub", SUBJECTS))

    pd.testing.assert_frame_equal(hub_dev, csv_dev)
    pd.testing.assert_frame_equal(hub_test, csv_test)


def test_read_mmlu_hub_counts_rows_within_subject_across_shards(tmp_path):
    rows = hub_rows(SUBJECTS, "test")
    write_hub_split(tmp_path / "dev-00000-of-00001.parquet", hub_rows(SUBJECTS, "dev"))
    write_hub_split(tmp_path / "test-00000-of-00002.parquet", rows[:2])
    write_hub_split(tmp_path / "test-00001-of-00002.parquet", rows[2:])

    _, test = read_mmlu_hub(tmp_path)

    assert test["id"].tolist()[:4] == [
        "abstract_algebra-0",
        "abstract_algebra-1",
        "abstract_algebra-2",
        "world_religions-0",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"answer": 4}, r"test-00000-of-00001\.parquet, row 1: answer 4"),
        ({"answer": -1}, r"test-00000-of-00001\.parquet, row 1: answer -1"),
        ({"choices": ["a", "b", "c"]}, r"test-00000-of-00001\.parquet, row 1: expected 4 choices"),
    ],
)
def test_read_mmlu_hub_names_file_and_row_of_bad_rows(tmp_path, change, message):
    write_mmlu_hub(tmp_path, SUBJECTS)
    rows = hub_rows(SUBJECTS, "test")
    rows[1].update(change)
    write_hub_split(tmp_path / "all" / "test-00000-of-00001.parquet", rows)

    with pytest.raises(SampleError, match=message):
        read_mmlu_hub(tmp_path)


def test_read_mmlu_hub_refuses_empty_file(tmp_path):
    write_mmlu_hub(tmp_path, SUBJECTS)
    write_hub_split(tmp_path / "all" / "dev-00000-of-00001.parquet", [])

    with pytest.raises(SampleError, match=r"dev-00000-of-00001\.parquet: empty file"):
        read_mmlu_hub(tmp_path)


SHOT_1 = {"question": "What is 1 + 1?", "A": "1", "B": "2", "C": "3", "D": "4", "answer": "B"}
SHOT_2 = {
    "question": 'Which, of "these", moves?',
    "A": "a rock",
    "B": "a car",
    "C": "a wall",
    "D": "a hill",
    "answer": "B",
}
QUESTION = {"question": "Which is heavier?", "A": "a feather", "B": "a brick", "C": "air", "D": "light", "answer": "B"}
EXPECTED_PROMPT = (
    "The following are multiple choice questions (with answers) about high school physics.\n\n"
    "What is 1 + 1?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer: B\n\n"
    'Which, of "these", moves?\nA. a rock\nB. a car\nC. a wall\nD. a hill\nAnswer: B\n\n'
    "Which is heavier?\nA. a feather\nB. a brick\nC. air\nD. light\nAnswer:"
)


def test_mmlu_prompt_is_hendrycks_format():
    assert format_subject("high_school_physics") == "high school physics"
    assert format_example(SHOT_1) == "What is 1 + 1?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer: B\n\n"
    assert format_example(QUESTION, include_answer=False).endswith("D. light\nAnswer:")
    assert build_prompt("high_school_physics", [SHOT_1, SHOT_2], QUESTION) == EXPECTED_PROMPT


def mmlu_frame(subject: str, rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"id": f"{subject}-{i}", "subject": subject, **row} for i, row in enumerate(rows)],
        columns=sources.MMLU_COLUMNS,
    )


def test_build_mmlu_writes_the_exact_prompt():
    dev = mmlu_frame("high_school_physics", [SHOT_1, SHOT_2, {**SHOT_1, "question": "unused"}])
    test = mmlu_frame("high_school_physics", [QUESTION])

    table = build_mmlu(dev, test, n_shots=2)

    assert table.schema.names == ["id", "subject", "question", "A", "B", "C", "D", "answer", "prompt", "shots"]
    assert table.to_pylist() == [
        {
            "id": "high_school_physics-0",
            "subject": "high_school_physics",
            **QUESTION,
            "prompt": EXPECTED_PROMPT,
            "shots": json.dumps([format_example(SHOT_1), format_example(SHOT_2)]),
        }
    ]


def test_build_mmlu_uses_first_dev_rows_of_the_same_subject(tmp_path):
    dev, test = read_mmlu_csv(write_mmlu_csv(tmp_path, SUBJECTS))

    table = build_mmlu(dev, test, n_shots=5)

    assert table["id"].to_pylist() == test["id"].tolist()
    row = table.to_pylist()[-1]
    shots = dev[dev["subject"] == "world_religions"].head(5).to_dict("records")
    assert row["prompt"] == build_prompt("world_religions", shots, row)
    assert row["prompt"].count("world_religions question") == 6
    assert "abstract_algebra question" not in row["prompt"]
    assert sample_info(table) == {
        "requested": "all",
        "eligible": "7",
        "seed": "0",
        "n_shots": "5",
        "prompt": "hendrycks",
    }


def test_build_mmlu_refuses_subject_with_too_few_dev_examples(tmp_path):
    write_mmlu_csv(tmp_path, SUBJECTS)
    write_csv(tmp_path / "dev" / "world_religions_dev.csv", mmlu_rows("world_religions", 3))
    dev, test = read_mmlu_csv(tmp_path)

    with pytest.raises(SampleError, match=r"'world_religions' has 3 dev examples .*world_religions_dev\.csv"):
        build_mmlu(dev, test, n_shots=5)
    assert build_mmlu(dev, test, n_shots=3).num_rows == 7


def test_build_mmlu_refuses_test_subject_without_dev_file(tmp_path):
    write_mmlu_csv(tmp_path, SUBJECTS)
    write_csv(tmp_path / "test" / "anatomy_test.csv", mmlu_rows("anatomy", 2))
    dev, test = read_mmlu_csv(tmp_path)

    with pytest.raises(SampleError, match="'anatomy' has 0 dev examples"):
        build_mmlu(dev, test)


def test_build_mmlu_samples_seeded_and_byte_identical(tmp_path):
    dev, test = read_mmlu_csv(write_mmlu_csv(tmp_path / "mmlu", {"anatomy": (5, 40), "virology": (5, 40)}))

    first = build_mmlu(dev, test, n=10, seed=0)
    other = build_mmlu(dev, test, n=10, seed=1)

    assert first.num_rows == 10
    assert first["id"].to_pylist() != other["id"].to_pylist()
    order = test["id"].tolist()
    assert first["id"].to_pylist() == sorted(first["id"].to_pylist(), key=order.index)
    assert written_bytes(first, tmp_path / "a.parquet") == written_bytes(
        build_mmlu(dev, test, n=10, seed=0), tmp_path / "b.parquet"
    )
