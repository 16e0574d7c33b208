"""Raw task data in its published formats -> canonical sample tables.

Three tasks of Zhu et al. (2023), section 4:

* causal LM on the Pile (val and test jsonl, plain, ``.zst`` or ``.gz``),
* facts generation on T-REx (the original JSON documents with entity spans),
* MMLU (Hendrycks' CSV layout or the ``cais/mmlu`` hub parquet layout).

Every row carries an ``id`` derived from where it sits in the source, never from
the draw, so a sample's rows can be joined to scores across seeds, models and
reruns. Sampling is seeded and uniform without replacement over all eligible
items, and the sample keeps source order. The Pile and T-REx are far larger than
the sample, so they are streamed twice (count, then collect the drawn items)
instead of being held in memory.

How a sample was drawn (requested n, eligible count, seed) travels in the
table's schema metadata; see :func:`sample_info`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import operator
import os
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from llmcal.data.mmlu_prompt import CHOICES, build_prompt

PathLike = str | os.PathLike
T = TypeVar("T")
R = TypeVar("R")

CLM_SCHEMA = pa.schema(
    [("id", pa.string()), ("split", pa.string()), ("source", pa.string()), ("text", pa.string())]
)
FACTS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("docid", pa.string()),
        ("uri", pa.string()),
        ("context", pa.string()),
        ("entity", pa.string()),
        ("start", pa.int64()),
    ]
)
MMLU_COLUMNS = ["id", "subject", "question", *CHOICES, "answer"]
MMLU_SCHEMA = pa.schema([(name, pa.string()) for name in MMLU_COLUMNS] + [("prompt", pa.string())])

_INFO_PREFIX = "llmcal."
# Long enough to name the files of a small run, short enough for 465 T-REx files.
_MAX_NAMED_FILES = 5


class SampleError(ValueError):
    """Raw data that cannot be turned into a sample; the message says where."""


class SampleShortfallWarning(UserWarning):
    """Fewer eligible items than requested: the sample holds all of them."""


# --------------------------------------------------------------------------
# Output


def write_table(table: pa.Table, path: PathLike) -> Path:
    """Write ``table`` as parquet, byte-identical for identical tables.

    The file appears under its final name only once complete, so an
    interrupted run never leaves a half-written sample that looks finished.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # pandas metadata carries the pandas version and index layout: neither
    # belongs in a file whose bytes must not depend on the environment.
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"pandas"}
    table = table.replace_schema_metadata(metadata or None)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def sample_info(table: pa.Table) -> dict[str, str]:
    """How ``table`` was drawn: ``requested``, ``eligible``, ``seed`` (and task extras)."""
    metadata = table.schema.metadata or {}
    return {
        key.decode()[len(_INFO_PREFIX) :]: value.decode()
        for key, value in metadata.items()
        if key.decode(errors="replace").startswith(_INFO_PREFIX)
    }


def _to_table(rows: list[dict], schema: pa.Schema, info: Mapping[str, Any]) -> pa.Table:
    table = pa.Table.from_pylist(rows, schema=schema)
    return table.replace_schema_metadata(
        {f"{_INFO_PREFIX}{key}": str(value) for key, value in info.items()}
    )


# --------------------------------------------------------------------------
# Sampling


def _check_n(n: int) -> int:
    n = operator.index(n)
    if n <= 0:
        raise ValueError(f"sample size n must be positive, got {n}")
    return n


def _choose(eligible: int, n: int | None, seed: int) -> np.ndarray:
    """Sorted positions of a seeded uniform draw without replacement."""
    if n is None or n >= eligible:
        return np.arange(eligible)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(eligible, size=n, replace=False))


def _sample_stream(
    candidates: Callable[[], Iterable[T]], n: int, seed: int, collect: Callable[[T], R]
) -> tuple[list[R], int]:
    """Draw from a stream too large to hold: one pass to count, one to collect.

    ``candidates`` must yield the same items in the same order on every call.
    ``collect`` turns a drawn item into what is kept, so that the sample does
    not pin whole source documents in memory.
    """
    eligible = sum(1 for _ in candidates())
    wanted = iter(_choose(eligible, n, seed).tolist())
    next_pick = next(wanted, None)
    chosen: list[R] = []
    if next_pick is None:
        return chosen, eligible
    for position, item in enumerate(candidates()):
        if position == next_pick:
            chosen.append(collect(item))
            next_pick = next(wanted, None)
            if next_pick is None:
                break
    return chosen, eligible


def _warn_if_short(what: str, files: Sequence[PathLike], n: int | None, eligible: int) -> None:
    if n is None or eligible >= n:
        return
    named = ", ".join(str(f) for f in files[:_MAX_NAMED_FILES])
    if len(files) > _MAX_NAMED_FILES:
        named += f" and {len(files) - _MAX_NAMED_FILES} more"
    warnings.warn(
        f"{what}: asked for {n} items but only {eligible} are eligible in {named}; "
        "the sample holds all of them",
        SampleShortfallWarning,
        stacklevel=3,
    )


# --------------------------------------------------------------------------
# The Pile


def _open_text(path: Path) -> io.TextIOBase:
    # Only "\n" ends a jsonl record; JSON escapes every other line break.
    if path.name.endswith(".zst"):
        import zstandard

        # The Pile was compressed with a long window that zstandard refuses
        # by default.
        decompressor = zstandard.ZstdDecompressor(max_window_size=2**31)
        stream = decompressor.stream_reader(open(path, "rb"), closefd=True)
        return io.TextIOWrapper(stream, encoding="utf-8", newline="\n")
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="\n")
    return open(path, encoding="utf-8", newline="\n")


def _decompression_errors() -> tuple[type[BaseException], ...]:
    import zstandard

    return (EOFError, gzip.BadGzipFile, zstandard.ZstdError, UnicodeDecodeError)


def _iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(1-based line number, parsed record) for each non-blank line."""
    line_number = 0
    try:
        with _open_text(path) as lines:
            for line_number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise SampleError(f"{path}: line {line_number}: not valid JSON ({err.msg})") from None
                yield line_number, record
    except _decompression_errors() as err:
        raise SampleError(f"{path}: unreadable after line {line_number}: {err}") from err


def read_pile(path: PathLike) -> Iterator[dict]:
    """The records of one Pile jsonl file (``.jsonl``, ``.jsonl.zst`` or ``.jsonl.gz``)."""
    for _, record in read_pile_numbered(path):
        yield record


def read_pile_numbered(path: PathLike) -> Iterator[tuple[int, dict]]:
    """Like :func:`read_pile`, with each record's 1-based line number."""
    path = Path(path)
    for line_number, record in _iter_jsonl(path):
        yield line_number, _check_pile_record(path, line_number, record)


def _check_pile_record(path: Path, line_number: int, record: Any) -> dict:
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise SampleError(f"{path}: line {line_number}: expected an object with a string 'text'")
    return record


def _pile_source(record: dict) -> str | None:
    meta = record.get("meta")
    return meta.get("pile_set_name") if isinstance(meta, dict) else None


def _split_files(files: Mapping[str, PathLike | Sequence[PathLike]]) -> list[tuple[str, int, Path]]:
    """(split, index within the split, path), splits in name order.

    Sorting the splits makes the draw independent of how a config orders them.
    """
    if not files:
        raise SampleError("no Pile files given")
    listed = []
    for split in sorted(files):
        paths = files[split]
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        listed.extend((split, index, Path(p)) for index, p in enumerate(paths))
    return listed


def sample_clm(
    files: Mapping[str, PathLike | Sequence[PathLike]],
    n: int,
    seed: int,
    min_chars: int = 1,
) -> pa.Table:
    """A seeded sample of Pile documents with at least ``min_chars`` characters.

    ``files`` maps a split name ("val", "test") to one path or a list of paths.
    Columns: ``id`` (``"{split}-{file_index}-{line_number}"``, line numbers from
    1), ``split``, ``source`` (``meta.pile_set_name``), ``text``.
    """
    n = _check_n(n)
    listed = _split_files(files)

    def candidates() -> Iterator[tuple[str, int, int, dict]]:
        for split, file_index, path in listed:
            for line_number, record in read_pile_numbered(path):
                if len(record["text"]) >= min_chars:
                    yield split, file_index, line_number, record

    rows, eligible = _sample_stream(candidates, n, seed, collect=lambda item: _clm_row(*item))
    _warn_if_short("Pile sample", [p for _, _, p in listed], n, eligible)
    info = {"requested": n, "eligible": eligible, "seed": seed, "min_chars": min_chars}
    return _to_table(rows, CLM_SCHEMA, info)



def _clm_row(split: str, file_index: int, line_number: int, record: dict) -> dict:
    return {
        "id": f"{split}-{file_index}-{line_number}",
        "split": split,
        "source": _pile_source(record),
        "text": record["text"],
    }


# --------------------------------------------------------------------------
# T-REx


def _trex_files(paths: PathLike | Iterable[PathLike]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            # Recursive: the release's archive unpacks into a sub-folder.
            found = sorted(path.rglob("*.json"))
            if not found:
                raise SampleError(f"{path}: no *.json files in this folder or below")
            files.extend(found)
        else:
            files.append(path)
    if not files:
        raise SampleError("no T-REx files given")
    return files


def _load_trex_file(path: Path) -> list:
    with open(path, encoding="utf-8") as fh:
        try:
            docs = json.load(fh)
        except json.JSONDecodeError as err:
            raise SampleError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(docs, list):
        raise SampleError(f"{path}: expected a JSON list of documents, got {type(docs).__name__}")
    return docs


def _check_trex_doc(path: Path, doc_index: int, doc: Any) -> dict:
    if not isinstance(doc, dict):
        raise SampleError(f"{path}: document {doc_index} is not an object")
    if doc.get("docid") in (None, "") or not isinstance(doc.get("text"), str):
        raise SampleError(f"{path}: document {doc_index} lacks a 'docid' or a string 'text'")
    if not isinstance(doc.get("entities", []), list):
        raise SampleError(f"{path}: document {doc['docid']!r}: 'entities' is not a list")
    return doc


def _iter_trex(files: Sequence[Path]) -> Iterator[tuple[Path, dict]]:
    first_seen: dict[str, Path] = {}
    for path in files:
        for doc_index, doc in enumerate(_load_trex_file(path)):
            doc = _check_trex_doc(path, doc_index, doc)
            docid = str(doc["docid"])
            # ids are built from docids, so a repeat would silently merge rows.
            if docid in first_seen:
                raise SampleError(f"{path}: document {docid!r} repeats one in {first_seen[docid]}")
            first_seen[docid] = path
            yield path, doc


def read_trex(paths: PathLike | Iterable[PathLike]) -> Iterator[dict]:
    """The documents of T-REx JSON files, given as files and/or folders of ``*.json``."""
    for _, doc in _iter_trex(_trex_files(paths)):
        yield doc


def _entity_span(path: Path, doc: dict, entity_index: int, entity: Any) -> tuple[int, int]:
    where = f"{path}: document {doc['docid']!r}, entity {entity_index}"
    bounds = entity.get("boundaries") if isinstance(entity, dict) else None
    if not (
        isinstance(bounds, (list, tuple))
        and len(bounds) == 2
        and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
    ):
        raise SampleError(f"{where}: boundaries must be two integers, got {bounds!r}")
    start, end = bounds
    if not 0 <= start < end <= len(doc["text"]):
        raise SampleError(
            f"{where}: boundaries [{start}, {end}] are empty or outside the text "
            f"(length {len(doc['text'])})"
        )
    return start, end


def _eligible_entities(path: Path, doc: dict) -> Iterator[tuple[int, int, int]]:
    """(entity index, start, end) of the entities worth predicting.

    An entity needs some non-blank text before it to condition on, and a span
    annotated twice (T-REx links some spans by several annotators) counts once.
    """
    text = doc["text"]
    first_visible = len(text) - len(text.lstrip())
    seen: set[tuple[int, int]] = set()
    for entity_index, entity in enumerate(doc.get("entities", [])):
        start, end = _entity_span(path, doc, entity_index, entity)
        if (start, end) in seen:
            continue
        seen.add((start, end))
        if start <= first_visible:
            continue
        yield entity_index, start, end


def sample_facts(paths: PathLike | Iterable[PathLike], n: int, seed: int) -> pa.Table:
    """A seeded sample of T-REx entity mentions with the text before them.

    Columns: ``id`` (``"{docid}-{entity_index}"``, the index into the
    document's ``entities``), ``docid``, ``uri`` (the entity's), ``context``
    (the document text before the entity), ``entity`` (the text of the span,
    which T-REx's ``surfaceform`` does not always match), ``start``.
    """
    n = _check_n(n)
    files = _trex_files(paths)

    def candidates() -> Iterator[tuple[dict, int, int, int]]:
        for path, doc in _iter_trex(files):
            for entity_index, start, end in _eligible_entities(path, doc):
                yield doc, entity_index, start, end

    rows, eligible = _sample_stream(candidates, n, seed, collect=lambda item: _fact_row(*item))
    _warn_if_short("T-REx sample", files, n, eligible)
    return _to_table(rows, FACTS_SCHEMA, {"requested": n, "eligible": eligible, "seed": seed})


def _fact_row(doc: dict, entity_index: int, start: int, end: int) -> dict:
    text = doc["text"]
    entity = doc["entities"][entity_index]
    return {
        "id": f"{doc['docid']}-{entity_index}",
        "docid": str(doc["docid"]),
        "uri": entity.get("uri"),
        "context": text[:start],
        "entity": text[start:end],
        "start": start,
    }


# --------------------------------------------------------------------------
# MMLU


def _mmlu_row(subject: str, index: int, question: str, options: Sequence[str], answer: str) -> dict:
    return {
        "id": f"{subject}-{index}",
        "subject": subject,
        "question": question,
        **dict(zip(CHOICES, options)),
        "answer": answer,
    }


def _mmlu_frame(rows: list[dict], files: Mapping[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=MMLU_COLUMNS)
    # Lets build_mmlu name the file behind a subject with too few dev examples.
    frame.attrs["files"] = dict(files)
    return frame


def _mmlu_csv_base(root: Path) -> Path:
    for base in (root, root / "data"):
        if (base / "dev").is_dir() and (base / "test").is_dir():
            return base
    raise SampleError(f"{root}: no MMLU dev/ and test/ folders here or under data/")


def _read_mmlu_csv_file(path: Path, subject: str) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        records = list(csv.reader(fh))
    if not records:
        raise SampleError(f"{path}: empty file")
    rows = []
    for index, record in enumerate(records):
        where = f"{path}, row {index} (id {subject}-{index})"
        if len(record) != 2 + len(CHOICES):
            raise SampleError(
                f"{where}: expected 6 columns (question, A, B, C, D, answer), got {len(record)}"
            )
        question, *options, answer = record
        answer = answer.strip()
        if answer not in CHOICES:
            raise SampleError(f"{where}: answer {answer!r} is not one of A, B, C, D")
        rows.append(_mmlu_row(subject, index, question, options, answer))
    return rows


def _read_mmlu_csv_split(folder: Path, split: str) -> pd.DataFrame:
    suffix = f"_{split}.csv"
    files = sorted(folder.glob(f"*{suffix}"))
    if not files:
        raise SampleError(f"{folder}: no *{suffix} files")
    rows: list[dict] = []
    subject_files: dict[str, str] = {}
    for path in files:
        subject = path.name[: -len(suffix)]
        rows.extend(_read_mmlu_csv_file(path, subject))
        subject_files[subject] = str(path)
    return _mmlu_frame(rows, subject_files)


def read_mmlu_csv(root: PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(dev, test) from Hendrycks' layout: ``root[/data]/{dev,test}/<subject>_<split>.csv``.

    Columns: ``id`` (``"{subject}-{row}"``, rows from 0), ``subject``,
    ``question``, ``A``-``D``, ``answer`` (a letter).
    """
    base = _mmlu_csv_base(Path(root))
    return _read_mmlu_csv_split(base / "dev", "dev"), _read_mmlu_csv_split(base / "test", "test")


_HUB_COLUMNS = ("question", "subject", "choices", "answer")


def _read_mmlu_hub_file(path: Path, counters: Counter) -> list[dict]:
    table = pq.read_table(path)
    missing = [c for c in _HUB_COLUMNS if c not in table.column_names]
    if missing:
        raise SampleError(f"{path}: missing columns {missing}")
    if table.num_rows == 0:
        raise SampleError(f"{path}: empty file")
    rows = []
    for index, record in enumerate(table.select(list(_HUB_COLUMNS)).to_pylist()):
        where = f"{path}, row {index}"
        subject, choices, answer = record["subject"], record["choices"], record["answer"]
        if not isinstance(subject, str) or not subject:
            raise SampleError(f"{where}: no subject")
        if not isinstance(record["question"], str):
            raise SampleError(f"{where}: no question")
        if not isinstance(choices, list) or len(choices) != len(CHOICES):
            raise SampleError(f"{where}: expected 4 choices, got {choices!r}")
        if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(CHOICES):
            raise SampleError(f"{where}: answer {answer!r} is not one of 0, 1, 2, 3")
        # Counting within the subject reproduces the CSV layout's row ids.
        rows.append(_mmlu_row(subject, counters[subject], record["question"], choices, CHOICES[answer]))
        counters[subject] += 1
    return rows


def _read_mmlu_hub_split(folder: Path, split: str) -> pd.DataFrame:
    files = sorted(folder.glob(f"{split}-*.parquet"))
    if not files:
        raise SampleError(f"{folder}: no {split}-*.parquet files")
    counters: Counter = Counter()
    rows: list[dict] = []
    subject_files: dict[str, str] = {}
    for path in files:
        file_rows = _read_mmlu_hub_file(path, counters)
        rows.extend(file_rows)
        for row in file_rows:
            subject_files.setdefault(row["subject"], str(path))
    return _mmlu_frame(rows, subject_files)


def read_mmlu_hub(root: PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(dev, test) from ``cais/mmlu`` parquet: ``root[/all]/{dev,test}-*.parquet``.

    Same columns as :func:`read_mmlu_csv`; ``answer`` 0-3 becomes A-D.
    """
    root = Path(root)
    folder = root / "all" if (root / "all").is_dir() else root
    return _read_mmlu_hub_split(folder, "dev"), _read_mmlu_hub_split(folder, "test")


def _check_mmlu_frame(frame: pd.DataFrame, name: str) -> None:
    missing = [c for c in MMLU_COLUMNS if c not in frame.columns]
    if missing:
        raise SampleError(f"MMLU {name} frame lacks columns {missing}")
    repeated = frame["id"][frame["id"].duplicated()]
    if not repeated.empty:
        raise SampleError(f"MMLU {name} frame repeats id {repeated.iloc[0]!r}")


def _mmlu_shots(dev_df: pd.DataFrame, subjects: Iterable[str], n_shots: int) -> dict[str, list[dict]]:
    """The first ``n_shots`` dev examples of each subject, in dev order."""
    by_subject: dict[str, list[dict]] = defaultdict(list)
    for row in dev_df[MMLU_COLUMNS].to_dict("records"):
        by_subject[row["subject"]].append(row)
    files = dev_df.attrs.get("files", {})
    shots = {}
    for subject in subjects:
        available = by_subject.get(subject, [])
        if len(available) < n_shots:
            origin = files.get(subject, "no dev file")
            raise SampleError(
                f"MMLU subject {subject!r} has {len(available)} dev examples ({origin}), "
                f"fewer than the {n_shots} shots asked for"
            )
        shots[subject] = available[:n_shots]
    return shots


def build_mmlu(
    dev_df: pd.DataFrame,
    test_df: pd.DataFrame,
    n_shots: int = 5,
    n: int | None = None,
    seed: int = 0,
) -> pa.Table:
    """Test questions with their ``n_shots``-shot prompts (all, or a seeded ``n``).

    Columns: ``id``, ``subject``, ``question``, ``A``-``D``, ``answer``,
    ``prompt`` (see :mod:`llmcal.data.mmlu_prompt`).
    """
    n_shots = operator.index(n_shots)
    if n_shots < 0:
        raise ValueError(f"n_shots must be >= 0, got {n_shots}")
    if n is not None:
        n = _check_n(n)
    _check_mmlu_frame(dev_df, "dev")
    _check_mmlu_frame(test_df, "test")
    tests = test_df[MMLU_COLUMNS].to_dict("records")
    shots = _mmlu_shots(dev_df, dict.fromkeys(row["subject"] for row in tests), n_shots)
    picks = _choose(len(tests), n, seed)
    _warn_if_short("MMLU sample", list(test_df.attrs.get("files", {}).values()), n, len(tests))
    rows = []
    for position in picks.tolist():
        row = tests[position]
        rows.append({**row, "prompt": build_prompt(row["subject"], shots[row["subject"]], row)})
    info = {"requested": "all" if n is None else n, "eligible": len(tests), "seed": seed, "n_shots": n_shots}
    return _to_table(rows, MMLU_SCHEMA, info)
