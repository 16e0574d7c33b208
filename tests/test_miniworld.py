"""The miniature world: determinism, file formats, and the leakage rules the study relies on."""

from __future__ import annotations

import csv
import json
import re
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from llmcal.data.miniworld import PILE_SETS, WorldConfig, generate_world

CFG = WorldConfig.tiny()


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    summary = generate_world(out, CFG)
    return out, summary


@pytest.fixture(scope="module")
def world(world_dir):
    return json.loads((world_dir[0] / "world.json").read_text())


@pytest.fixture(scope="module")
def train(world_dir):
    return _jsonl(world_dir[0] / "corpus" / "train.jsonl")


@pytest.fixture(scope="module")
def trex(world_dir):
    docs = []
    for p in sorted((world_dir[0] / "trex").glob("trex_*.json")):
        docs += json.loads(p.read_text())
    return docs


def _mmlu_rows(root: Path, split: str) -> dict[str, list[list[str]]]:
    out = {}
    for p in sorted((root / "mmlu" / "data" / split).glob(f"*_{split}.csv")):
        with p.open(newline="", encoding="utf-8") as fh:
            out[p.name[: -len(f"_{split}.csv")]] = list(csv.reader(fh))
    return out


def test_same_config_gives_identical_files(world_dir, tmp_path):
    again = tmp_path / "again"
    generate_world(again, CFG)
    a, b = _files(world_dir[0]), _files(again)
    assert list(a) == list(b)
    assert "corpus/train.jsonl" in a and "world.json" in a
    for name in a:
        assert a[name] == b[name], name


def test_other_seed_differs(world_dir, tmp_path):
    other = tmp_path / "other"
    generate_world(other, WorldConfig.tiny(seed=CFG.seed + 1))
    a, b = _files(world_dir[0]), _files(other)
    for name in (
        "corpus/train.jsonl",
        "pile/val.jsonl",
        "world.json",
        "trex/trex_00.json",
        "mmlu/data/test/geography_test.csv",
    ):
        assert a[name] != b[name], name


def test_layout_and_summary(world_dir):
    root, summary = world_dir
    subjects = set(CFG.subjects)
    assert {p.name for p in (root / "mmlu/data/test").iterdir()} == {f"{s}_test.csv" for s in subjects}
    assert {p.name for p in (root / "mmlu/data/dev").iterdir()} == {f"{s}_dev.csv" for s in subjects}
    shards = sorted(p.name for p in (root / "trex").iterdir())
    assert shards == ["trex_00.json", "trex_01.json"]  # 30 docs, 20 a file
    assert summary["trex_docs"] == CFG.n_trex_docs and summary["trex_files"] == 2
    assert summary["pile_val_docs"] == CFG.n_val_docs and summary["pile_test_docs"] == CFG.n_test_docs
    assert summary["train_docs"] >= CFG.n_train_docs
    assert 30_000 < summary["bytes"]["corpus/train.jsonl"] < 150_000  # the tiny world stays tiny
    assert summary["train_mentions_min"] >= CFG.min_mentions


@pytest.mark.parametrize("name", ["corpus/train.jsonl", "pile/val.jsonl", "pile/test.jsonl"])
def test_pile_jsonl_format(world_dir, name):
    docs = _jsonl(world_dir[0] / name)
    assert docs
    for d in docs:
        assert set(d) == {"text", "meta"}
        assert isinstance(d["text"], str) and d["text"] == d["text"].strip()
        assert d["meta"]["pile_set_name"] in PILE_SETS
        assert CFG.min_doc_chars <= len(d["text"]) <= CFG.max_doc_chars
    assert len({d["meta"]["pile_set_name"] for d in docs}) >= 2


def test_heldout_docs_are_not_training_docs(world_dir, train):
    seen = {d["text"] for d in train}
    val = [d["text"] for d in _jsonl(world_dir[0] / "pile" / "val.jsonl")]
    test = [d["text"] for d in _jsonl(world_dir[0] / "pile" / "test.jsonl")]
    assert not seen & set(val)
    assert not seen & set(test)
    assert not set(val) & set(test)
    assert len(set(val)) == len(val) and len(set(test)) == len(test)


def test_trex_boundaries(trex):
    assert len(trex) == CFG.n_trex_docs
    at_zero = 0
    for d in trex:
        assert {
            "docid",
            "title",
            "uri",
            "text",
            "sentences_boundaries",
            "words_boundaries",
            "entities",
            "triples",
        } <= set(d)
        text = d["text"]
        prev_end = 0
        for s, e in d["sentences_boundaries"]:
            assert prev_end <= s < e <= len(text)
            assert text[s:e].strip() == text[s:e] and text[e - 1] == "."
            prev_end = e
        for s, e in d["words_boundaries"]:
            assert 0 <= s < e <= len(text) and not text[s:e].isspace() and " " not in text[s:e]
        assert len(d["entities"]) >= 2
        for ent in d["entities"]:
            s, e = ent["boundaries"]
            assert 0 <= s < e <= len(text)
            assert text[s:e] == ent["surfaceform"]
            # Entities are whole words: a first-token task must not start mid-word.
            assert (s == 0 or not text[s - 1].isalnum()) and (e == len(text) or not text[e].isalnum())
            at_zero += s == 0
        for t in d["triples"]:
            assert 0 <= t["sentence_id"] < len(d["sentences_boundaries"])
            ss, se = d["sentences_boundaries"][t["sentence_id"]]
            for part in ("subject", "object"):
                s, e = t[part]["boundaries"]
                assert ss <= s < e <= se and text[s:e] == t[part]["surfaceform"]
            assert t["predicate"]["uri"].startswith("http://www.wikidata.org/prop/direct/P")
    assert at_zero >= len(trex) // 3  # abstracts open with their subject


def test_trex_triples_are_world_facts(trex, world):
    by_uri = {e["uri"]: e for e in world["entities"]}
    pid = {r["name"]: r["pid"] for r in world["relations"]}
    known = {(f["subject"], pid[f["relation"]], f["object"]) for f in world["facts"]}
    n = 0
    for d in trex:
        assert d["uri"] in by_uri and d["title"] == by_uri[d["uri"]]["name"]
        for t in d["triples"]:
            triple = (
                by_uri[t["subject"]["uri"]]["id"],
                t["predicate"]["uri"].rsplit("/", 1)[1],
                by_uri[t["object"]["uri"]]["id"],
            )
            assert triple in known
            n += 1
    assert n >= len(trex) * 2


def test_trex_wording_is_not_in_training(trex, train):
    corpus = "\n".join(d["text"] for d in train)
    for d in trex:
        for s, e in d["sentences_boundaries"]:
            assert d["text"][s:e] not in corpus


def test_mmlu_csvs_match_world_facts(world_dir, world):
    root = world_dir[0]
    facts = {f["id"]: f for f in world["facts"]}
    entities = {e["id"]: e for e in world["entities"]}
    kinds = {e["name"]: e["kind"] for e in world["entities"]}
    assert len(kinds) == len(entities)  # a surface form names one entity
    for split, n in (("test", CFG.mmlu_test_per_subject), ("dev", CFG.mmlu_dev_per_subject)):
        rows = _mmlu_rows(root, split)
        assert set(rows) == set(CFG.subjects)
        for subject, qs in rows.items():
            recorded = world["mmlu"][subject][split]
            assert len(qs) == len(recorded) == n
            letters = Counter()
            for row, rec in zip(qs, recorded):
                assert len(row) == 6
                question, *choices, answer = row
                assert answer in "ABCD"
                letters[answer] += 1
                fact = facts[rec["fact"]]
                assert question == rec["question"] and fact["subject_name"] in question
                assert choices[" ABCD".index(answer) - 1] == fact["object_name"]
                assert len(set(choices)) == 4
                kind = entities[fact["object"]]["kind"]
                assert all(kinds[c] == kind for c in choices)  # distractors of the right type
                assert fact["mmlu"] == f"{subject}/{split}"
            assert max(letters.values()) - min(letters.get(L, 0) for L in "ABCD") <= 1


def test_mmlu_csv_quoting_roundtrips(world_dir):
    # A question with a comma must survive: the file is read by csv/pandas, not split on commas.
    path = next((world_dir[0] / "mmlu/data/test").glob("*.csv"))
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert all(len(r) == 6 for r in rows)


def test_test_facts_are_in_prose_but_their_questions_are_not(world_dir, world, train):
    prose = [d["text"] for d in train if d["meta"]["pile_set_name"] != "MiniExams"]
    sentences = [s for t in prose for s in re.split(r"(?<=[.?])\s+|\n", t)]
    corpus = "\n".join(d["text"] for d in train)
    facts = {f["id"]: f for f in world["facts"]}
    for subject in CFG.subjects:
        test_ids = {q["fact"] for q in world["mmlu"][subject]["test"]}
        quiz_ids = set(world["mmlu"][subject]["quiz_facts"])
        dev_ids = {q["fact"] for q in world["mmlu"][subject]["dev"]}
        assert quiz_ids and not test_ids & quiz_ids and not test_ids & dev_ids and not dev_ids & quiz_ids
        for q in world["mmlu"][subject]["test"]:
            f = facts[q["fact"]]
            assert f["train_mentions"] >= CFG.min_mentions
            assert any(f["subject_name"] in s and f["object_name"] in s for s in sentences), f
            assert q["question"] not in corpus


def test_quiz_text_teaches_the_mmlu_format(train, world):
    quizzes = [d["text"] for d in train if d["meta"]["pile_set_name"] == "MiniExams"]
    assert quizzes
    block = re.compile(r"(.+\?)\nA\. (.+)\nB\. (.+)\nC\. (.+)\nD\. (.+)\nAnswer: ([ABCD])")
    facts = {f["id"]: f for f in world["facts"]}
    quiz_objects = {}
    for s in CFG.subjects:
        for i in world["mmlu"][s]["quiz_facts"]:
            quiz_objects.setdefault(facts[i]["subject_name"], set()).add(facts[i]["object_name"])
    for text in quizzes:
        head, _, body = text.partition("\n\n")
        assert re.fullmatch(r"The following are multiple choice questions \(with answers\) about \w+\.", head)
        found = block.findall(body)
        assert found and len(found) == body.count("Answer:")
        for question, *choices, answer in found:
            # The right answer of each quiz question is a quiz fact's object.
            subj = next(n for n in quiz_objects if n in question)
            assert choices["ABCD".index(answer)] in quiz_objects[subj]


def test_fact_frequency_is_skewed_by_popularity(world):
    # Even the tiny world (where the min_mentions top-up flattens the tail) keeps a heavy head.
    counts = sorted(f["train_mentions"] for f in world["facts"])
    assert counts[-1] >= 3 * counts[len(counts) // 2]
    by_weight = sorted(world["facts"], key=lambda f: f["weight"])
    q = len(by_weight) // 4
    rare = sum(f["train_mentions"] for f in by_weight[:q])
    common = sum(f["train_mentions"] for f in by_weight[-q:])
    assert common >= 1.5 * rare


def test_config_validation():
    with pytest.raises(ValueError):
        WorldConfig(mmlu_dev_per_subject=4)
    with pytest.raises(ValueError):
        WorldConfig(subjects=("astrology",))
    with pytest.raises(ValueError):
        generate_world(Path("/nonexistent"), replace(WorldConfig.tiny(), mmlu_test_per_subject=500))


def test_default_world_sizes(tmp_path):
    t0 = time.perf_counter()
    s = generate_world(tmp_path, WorldConfig())
    elapsed = time.perf_counter() - t0
    assert elapsed < 20
    assert 1_500_000 <= s["bytes"]["corpus/train.jsonl"] <= 3_000_000
    assert s["pile_val_docs"] >= 1000 and s["pile_test_docs"] >= 1000
    assert s["trex_docs"] >= 1000 and s["trex_entities"] >= 4 * s["trex_docs"]
    for counts in s["mmlu"].values():
        assert 50 <= counts["test"] <= 150 and counts["dev"] >= 5


def _before_object(template: str) -> tuple[str, ...]:
    """The two words right before a template's object slot, lower-cased."""
    head = re.split(r"\{a?o\}", template)[0].replace("{s}", "SUBJECT")  # the subject slot counts as a word
    return tuple(re.findall(r"[a-z]+", head.lower())[-2:])


def test_trex_sentences_are_new_but_their_object_phrases_are_corpus_phrases():
    # A learnability precondition of the facts task: T-REx sentences are never corpus sentences, yet the words
    # right before the object are a phrase the corpus uses for that relation (real abstracts use the relation
    # phrases a model has read). Without it the task asks for paraphrase knowledge a tiny model cannot have.
    from llmcal.data.miniworld import RELATIONS

    for rel in RELATIONS:
        assert rel.trex[0].startswith(("{s}", "The {s}")), rel.name
        corpus_phrases = {_before_object(t) for t in rel.train}
        for t in rel.trex:
            assert t not in rel.train, (rel.name, t)
            assert _before_object(t) in corpus_phrases, (rel.name, t, sorted(corpus_phrases))
