"""Each input format users hold, written here in that exact format, and each way it can be broken.

A file that cannot be read whole and correctly is an error naming the file and where in it; a sample
smaller than asked for is an error unless the config allows it, and the counts are in its metadata.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import zstandard

from llmcal import pipeline
from llmcal.data import instructions as ins
from llmcal.data import sources
from llmcal.data.download import DownloadError, url_file
from llmcal.data.sources import SampleError, SampleShortfallWarning, sample_info


def pile_lines(n: int, prefix: str = "document") -> bytes:
    return "".join(
        json.dumps({"text": f"{prefix} {i} " * 20, "meta": {"pile_set_name": "Pile-CC"}}) + "\n" for i in range(n)
    ).encode()


# --------------------------------------------------------------------------
# Compressed files: truncated or corrupt is an error, never fewer records


def test_truncated_pile_zst_is_an_error_naming_file_and_byte(tmp_path):
    data = zstandard.ZstdCompressor().compress(pile_lines(200))
    path = tmp_path / "val.jsonl.zst"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(
        SampleError,
        match=rf"{path}: truncated or corrupt zstd data: the file ends inside a frame "
        rf"\(at compressed byte {len(data) // 2}\); download it again",
    ):
        sources.sample_clm({"val": path}, n=5, seed=0)


def test_pile_zst_cut_at_the_header_is_not_an_empty_sample(tmp_path):
    data = zstandard.ZstdCompressor().compress(pile_lines(3))
    path = tmp_path / "val.jsonl.zst"
    path.write_bytes(data[:6])
    with pytest.raises(SampleError, match="val.jsonl.zst: truncated or corrupt zstd data"):
        list(sources.read_pile(path))


def test_corrupt_pile_zst_names_file_and_compressed_bytes(tmp_path):
    data = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(pile_lines(50)))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "test.jsonl.zst"
    path.write_bytes(bytes(data))
    with pytest.raises(SampleError, match=r"test\.jsonl\.zst: corrupt zstd data in the compressed bytes 0-\d+"):
        list(sources.read_pile(path))


def test_multi_frame_zst_reads_every_frame(tmp_path):
    compressor = zstandard.ZstdCompressor()
    path = tmp_path / "val.jsonl.zst"
    path.write_bytes(compressor.compress(pile_lines(3, "first")) + compressor.compress(pile_lines(2, "second")))
    texts = [r["text"].split()[0] for r in sources.read_pile(path)]
    assert texts == ["first"] * 3 + ["second"] * 2


def test_truncated_pile_gz_names_file_and_line(tmp_path):
    data = gzip.compress(pile_lines(200), mtime=0)
    path = tmp_path / "val.jsonl.gz"
    path.write_bytes(data[: len(data) - 20])
    with pytest.raises(
        SampleError,
        match=rf"{path}: truncated or corrupt gzip data after line \d+ "
        r"\(decompressed byte \d+\): .*download it again",
    ):
        sources.sample_clm({"val": path}, n=5, seed=0)


def test_truncated_trex_zip_download_is_an_error(tmp_path):
    archive = tmp_path / "trex.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("re-nlg_0.json", json.dumps([{"docid": "Q1", "text": "x " * 5000, "entities": []}]))
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])

    with pytest.raises(
        DownloadError,
        match=r"trex\.zip: the downloaded archive is truncated or corrupt "
        r"\(BadZipFile: a zip file without its central directory",
    ):
        url_file(archive.as_uri(), tmp_path / "out", unzip=True)


def test_corrupt_zip_member_is_an_error_naming_it(tmp_path):
    archive = tmp_path / "trex.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("re-nlg_0.json", "[" + " " * 1000 + "]")
    data = bytearray(archive.read_bytes())
    data[100] = ord("x")  # inside the stored member's bytes
    archive.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match=r"member 're-nlg_0\.json' fails its CRC check"):
        url_file(archive.as_uri(), tmp_path / "out", unzip=True)


def test_truncated_tar_download_is_an_error(tmp_path):
    archive = tmp_path / "data.tar"
    with tarfile.open(archive, "w") as tf:
        payload = b"q,a,b,c,d,A\n" * 5000
        info = tarfile.TarInfo("data/test/x_test.csv")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    data = archive.read_bytes()
    archive.write_bytes(data[:30000])
    with pytest.raises(
        DownloadError,
        match=r"data\.tar: the downloaded archive is truncated or corrupt "
        r"\(ReadError: unexpected end of data\)",
    ):
        url_file(archive.as_uri(), tmp_path / "out", unzip=True)


# --------------------------------------------------------------------------
# Invalid UTF-8 names the file and the byte; a folder is not a file and back


def test_invalid_utf8_in_pile_jsonl_names_byte_offset(tmp_path):
    first = b'{"text": "fine"}\n'
    path = tmp_path / "val.jsonl"
    path.write_bytes(first + b'{"text": "caf\xe9"}\n')
    with pytest.raises(SampleError, match=rf"{path}: invalid UTF-8 at byte {len(first) + 13} \(b'\\xe9"):
        list(sources.read_pile(path))


def test_invalid_utf8_in_gz_counts_decompressed_bytes(tmp_path):
    path = tmp_path / "val.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "ok"}\n{"text": "\xff"}\n'))
    with pytest.raises(SampleError, match=r"val\.jsonl\.gz: invalid UTF-8 at byte 25 of the decompressed data"):
        list(sources.read_pile(path))


def test_invalid_utf8_in_trex_mmlu_alpaca_comparison(tmp_path):
    trex = tmp_path / "re-nlg_0.json"
    data = b'[{"docid": "Q1", "text": "M\xfcnchen", "entities": []}]'
    trex.write_bytes(data)
    assert data.index(b"\xfc") == 27
    with pytest.raises(SampleError, match=rf"{trex}: invalid UTF-8 at byte 27 \(b'\\xfcnch'\); the file must be UTF-8"):
        list(sources.read_trex(trex))

    root = tmp_path / "mmlu"
    for split in ("dev", "test"):
        (root / split).mkdir(parents=True)
        (root / split / f"anatomy_{split}.csv").write_bytes(b"q,a,b,c,d,A\nq\x80,a,b,c,d,B\n")
    with pytest.raises(SampleError, match=r"anatomy_dev\.csv: invalid UTF-8 at byte 13"):
        sources.read_mmlu_csv(root)

    alpaca = tmp_path / "alpaca_data.json"
    alpaca.write_bytes(b'[{"instruction": "\xc3", "input": "", "output": "o"}]')
    with pytest.raises(SampleError, match=rf"{alpaca}: invalid UTF-8 at byte 18"):
        ins.read_alpaca(alpaca)

    comparison = tmp_path / "comparison_data_v2.json"
    comparison.write_bytes(b'[{"user_input": "\xed\xa0\x80"}]')
    with pytest.raises(SampleError, match=rf"{comparison}: invalid UTF-8 at byte 17"):
        ins.read_comparison(comparison)


def test_folder_where_a_file_is_expected(tmp_path):
    folder = tmp_path / "val.jsonl.zst"
    folder.mkdir()
    with pytest.raises(SampleError, match=rf"{folder}: is a folder, but a jsonl file is read from a file here"):
        sources.sample_clm({"val": folder}, n=1, seed=0)
    with pytest.raises(SampleError, match=r"comparison\.json: is a folder"):
        (tmp_path / "comparison.json").mkdir()
        ins.read_comparison(tmp_path / "comparison.json")


def test_file_where_a_folder_is_expected(tmp_path):
    path = tmp_path / "mmlu.csv"
    path.write_text("q,a,b,c,d,A\n")
    with pytest.raises(SampleError, match=rf"{path}: is a file, but MMLU is read from a folder here"):
        sources.read_mmlu(path)
    with pytest.raises(SampleError, match=rf"{tmp_path / 'nowhere'}: no such folder \(MMLU\)"):
        sources.read_mmlu(tmp_path / "nowhere")
    with pytest.raises(SampleError, match=r"missing\.jsonl: no such file"):
        list(sources.read_pile(tmp_path / "missing.jsonl"))


def test_an_archive_is_not_read_as_data(tmp_path):
    archive = tmp_path / "TREx.zip"
    archive.write_bytes(b"PK\x03\x04")
    with pytest.raises(SampleError, match=r"TREx\.zip: is an archive; unpack it"):
        sources.sample_facts(archive, n=1, seed=0)


# --------------------------------------------------------------------------
# Fewer rows than asked for


def test_pile_sample_with_no_eligible_document_fails(tmp_path):
    path = tmp_path / "val.jsonl"
    path.write_text('{"text": "short"}\n{"text": ""}\n')
    with pytest.raises(
        SampleError,
        match=rf"Pile sample: no eligible items in {path} \(\d+ B\) "
        r"\(2 records read, 2 shorter than min_chars=200 characters dropped\)",
    ):
        sources.sample_clm({"val": path}, n=5, seed=0, min_chars=200)


def test_empty_pile_file_fails(tmp_path):
    path = tmp_path / "val.jsonl.zst"
    path.write_bytes(b"")
    with pytest.raises(SampleError, match=r"Pile sample: no eligible items .*\(0 records read"):
        sources.sample_clm({"val": path}, n=5, seed=0)


def test_pile_shortfall_needs_allow_fewer(tmp_path, caplog):
    path = tmp_path / "val.jsonl"
    path.write_bytes(pile_lines(3) + b'{"text": "tiny"}\n')
    with pytest.raises(
        SampleError,
        match=r"Pile sample: asked for 10 items but only 3 are eligible in .*val\.jsonl "
        r"\(\d+ B\) \(4 records read, 1 shorter than min_chars=100 characters "
        r"dropped\); set data\.clm\.allow_fewer: true to accept a sample of 3",
    ):
        sources.sample_clm({"val": path}, n=10, seed=0, min_chars=100)

    with caplog.at_level(logging.WARNING), pytest.warns(SampleShortfallWarning):
        table = sources.sample_clm({"val": path}, n=10, seed=0, min_chars=100, allow_fewer=True)
    assert "data.clm.allow_fewer is true, so the sample holds all 3" in caplog.text
    info = sample_info(table)
    assert (info["requested"], info["eligible"], info["n"], info["allow_fewer"]) == ("10", "3", "3", "True")


def test_sample_job_reads_allow_fewer_from_the_task_config(tmp_path):
    path = tmp_path / "val.jsonl"
    path.write_bytes(pile_lines(2))
    out = tmp_path / "clm.parquet"
    read = {"files": {"val": str(path)}}
    with pytest.raises(SampleError, match=r"set data\.clm\.allow_fewer: true"):
        pipeline.sample_job("clm", read, {"n": 5, "min_chars": 10}, 0, str(out))
    assert not out.exists()
    with pytest.warns(SampleShortfallWarning):
        pipeline.sample_job("clm", read, {"n": 5, "min_chars": 10, "allow_fewer": True}, 0, str(out))
    info = sample_info(pq.read_table(out))
    assert (info["requested"], info["eligible"], info["n"]) == ("5", "2", "2")


def mmlu_csv(root: Path, n_test: int = 2) -> Path:
    for split, rows in (("dev", 5), ("test", n_test)):
        (root / "data" / split).mkdir(parents=True, exist_ok=True)
        lines = "".join(f"Q{split}{i}?,a{i},b{i},c{i},d{i},{'ABCD'[i % 4]}\n" for i in range(rows))
        (root / "data" / split / f"anatomy_{split}.csv").write_text(lines)
    return root


def test_mmlu_sample_job_shortfall_names_its_key(tmp_path):
    root = mmlu_csv(tmp_path / "mmlu")
    out = tmp_path / "mmlu.parquet"
    with pytest.raises(
        SampleError,
        match=r"MMLU sample: asked for 5 items but only 2 are eligible .*anatomy_test\.csv"
        r".*set data\.mmlu\.allow_fewer: true",
    ):
        pipeline.sample_job("mmlu", {"root": str(root), "layout": "auto"}, {"n": 5}, 0, str(out))
    with pytest.warns(SampleShortfallWarning):
        pipeline.sample_job("mmlu", {"root": str(root), "layout": "auto"}, {"n": 5, "allow_fewer": True}, 0, str(out))
    info = sample_info(pq.read_table(out))
    assert (info["requested"], info["eligible"], info["n"], info["allow_fewer"]) == ("5", "2", "2", "True")


# --------------------------------------------------------------------------
# MMLU: both layouts, local too, detected from the files present


def mmlu_hub(root: Path) -> Path:
    (root / "all").mkdir(parents=True)
    for split, rows in (("dev", 5), ("test", 2)):
        frame = pd.DataFrame(
            {
                "question": [f"Q{split}{i}?" for i in range(rows)],
                "subject": "anatomy",
                "choices": [[f"a{i}", f"b{i}", f"c{i}", f"d{i}"] for i in range(rows)],
                "answer": [i % 4 for i in range(rows)],
            }
        )
        frame.to_parquet(root / "all" / f"{split}-00000-of-00001.parquet", index=False)
    return root


def test_mmlu_layout_is_detected_and_both_give_the_same_questions(tmp_path):
    csv_root, hub_root = mmlu_csv(tmp_path / "csv"), mmlu_hub(tmp_path / "hub")
    assert sources.mmlu_layout(csv_root) == "csv"
    assert sources.mmlu_layout(hub_root) == "hub"
    outs = []
    for root in (csv_root, hub_root):
        out = tmp_path / f"{root.name}.parquet"
        pipeline.sample_job("mmlu", {"root": str(root), "layout": "auto"}, {"n_shots": 2}, 0, str(out))
        outs.append(pq.read_table(out).to_pylist())
    assert outs[0] == outs[1]
    assert [r["id"] for r in outs[0]] == ["anatomy-0", "anatomy-1"]


def test_mmlu_folder_of_neither_layout_lists_the_supported_ones(tmp_path):
    (tmp_path / "anatomy_test.csv").write_text("q,a,b,c,d,A\n")
    with pytest.raises(
        SampleError,
        match=rf"{tmp_path}: no MMLU files found; supported layouts: csv: Hendrycks' "
        r"data\.tar.*; hub: the cais/mmlu parquet",
    ):
        sources.read_mmlu(tmp_path)


# --------------------------------------------------------------------------
# T-REx documents: entity annotators


def trex_doc(docid: str, text: str, entities: list[tuple[str, str, str]]) -> dict:
    """entities: (surface, annotator, uri), each found at its first occurrence in text."""
    ents = []
    for surface, annotator, uri in entities:
        start = text.index(surface)
        ents.append(
            {"uri": uri, "boundaries": [start, start + len(surface)], "surfaceform": surface, "annotator": annotator}
        )
    return {
        "docid": docid,
        "uri": f"http://www.wikidata.org/entity/{docid}",
        "title": docid,
        "text": text,
        "sentences_boundaries": [[0, len(text)]],
        "words_boundaries": [],
        "entities": ents,
        "triples": [],
    }


Q = "http://www.wikidata.org/entity/"
AUSTEN = "Jane Austen was born in Steventon in 1775. She wrote Emma. It was published"


def austen_file(tmp_path: Path, extra: list | None = None) -> Path:
    doc = trex_doc(
        "Q36322",
        AUSTEN,
        [
            ("Jane Austen", "Wikidata_Spotlight_Entity_Linker", Q + "Q36322"),
            ("Steventon", "Wikidata_Spotlight_Entity_Linker", Q + "Q1330364"),
            ("1775", "Date_Linker", '"1775-00-00T00:00:00Z"^^xsd:dateTime'),
            ("She", "Simple_Coreference", Q + "Q36322"),
            ("Emma", "Wikidata_Spotlight_Entity_Linker", Q + "Q217406"),
            ("It", "Simple_Coreference", Q + "Q217406"),
            ("born", "Wikidata_Property_Linker", "http://www.wikidata.org/prop/direct/P19"),
            *(extra or []),
        ],
    )
    path = tmp_path / "re-nlg_0-10000.json"
    path.write_text(json.dumps([doc]))
    return path


def test_coreference_pronouns_are_not_targets_and_are_counted(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        table = sources.sample_facts(austen_file(tmp_path), n=3, seed=0)

    assert [(r["id"], r["entity"], r["context"]) for r in table.to_pylist()] == [
        ("Q36322-1", "Steventon", "Jane Austen was born in "),
        ("Q36322-2", "1775", "Jane Austen was born in Steventon in "),
        ("Q36322-4", "Emma", "Jane Austen was born in Steventon in 1775. She wrote "),
    ]
    info = sample_info(table)
    assert json.loads(info["annotators.kept"]) == {"Date_Linker": 1, "Wikidata_Spotlight_Entity_Linker": 3}
    assert json.loads(info["annotators.dropped"]) == {"Simple_Coreference": 2, "Wikidata_Property_Linker": 1}
    assert (info["requested"], info["eligible"], info["n"]) == ("3", "3", "3")
    assert "T-REx entity annotations: kept {'Date_Linker': 1, 'Wikidata_Spotlight_Entity_Linker': 3}" in caplog.text


def test_annotators_are_configurable(tmp_path):
    table = sources.sample_facts(
        austen_file(tmp_path), n=2, seed=0, annotators=["Simple_Coreference"], allow_fewer=True
    )
    assert [r["entity"] for r in table.to_pylist()] == ["She", "It"]


def test_unknown_annotator_is_an_error_unless_listed(tmp_path):
    path = austen_file(tmp_path, [("Emma", "My_Linker", Q + "Q217406")])
    with pytest.raises(
        SampleError,
        match=rf"{path}: document 'Q36322', entity 7: annotator 'My_Linker' is not a "
        r"known T-REx entity annotator .*list it in data\.facts\.annotators",
    ):
        sources.sample_facts(path, n=1, seed=0)
    table = sources.sample_facts(
        path, n=3, seed=0, annotators=["Wikidata_Spotlight_Entity_Linker", "Date_Linker", "My_Linker"]
    )
    # My_Linker's Emma repeats a span already kept: it counts once.
    assert [r["entity"] for r in table.to_pylist()] == ["Steventon", "1775", "Emma"]
    assert json.loads(sample_info(table)["annotators.kept"])["My_Linker"] == 1


def test_facts_shortfall_says_what_was_dropped(tmp_path):
    with pytest.raises(
        SampleError,
        match=r"T-REx sample: asked for 10 items but only 3 are eligible .*re-nlg_0-10000"
        r"\.json \([\d.]+ k?B\) \(1 documents; entity annotations kept by annotator "
        r"\{'Date_Linker': 1, 'Wikidata_Spotlight_Entity_Linker': 3\}, dropped "
        r"\{'Simple_Coreference': 2, 'Wikidata_Property_Linker': 1\}.*set "
        r"data\.facts\.allow_fewer: true",
    ):
        sources.sample_facts(austen_file(tmp_path), n=10, seed=0)


# --------------------------------------------------------------------------
# LAMA's T-REx probe


def lama_line(uuid: str, sub: str, obj: str, sentences: list[str], obj_uri: str = "Q1") -> str:
    evidences = [{"sub_surface": sub, "obj_surface": obj, "masked_sentence": s} for s in sentences]
    return json.dumps(
        {
            "uuid": uuid,
            "obj_uri": obj_uri,
            "obj_label": obj,
            "sub_uri": "Q2",
            "sub_label": sub,
            "predicate_id": "P19",
            "evidences": evidences,
        }
    )


def test_lama_trex_context_is_the_text_before_mask(tmp_path):
    folder = tmp_path / "TREx"
    folder.mkdir()
    (folder / "P19.jsonl").write_text(
        "\n".join(
            [
                lama_line(
                    "u1", "Jane Austen", "Steventon", ["Jane Austen was born in [MASK] , Hampshire ."], "Q1330364"
                ),
                lama_line("u2", "Emma", "London", ["[MASK] is where Emma appeared .", "Emma was printed in [MASK] ."]),
                lama_line("u3", "X", "Paris", ["[MASK] only ."]),
            ]
        )
        + "\n"
    )

    table = sources.sample_facts(folder, n=2, seed=0, format="lama_trex")

    assert table.schema.names == sources.FACTS_SCHEMA.names
    assert table.to_pylist() == [
        {
            "id": "u1",
            "docid": "P19",
            "uri": "Q1330364",
            "context": "Jane Austen was born in ",
            "entity": "Steventon",
            "start": 24,
        },
        {"id": "u2", "docid": "P19", "uri": "Q1", "context": "Emma was printed in ", "entity": "London", "start": 20},
    ]
    info = sample_info(table)
    assert (info["format"], info["facts"], info["eligible"], info["skipped.no_left_context"]) == (
        "lama_trex",
        "3",
        "2",
        "1",
    )


def test_lama_file_read_as_trex_says_which_format_to_set(tmp_path):
    path = tmp_path / "P19.json"
    path.write_text(lama_line("u1", "A", "B", ["A in [MASK] ."]) + "\n" + lama_line("u2", "A", "C", ["A [MASK]"]))
    with pytest.raises(
        SampleError,
        match=rf"{path}: not valid JSON at line 2.*looks like the LAMA T-REx probe: set "
        r"data\.facts\.format: lama_trex; supported formats",
    ):
        sources.sample_facts(path, n=1, seed=0)


def test_facts_file_of_neither_format_lists_the_formats(tmp_path):
    path = tmp_path / "facts.jsonl"
    path.write_text(json.dumps({"subject": "A", "object": "B"}) + "\n")
    with pytest.raises(
        SampleError,
        match=rf"{path}: line 1: expected a LAMA T-REx fact with \['obj_label', "
        r"'evidences'\]; supported formats \(data\.facts\.format\): trex",
    ):
        sources.sample_facts(path, n=1, seed=0, format="lama_trex")
    with pytest.raises(SampleError, match=r"data\.facts\.format: 'lama' is not supported; supported formats"):
        sources.sample_facts(path, n=1, seed=0, format="lama")


def test_sample_job_passes_facts_format_and_annotators(tmp_path):
    path = tmp_path / "P19.jsonl"
    path.write_text(lama_line("u1", "A", "Berlin", ["A lives in [MASK] ."]) + "\n")
    out = tmp_path / "facts.parquet"
    pipeline.sample_job("facts", {"paths": [str(path)]}, {"n": 1, "format": "lama_trex"}, 0, str(out))
    assert pq.read_table(out).to_pylist()[0]["entity"] == "Berlin"


# --------------------------------------------------------------------------
# OpenAssistant: flat rows, nested trees, one parquet file


def node(message_id, text, role, replies=(), *, parent_id=None, lang="en", rank=None):
    return {
        "message_id": message_id,
        "parent_id": parent_id,
        "user_id": "u",
        "created_date": "2023-02-05T00:00:00",
        "text": text,
        "role": role,
        "lang": lang,
        "review_count": 3,
        "review_result": True,
        "deleted": False,
        "rank": rank,
        "synthetic": False,
        "model_name": None,
        "emojis": {"+1": 2},
        "labels": None,
        "replies": list(replies),
    }


def oasst_tree() -> dict:
    return node(
        "r1",
        "What is tea?",
        "prompter",
        [
            node("a1", "A drink, I guess.", "assistant", rank=1),
            node(
                "a2",
                "Tea is a drink brewed from leaves.",
                "assistant",
                rank=0,
                replies=[
                    node(
                        "p1", "Where does it grow?", "prompter", replies=[node("a3", "In hills.", "assistant", rank=0)]
                    )
                ],
            ),
        ],
    )


def flat(tree: dict, parent_id=None, tree_id="t1") -> list[dict]:
    me = {k: v for k, v in tree.items() if k != "replies"}
    me.update(parent_id=parent_id, message_tree_id=tree_id, tree_state="ready_for_export")
    return [me] + [m for reply in tree["replies"] for m in flat(reply, tree["message_id"], tree_id)]


EXPECTED = [
    {"id": "oasst-a2", "instruction": "What is tea?", "input": "", "output": "Tea is a drink brewed from leaves."}
]


def test_oasst_trees_export_lines(tmp_path):
    path = tmp_path / "2023-04-12_oasst_ready.trees.jsonl.gz"
    line = {"message_tree_id": "t1", "tree_state": "ready_for_export", "prompt": oasst_tree(), "origin": "x"}
    path.write_bytes(gzip.compress((json.dumps(line) + "\n").encode()))
    messages = ins.read_oasst(path)
    assert [m["message_id"] for m in messages] == ["r1", "a1", "a2", "p1", "a3"]
    assert {m["message_tree_id"] for m in messages} == {"t1"}
    assert list(ins.oasst_single_turn(messages)) == EXPECTED


def test_oasst_messages_with_nested_replies(tmp_path):
    # A message line holding its replies: these used to give 0 pairs (the replies were dropped).
    path = tmp_path / "2023-04-12_oasst_ready.message.jsonl"
    path.write_text(json.dumps(oasst_tree()) + "\n")
    assert list(ins.oasst_single_turn(ins.read_oasst(path))) == EXPECTED


def test_oasst_flat_messages_jsonl_and_one_parquet_file(tmp_path):
    rows = flat(oasst_tree())
    jsonl = tmp_path / "2023-04-12_oasst_ready.messages.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert list(ins.oasst_single_turn(ins.read_oasst(jsonl))) == EXPECTED

    parquet = tmp_path / "train-00000-of-00001.parquet"
    pd.DataFrame([{k: v for k, v in r.items() if k != "emojis"} for r in rows]).to_parquet(parquet, index=False)
    assert list(ins.oasst_single_turn(ins.read_oasst(parquet))) == EXPECTED


def test_oasst_nested_parent_id_must_match_the_nesting(tmp_path):
    tree = oasst_tree()
    tree["replies"][0]["parent_id"] = "elsewhere"
    path = tmp_path / "trees.jsonl"
    path.write_text(json.dumps({"message_tree_id": "t1", "prompt": tree}) + "\n")
    with pytest.raises(
        SampleError,
        match=rf"{path}: line 1, message 1: parent_id 'elsewhere' is not the id of the "
        r"message it is nested under \('r1'\)",
    ):
        ins.read_oasst(path)


def test_oasst_zero_pairs_from_a_non_empty_file_says_why(tmp_path):
    path = tmp_path / "messages.jsonl"
    rows = flat(node("r1", "Was ist Tee?", "prompter", [node("a1", "Ein Getränk.", "assistant", lang="de")], lang="de"))
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(
        SampleError,
        match=r"OpenAssistant: no English single-turn pair in 1 conversation trees "
        r"\(left out by reason: \{'non_english': 1\}\)",
    ):
        ins.oasst_single_turn(ins.read_oasst(path))


# --------------------------------------------------------------------------
# Alpaca: one parquet or jsonl file as well as the JSON list and the hub folder


def test_alpaca_single_parquet_and_jsonl_match_the_json(tmp_path):
    rows = [
        {"instruction": "Add 2 and 3.", "input": "", "output": "5"},
        {"instruction": "Translate.", "input": "chat", "output": "cat"},
    ]
    json_path = tmp_path / "alpaca_data.json"
    json_path.write_text(json.dumps(rows))
    parquet = tmp_path / "train-00000-of-00001-a09b74b3ef9c3b56.parquet"
    pd.DataFrame([{**r, "text": "x"} for r in rows]).to_parquet(parquet, index=False)
    jsonl = tmp_path / "alpaca.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    expected = list(ins.read_alpaca(json_path))
    assert [r["id"] for r in expected] == ["alpaca-0", "alpaca-1"]
    assert list(ins.read_alpaca(parquet)) == expected
    assert list(ins.read_alpaca(jsonl)) == expected


def test_corrupt_parquet_names_the_file(tmp_path):
    path = tmp_path / "train-00000-of-00001.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(SampleError, match=rf"{path}: not a readable parquet file"):
        ins.read_alpaca(path)


def test_annotators_with_the_lama_probe_is_an_error(tmp_path):
    path = tmp_path / "P19.jsonl"
    path.write_text(lama_line("u1", "A", "Berlin", ["A lives in [MASK] ."]) + "\n")
    with pytest.raises(SampleError, match=r"data\.facts\.annotators: the LAMA T-REx probe has no entity annotators"):
        sources.sample_facts(path, n=1, seed=0, format="lama_trex", annotators=["Date_Linker"])
