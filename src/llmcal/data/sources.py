"""Raw task data in its published formats -> canonical sample tables.

Three tasks of Zhu et al. (2023), section 4:

* causal LM on the Pile (val and test jsonl, plain, ``.zst`` or ``.gz``),
* facts generation on T-REx (the original JSON documents with entity spans,
  targets filtered by annotator; or LAMA's T-REx probe jsonl),
* MMLU (Hendrycks' CSV layout or the ``cais/mmlu`` hub parquet layout,
  detected from the files present).

A file that cannot be read whole and correctly (truncated or corrupt
compression, invalid UTF-8, a folder where a file belongs) is a
:class:`SampleError` naming the file and the line or byte; a sample with no
eligible item is one, and so is one smaller than asked for unless the task's
``allow_fewer`` is set.

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
import logging
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

from llmcal.data.mmlu_prompt import DEFAULT_STYLE, LETTERS, build_prompt, check_prompt_style, shot_texts
from llmcal.fsio import atomic_write

PathLike = str | os.PathLike
log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

CLM_SCHEMA = pa.schema([("id", pa.string()), ("split", pa.string()), ("source", pa.string()), ("text", pa.string())])
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
MMLU_COLUMNS = ["id", "subject", "question", *LETTERS, "answer"]
# ``shots``: a JSON list of the prompt's answered dev examples, each as formatted in it, so that a scorer
# can drop shots from a prompt too long for a model (as Hendrycks' evaluate.py does).
MMLU_SCHEMA = pa.schema(
    [(name, pa.string()) for name in MMLU_COLUMNS] + [("prompt", pa.string()), ("shots", pa.string())]
)

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
    # pandas metadata carries the pandas version and index layout: neither
    # belongs in a file whose bytes must not depend on the environment.
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"pandas"}
    table = table.replace_schema_metadata(metadata or None)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


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
    return table.replace_schema_metadata({f"{_INFO_PREFIX}{key}": str(value) for key, value in info.items()})


def add_info(table: pa.Table, info: Mapping[str, Any]) -> pa.Table:
    """``table`` with ``info`` added to (or replacing keys of) its sample metadata."""
    metadata = dict(table.schema.metadata or {})
    metadata.update({f"{_INFO_PREFIX}{key}".encode(): str(value).encode() for key, value in info.items()})
    return table.replace_schema_metadata(metadata)


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
        f"{what}: asked for {n} items but only {eligible} are eligible in {named}; the sample holds all of them",
        SampleShortfallWarning,
        stacklevel=3,
    )


# --------------------------------------------------------------------------
# Opening files: what cannot be read whole and correctly is an error naming
# the file and where in it


_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".7z", ".rar")


def _need_file(path: Path, what: str) -> Path:
    """``path`` as a readable file, or a SampleError saying what it is instead."""
    if path.is_dir():
        raise SampleError(f"{path}: is a folder, but {what} is read from a file here; give the file's path")
    if not path.exists():
        raise SampleError(f"{path}: no such file ({what})")
    if path.name.lower().endswith(_ARCHIVE_SUFFIXES):
        raise SampleError(f"{path}: is an archive; unpack it and give the unpacked file or folder ({what})")
    return path


def _need_dir(path: Path, what: str) -> Path:
    if not path.exists():
        raise SampleError(f"{path}: no such folder ({what})")
    if not path.is_dir():
        raise SampleError(f"{path}: is a file, but {what} is read from a folder here; give the folder's path")
    return path


class _ZstdFrames(io.RawIOBase):
    """Decompressed bytes of a (multi-frame) zstd file; a stream that ends inside a frame is an error.

    zstandard's own stream reader returns a clean end of file on a truncated
    input, so a cut-off download would read as a shorter file.
    """

    def __init__(self, path: Path):
        import zstandard

        self._path = path
        self._raw = open(path, "rb")  # noqa: SIM115 (closed by close())
        # The Pile was compressed with a long window that zstandard refuses by default.
        self._dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
        self._obj = self._dctx.decompressobj()
        self._in_frame = False
        self._consumed = 0
        self._pending = b""
        self._offset = 0
        self._error = zstandard.ZstdError

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()
        super().close()

    def _fill(self) -> bool:
        """Decompress until some output or the end of the file; False at a clean end."""
        while not self._pending:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._in_frame:
                    raise SampleError(
                        f"{self._path}: truncated or corrupt zstd data: the file ends inside a frame "
                        f"(at compressed byte {self._consumed}); download it again"
                    )
                return False
            start = self._consumed
            self._consumed += len(chunk)
            while chunk:
                self._in_frame = True
                try:
                    out = self._obj.decompress(chunk)
                except self._error as err:
                    raise SampleError(
                        f"{self._path}: corrupt zstd data in the compressed bytes {start}-{self._consumed} "
                        f"({err}); download it again"
                    ) from None
                self._pending += out
                if self._obj.eof:
                    chunk = self._obj.unused_data
                    self._obj = self._dctx.decompressobj()
                    self._in_frame = False
                else:
                    chunk = b""
        return True

    def readinto(self, buffer) -> int:
        if self._offset >= len(self._pending):
            self._pending, self._offset = b"", 0
            if not self._fill():
                return 0
        size = min(len(buffer), len(self._pending) - self._offset)
        buffer[:size] = memoryview(self._pending)[self._offset : self._offset + size]
        self._offset += size
        return size


def _open_binary(path: Path) -> io.BufferedIOBase:
    if path.name.endswith(".zst"):
        return io.BufferedReader(_ZstdFrames(path), buffer_size=1 << 20)
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _compression_errors() -> tuple[type[BaseException], ...]:
    import zlib

    import zstandard

    return (EOFError, gzip.BadGzipFile, zlib.error, zstandard.ZstdError)


def _decode(path: Path, data: bytes, offset: int = 0) -> str:
    """``data`` (which starts at byte ``offset`` of the decompressed file) as UTF-8, or an error naming the byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        position = offset + err.start
        raise SampleError(
            f"{path}: invalid UTF-8 at byte {position}"
            + (" of the decompressed data" if path.name.endswith((".gz", ".zst")) else "")
            + f" ({data[err.start : err.start + 4]!r}); the file must be UTF-8 text"
        ) from None


def _iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of each line; only "\\n" ends a line (JSON escapes the others)."""
    _need_file(path, "a jsonl file")
    line_number = 0
    offset = 0
    try:
        with _open_binary(path) as stream:
            for line_number, raw in enumerate(stream, start=1):
                text = _decode(path, raw, offset)
                offset += len(raw)
                yield line_number, text
    except _compression_errors() as err:
        kind = "zstd" if path.name.endswith(".zst") else "gzip"
        raise SampleError(
            f"{path}: truncated or corrupt {kind} data after line {line_number} "
            f"(decompressed byte {offset}): {err}; download it again"
        ) from None


def _read_text(path: Path, what: str) -> str:
    """A whole (possibly compressed) file as UTF-8 text."""
    _need_file(path, what)
    try:
        with _open_binary(path) as stream:
            data = stream.read()
    except _compression_errors() as err:
        raise SampleError(f"{path}: truncated or corrupt compressed data: {err}; download it again") from None
    return _decode(path, data)


def _load_json(path: Path, what: str) -> Any:
    text = _read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SampleError(
            f"{path}: not valid JSON at line {err.lineno}, column {err.colno} ({err.msg}); expected {what}"
        ) from None


def _iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(1-based line number, parsed record) for each non-blank line."""
    for line_number, line in _iter_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise SampleError(f"{path}: line {line_number}: not valid JSON ({err.msg})") from None
        yield line_number, record


def _read_parquet(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    _need_file(path, "a parquet file")
    try:
        return pq.read_table(path, columns=None if columns is None else list(columns))
    except (pa.ArrowInvalid, OSError) as err:
        raise SampleError(f"{path}: not a readable parquet file ({err}); download it again") from None


def _read_parquet_schema(path: Path) -> pa.Schema:
    _need_file(path, "a parquet file")
    try:
        return pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise SampleError(f"{path}: not a readable parquet file ({err}); download it again") from None


def _size(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        return "missing"
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size} B"


def _named_files(files: Sequence[PathLike]) -> str:
    named = ", ".join(f"{f} ({_size(Path(f))})" for f in files[:_MAX_NAMED_FILES])
    if len(files) > _MAX_NAMED_FILES:
        named += f" and {len(files) - _MAX_NAMED_FILES} more"
    return named


def check_sample_size(
    what: str,
    files: Sequence[PathLike],
    n: int,
    eligible: int,
    why: str,
    allow_fewer: bool,
    key: str,
) -> None:
    """No eligible item is an error; fewer than ``n`` is one unless ``allow_fewer`` (config ``key``)."""
    if eligible >= n:
        return
    where = f"in {_named_files(files)}"
    if eligible == 0:
        raise SampleError(f"{what}: no eligible items {where} ({why})")
    message = f"{what}: asked for {n} items but only {eligible} are eligible {where} ({why})"
    if not allow_fewer:
        raise SampleError(f"{message}; set {key}: true to accept a sample of {eligible}, or lower the n")
    log.warning("%s; %s is true, so the sample holds all %d", message, key, eligible)
    warnings.warn(f"{message}; the sample holds all of them", SampleShortfallWarning, stacklevel=3)


# --------------------------------------------------------------------------
# The Pile


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
    allow_fewer: bool = False,
    key: str = "data.clm.allow_fewer",
) -> pa.Table:
    """A seeded sample of Pile documents with at least ``min_chars`` characters.

    ``files`` maps a split name ("val", "test") to one path or a list of paths.
    Columns: ``id`` (``"{split}-{file_index}-{line_number}"``, line numbers from
    1), ``split``, ``source`` (``meta.pile_set_name``), ``text``.

    No eligible document is an error; fewer than ``n`` is one unless
    ``allow_fewer`` (the config key ``key``). The metadata holds
    ``requested``, ``eligible``, ``n`` (rows kept), ``seed``, ``min_chars``,
    ``records`` (all read), ``short`` (dropped by ``min_chars``), ``allow_fewer``.
    """
    n = _check_n(n)
    listed = _split_files(files)
    counts = Counter()
    passes = [0]

    def candidates() -> Iterator[tuple[str, int, int, dict]]:
        # The first pass reads the whole stream (the count); the second may stop early.
        passes[0] += 1
        counting = passes[0] == 1
        for split, file_index, path in listed:
            for line_number, record in read_pile_numbered(path):
                keep = len(record["text"]) >= min_chars
                if counting:
                    counts["records"] += 1
                    counts["short"] += not keep
                if keep:
                    yield split, file_index, line_number, record

    rows, eligible = _sample_stream(candidates, n, seed, collect=lambda item: _clm_row(*item))
    why = f"{counts['records']} records read, {counts['short']} shorter than min_chars={min_chars} characters dropped"
    check_sample_size("Pile sample", [p for _, _, p in listed], n, eligible, why, allow_fewer, key)
    info = {
        "requested": n,
        "eligible": eligible,
        "n": len(rows),
        "seed": seed,
        "min_chars": min_chars,
        "records": counts["records"],
        "short": counts["short"],
        "allow_fewer": allow_fewer,
    }
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

FACTS_FORMATS = ("trex", "lama_trex")
_FORMATS_HELP = (
    "supported formats (data.facts.format): trex, the T-REx documents (JSON files, each a list of "
    "objects with docid, text and entities); lama_trex, the LAMA T-REx probe (jsonl, one fact a line "
    "with obj_label and evidences[].masked_sentence)"
)
# Annotators of the T-REx release's `entities` (hadyelsahar/RE-NLG-Dataset pipeline). Entity
# linking (and string matching to a Wikidata label) and dates name entities; coreference marks
# pronouns ("It", "He") and property linking marks predicates, neither an entity to predict.
DEFAULT_ANNOTATORS = ("Wikidata_Spotlight_Entity_Linker", "Date_Linker", "Simple_String_Matching")
KNOWN_ANNOTATORS = DEFAULT_ANNOTATORS + ("Simple_Coreference", "Wikidata_Property_Linker")


def _trex_files(paths: PathLike | Iterable[PathLike], pattern: str = "*.json") -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            # Recursive: the release's archive unpacks into a sub-folder.
            found = sorted(p for p in path.rglob(pattern) if p.is_file())
            if not found:
                raise SampleError(f"{path}: no {pattern} files in this folder or below; {_FORMATS_HELP}")
            files.extend(found)
        else:
            files.append(_need_file(path, "T-REx data"))
    if not files:
        raise SampleError("no T-REx files given")
    return files


def _load_trex_file(path: Path) -> list:
    text = _read_text(path, "T-REx documents")
    try:
        docs = json.loads(text)
    except json.JSONDecodeError as err:
        hint = ""
        if text.lstrip().startswith("{") and '"obj_label"' in text[:100_000]:
            hint = "; it looks like the LAMA T-REx probe: set data.facts.format: lama_trex"
        raise SampleError(
            f"{path}: not valid JSON at line {err.lineno}, column {err.colno} ({err.msg}){hint}; {_FORMATS_HELP}"
        ) from None
    if not isinstance(docs, list):
        raise SampleError(f"{path}: expected a JSON list of documents, got {type(docs).__name__}; {_FORMATS_HELP}")
    return docs


def _check_trex_doc(path: Path, doc_index: int, doc: Any) -> dict:
    if not isinstance(doc, dict):
        raise SampleError(f"{path}: document {doc_index} is not an object; {_FORMATS_HELP}")
    if doc.get("docid") in (None, "") or not isinstance(doc.get("text"), str):
        raise SampleError(f"{path}: document {doc_index} lacks a 'docid' or a string 'text'; {_FORMATS_HELP}")
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
            f"{where}: boundaries [{start}, {end}] are empty or outside the text (length {len(doc['text'])})"
        )
    return start, end


def _check_annotators(annotators: Iterable[str] | None) -> tuple[str, ...]:
    if annotators is None:
        return DEFAULT_ANNOTATORS
    if isinstance(annotators, str):
        annotators = [annotators]
    kept = tuple(annotators)
    if not kept or not all(isinstance(a, str) and a for a in kept):
        raise SampleError(f"data.facts.annotators: expected a non-empty list of annotator names, got {kept!r}")
    return kept


def _eligible_entities(
    path: Path, doc: dict, kept: Sequence[str] = DEFAULT_ANNOTATORS, counts: Counter | None = None
) -> Iterator[tuple[int, int, int]]:
    """(entity index, start, end) of the entities worth predicting.

    An entity needs an annotator in ``kept`` (an annotator in neither ``kept``
    nor :data:`KNOWN_ANNOTATORS` is an error) and some non-blank text before
    it to condition on, and a span annotated twice (T-REx links some spans by
    several annotators) counts once. ``counts`` gets ``kept.<annotator>`` and
    ``dropped.<annotator>`` per entity annotation.
    """
    counts = Counter() if counts is None else counts
    text = doc["text"]
    first_visible = len(text) - len(text.lstrip())
    seen: set[tuple[int, int]] = set()
    for entity_index, entity in enumerate(doc.get("entities", [])):
        start, end = _entity_span(path, doc, entity_index, entity)
        annotator = entity.get("annotator")
        if annotator not in kept:
            if annotator not in KNOWN_ANNOTATORS:
                raise SampleError(
                    f"{path}: document {doc['docid']!r}, entity {entity_index}: annotator {annotator!r} is "
                    f"not a known T-REx entity annotator (known: {', '.join(KNOWN_ANNOTATORS)}); list it "
                    f"in data.facts.annotators (now {list(kept)}) to keep its entities as targets"
                )
            counts[f"dropped.{annotator}"] += 1
            continue
        counts[f"kept.{annotator}"] += 1
        if (start, end) in seen:
            continue
        seen.add((start, end))
        if start <= first_visible:
            continue
        yield entity_index, start, end


def sample_facts(
    paths: PathLike | Iterable[PathLike],
    n: int,
    seed: int,
    format: str = "trex",
    annotators: Iterable[str] | None = None,
    allow_fewer: bool = False,
    key: str = "data.facts.allow_fewer",
) -> pa.Table:
    """A seeded sample of T-REx entity mentions with the text before them.

    Columns: ``id`` (``"{docid}-{entity_index}"``, the index into the
    document's ``entities``), ``docid``, ``uri`` (the entity's), ``context``
    (the document text before the entity), ``entity`` (the text of the span,
    which T-REx's ``surfaceform`` does not always match), ``start``.

    Only entities of ``annotators`` (default :data:`DEFAULT_ANNOTATORS`) are
    targets; how many annotations each annotator had kept or dropped is in the
    metadata (``annotators.kept``, ``annotators.dropped``, JSON objects).
    ``format="lama_trex"`` reads the LAMA probe instead (:func:`sample_lama_facts`).
    """
    if format not in FACTS_FORMATS:
        raise SampleError(f"data.facts.format: {format!r} is not supported; {_FORMATS_HELP}")
    if format == "lama_trex":
        if annotators is not None:
            raise SampleError(
                "data.facts.annotators: the LAMA T-REx probe has no entity annotators; "
                "remove the key, or set data.facts.format: trex"
            )
        return sample_lama_facts(paths, n, seed, allow_fewer=allow_fewer, key=key)
    n = _check_n(n)
    kept = _check_annotators(annotators)
    files = _trex_files(paths)
    counts: Counter = Counter()
    passes = [0]

    def candidates() -> Iterator[tuple[dict, int, int, int]]:
        passes[0] += 1
        counting = passes[0] == 1
        for path, doc in _iter_trex(files):
            if counting:
                counts["documents"] += 1
            for entity_index, start, end in _eligible_entities(path, doc, kept, counts if counting else None):
                yield doc, entity_index, start, end

    rows, eligible = _sample_stream(candidates, n, seed, collect=lambda item: _fact_row(*item))
    kept_counts = {k[len("kept.") :]: v for k, v in sorted(counts.items()) if k.startswith("kept.")}
    dropped = {k[len("dropped.") :]: v for k, v in sorted(counts.items()) if k.startswith("dropped.")}
    log.info(
        "T-REx entity annotations: kept %s, dropped %s (data.facts.annotators: %s)",
        kept_counts or "none",
        dropped or "none",
        list(kept),
    )
    why = (
        f"{counts['documents']} documents; entity annotations kept by annotator {kept_counts or 'none'}, "
        f"dropped {dropped or 'none'} (data.facts.annotators: {list(kept)}); repeated spans and entities "
        "with no text before them are not eligible"
    )
    check_sample_size("T-REx sample", files, n, eligible, why, allow_fewer, key)
    info = {
        "requested": n,
        "eligible": eligible,
        "n": len(rows),
        "seed": seed,
        "format": "trex",
        "documents": counts["documents"],
        "annotators": json.dumps(list(kept)),
        "annotators.kept": json.dumps(kept_counts, sort_keys=True),
        "annotators.dropped": json.dumps(dropped, sort_keys=True),
        "allow_fewer": allow_fewer,
    }
    return _to_table(rows, FACTS_SCHEMA, info)


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


# LAMA's T-REx probe (Petroni et al., 2019): data/TREx/P*.jsonl

MASK = "[MASK]"
_LAMA_FIELDS = ("obj_label", "evidences")


def _lama_fact(path: Path, line_number: int, record: Any) -> tuple[str, dict | None, str]:
    """(id, row or None, reason when None) of one probe line.

    The row is the first evidence whose masked sentence has a ``[MASK]`` with
    non-blank text before it: context is that text, the entity ``obj_label``.
    """
    where = f"{path}: line {line_number}"
    if not isinstance(record, dict) or any(f not in record for f in _LAMA_FIELDS):
        raise SampleError(f"{where}: expected a LAMA T-REx fact with {list(_LAMA_FIELDS)}; {_FORMATS_HELP}")
    label, evidences = record["obj_label"], record["evidences"]
    if not _is_text(label):
        raise SampleError(f"{where}: obj_label must be a non-empty string, got {label!r}")
    if not isinstance(evidences, list):
        raise SampleError(f"{where}: evidences is not a list")
    uuid = record.get("uuid")
    fact_id = str(uuid) if _is_text(uuid) else f"{path.stem}-{line_number}"
    for k, evidence in enumerate(evidences):
        sentence = evidence.get("masked_sentence") if isinstance(evidence, dict) else None
        if not isinstance(sentence, str):
            raise SampleError(f"{where}, evidence {k}: masked_sentence is missing or not a string")
        position = sentence.find(MASK)
        if position < 0 or not sentence[:position].strip():
            continue
        return (
            fact_id,
            {
                "id": fact_id,
                "docid": str(record.get("predicate_id") or path.stem),
                "uri": record.get("obj_uri"),
                "context": sentence[:position],
                "entity": label,
                "start": position,
            },
            "",
        )
    return fact_id, None, "no_evidence" if not evidences else "no_left_context"


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def sample_lama_facts(
    paths: PathLike | Iterable[PathLike],
    n: int,
    seed: int,
    allow_fewer: bool = False,
    key: str = "data.facts.allow_fewer",
) -> pa.Table:
    """A seeded sample of LAMA T-REx facts (``*.jsonl`` files or folders of them); columns as :func:`sample_facts`.

    ``id`` is the fact's ``uuid`` (else ``{file stem}-{line}``), ``docid`` its
    ``predicate_id``, ``uri`` its ``obj_uri``, ``context`` the first usable
    evidence's masked sentence before ``[MASK]``, ``entity`` ``obj_label``,
    ``start`` the position of ``[MASK]``. Facts without such an evidence are
    counted in the metadata (``skipped.no_left_context``, ``skipped.no_evidence``).
    """
    n = _check_n(n)
    files = _trex_files(paths, "*.jsonl")
    counts: Counter = Counter()
    passes = [0]

    def candidates() -> Iterator[dict]:
        passes[0] += 1
        counting = passes[0] == 1
        first_seen: dict[str, str] = {}
        for path in files:
            for line_number, record in _iter_jsonl(path):
                fact_id, row, reason = _lama_fact(path, line_number, record)
                if fact_id in first_seen:
                    raise SampleError(f"{path}: line {line_number}: uuid {fact_id!r} repeats {first_seen[fact_id]}")
                first_seen[fact_id] = f"{path}: line {line_number}"
                if counting:
                    counts["facts"] += 1
                    if row is None:
                        counts[reason] += 1
                if row is not None:
                    yield row

    rows, eligible = _sample_stream(candidates, n, seed, collect=dict)
    why = (
        f"{counts['facts']} facts; without an evidence: {counts['no_evidence']}, without text before "
        f"[MASK] in any evidence: {counts['no_left_context']}"
    )
    check_sample_size("LAMA T-REx sample", files, n, eligible, why, allow_fewer, key)
    info = {
        "requested": n,
        "eligible": eligible,
        "n": len(rows),
        "seed": seed,
        "format": "lama_trex",
        "facts": counts["facts"],
        "skipped.no_evidence": counts["no_evidence"],
        "skipped.no_left_context": counts["no_left_context"],
        "allow_fewer": allow_fewer,
    }
    return _to_table(rows, FACTS_SCHEMA, info)


# --------------------------------------------------------------------------
# MMLU


def _mmlu_row(subject: str, index: int, question: str, options: Sequence[str], answer: str) -> dict:
    return {
        "id": f"{subject}-{index}",
        "subject": subject,
        "question": question,
        **dict(zip(LETTERS, options)),
        "answer": answer,
    }


def _mmlu_frame(rows: list[dict], files: Mapping[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=MMLU_COLUMNS)
    # Lets build_mmlu name the file behind a subject with too few dev examples.
    frame.attrs["files"] = dict(files)
    return frame


def _mmlu_csv_base(root: Path) -> Path:
    _need_dir(root, "MMLU")
    for base in (root, root / "data"):
        if (base / "dev").is_dir() and (base / "test").is_dir():
            return base
    raise SampleError(f"{root}: no MMLU dev/ and test/ folders here or under data/")


def _read_mmlu_csv_file(path: Path, subject: str) -> list[dict]:
    text = _read_text(path, "an MMLU CSV file").removeprefix("\ufeff")
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise SampleError(f"{path}: not a readable CSV file ({err})") from None
    if not records:
        raise SampleError(f"{path}: empty file")
    rows = []
    for index, record in enumerate(records):
        where = f"{path}, row {index} (id {subject}-{index})"
        if len(record) != 2 + len(LETTERS):
            raise SampleError(f"{where}: expected 6 columns (question, A, B, C, D, answer), got {len(record)}")
        question, *options, answer = record
        answer = answer.strip()
        if answer not in LETTERS:
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
    table = _read_parquet(path)
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
        if not isinstance(choices, list) or len(choices) != len(LETTERS):
            raise SampleError(f"{where}: expected 4 choices, got {choices!r}")
        if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(LETTERS):
            raise SampleError(f"{where}: answer {answer!r} is not one of 0, 1, 2, 3")
        # Counting within the subject reproduces the CSV layout's row ids.
        rows.append(_mmlu_row(subject, counters[subject], record["question"], choices, LETTERS[answer]))
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
    root = _need_dir(Path(root), "MMLU")
    folder = root / "all" if (root / "all").is_dir() else root
    return _read_mmlu_hub_split(folder, "dev"), _read_mmlu_hub_split(folder, "test")


MMLU_LAYOUTS = (
    "csv: Hendrycks' data.tar, <root>[/data]/dev/<subject>_dev.csv and test/<subject>_test.csv",
    "hub: the cais/mmlu parquet, <root>[/all]/dev-*.parquet and test-*.parquet",
)


def mmlu_layout(root: PathLike) -> str:
    """ "csv" or "hub": which MMLU layout the folder ``root`` holds, from the files present."""
    root = _need_dir(Path(root), "MMLU")
    csv_found = any((base / "dev").is_dir() and (base / "test").is_dir() for base in (root, root / "data"))
    hub_found = any(any(base.glob("test-*.parquet")) for base in (root, root / "all"))
    if csv_found and hub_found:
        raise SampleError(
            f"{root}: holds both MMLU layouts ({'; '.join(MMLU_LAYOUTS)}); point the config at one of them"
        )
    if csv_found:
        return "csv"
    if hub_found:
        return "hub"
    raise SampleError(f"{root}: no MMLU files found; supported layouts: {'; '.join(MMLU_LAYOUTS)}")


def read_mmlu(root: PathLike, layout: str = "auto") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(dev, test) of the layout ``layout`` ("csv", "hub", or "auto": detected by :func:`mmlu_layout`)."""
    if layout == "auto":
        layout = mmlu_layout(root)
    if layout == "csv":
        return read_mmlu_csv(root)
    if layout == "hub":
        return read_mmlu_hub(root)
    raise SampleError(f"MMLU layout {layout!r} is not one of csv, hub, auto")


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
    prompt_style: str = DEFAULT_STYLE,
) -> pa.Table:
    """Test questions with their ``n_shots``-shot prompts (all, or a seeded ``n``).

    Columns: ``id``, ``subject``, ``question``, ``A``-``D``, ``answer``,
    ``prompt`` (see :mod:`llmcal.data.mmlu_prompt`; ``prompt_style`` is the
    config's ``data.mmlu.prompt``) and ``shots``, the JSON list of the answered
    dev examples as ``prompt`` writes them (``prompt`` is the header, these in
    order, then the question). The metadata records ``n_shots`` and ``prompt``.
    """
    check_prompt_style(prompt_style)
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
        subject_shots = shots[row["subject"]]
        rows.append(
            {
                **row,
                "prompt": build_prompt(row["subject"], subject_shots, row, prompt_style),
                "shots": json.dumps(shot_texts(subject_shots, prompt_style), ensure_ascii=False),
            }
        )
    info = {
        "requested": "all" if n is None else n,
        "eligible": len(tests),
        "seed": seed,
        "n_shots": n_shots,
        "prompt": prompt_style,
    }
    return _to_table(rows, MMLU_SCHEMA, info)
