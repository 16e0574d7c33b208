"""Fetching the raw task data: the only data code that touches the network.

Compute nodes of a cluster usually have no internet, and a download that
hangs there wastes a whole allocation. So every fetch here either finishes,
or fails fast with a :class:`DownloadError` that says which dataset, where it
should have gone, and what to do instead. ``HF_HUB_OFFLINE`` set to a true
value forbids any network access (local ``file://`` URLs stay allowed).
"""

from __future__ import annotations

import http.client
import importlib
import os
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

from llmcal.fsio import atomic_write

OFFLINE_ENV = "HF_HUB_OFFLINE"
_TRUE_VALUES = {"1", "true", "yes", "on"}
# A per-socket-operation limit: a stalled server fails the job, a slow but
# live one does not.
DEFAULT_TIMEOUT_S = 60.0
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that could not happen here; the message says what to do."""


def offline_requested() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in _TRUE_VALUES


DATA_ON_DISK = "place the files in {dest} by hand and point the config at them (source: local)"


def download_error(what: str, dest: Path, reason: str, on_disk: str = DATA_ON_DISK) -> DownloadError:
    """Why something cannot be fetched; on_disk says how to use a copy already on disk (the config key)."""
    return DownloadError(
        f"Cannot download {what} to {dest}: {reason}. Either run the download target "
        f"(`snakemake download`) on a machine with internet access (with {OFFLINE_ENV} unset), or "
        f"{on_disk.format(dest=dest)}."
    )


def refuse_if_offline(what: str, dest: Path) -> None:
    if offline_requested():
        raise download_error(what, dest, f"{OFFLINE_ENV} is set, so no network access is tried")


def hub_network_errors() -> tuple[type[BaseException], ...]:
    """What the hub client raises when it cannot reach the hub.

    Its HTTP transport has changed across versions (requests, httpx, httpx2),
    so the transport's own error types are looked up, not imported.
    """
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    errors: list[type[BaseException]] = [
        ConnectionError,
        TimeoutError,
        OfflineModeIsEnabled,
        LocalEntryNotFoundError,
    ]
    for module_name, names in (
        ("httpx2", ("TransportError",)),
        ("httpx", ("TransportError",)),
        ("requests.exceptions", ("ConnectionError", "Timeout")),
    ):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        errors.extend(getattr(module, name) for name in names if hasattr(module, name))
    return tuple(errors)


def _hub_what(repo_id: str, revision: str | None) -> str:
    return f"dataset {repo_id}" + (f" (revision {revision})" if revision else "")


def hub_files(
    repo_id: str, filenames: Iterable[str], dest_dir: str | os.PathLike, revision: str | None = None
) -> list[Path]:
    """Download named files of a hub dataset repo into ``dest_dir``, keeping repo paths."""
    dest_dir = Path(dest_dir)
    filenames = [filenames] if isinstance(filenames, str) else list(filenames)
    what = f"{_hub_what(repo_id, revision)} files {filenames}"
    refuse_if_offline(what, dest_dir)
    import huggingface_hub

    try:
        return [
            Path(
                huggingface_hub.hf_hub_download(
                    repo_id=repo_id,
                    filename=name,
                    repo_type="dataset",
                    revision=revision,
                    local_dir=dest_dir,
                )
            )
            for name in filenames
        ]
    except hub_network_errors() as err:
        raise download_error(what, dest_dir, f"the hub is unreachable ({type(err).__name__}: {err})") from err


def hub_snapshot(
    repo_id: str,
    dest_dir: str | os.PathLike,
    allow_patterns: str | Iterable[str],
    revision: str | None = None,
) -> list[Path]:
    """Download the files of a hub dataset repo matching ``allow_patterns``; return them."""
    dest_dir = Path(dest_dir)
    patterns = [allow_patterns] if isinstance(allow_patterns, str) else list(allow_patterns)
    what = f"{_hub_what(repo_id, revision)} files matching {patterns}"
    refuse_if_offline(what, dest_dir)
    import huggingface_hub

    try:
        huggingface_hub.snapshot_download(
            repo_id=repo_id,
            repo_type="dataset",
            revision=revision,
            local_dir=dest_dir,
            allow_patterns=patterns,
        )
    except hub_network_errors() as err:
        raise download_error(what, dest_dir, f"the hub is unreachable ({type(err).__name__}: {err})") from err
    return _matching_files(dest_dir, patterns)


def _matching_files(root: Path, patterns: list[str]) -> list[Path]:
    # The hub's rule: a pattern ending in "/" means everything below it.
    patterns = [p + "*" if p.endswith("/") else p for p in patterns]
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        # local_dir downloads keep their bookkeeping in .cache/huggingface.
        if path.is_file() and relative.parts[0] != ".cache":
            if any(fnmatch(relative.as_posix(), p) for p in patterns):
                found.append(path)
    return sorted(found)


def url_file(
    url: str,
    dest: str | os.PathLike,
    unzip: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[Path]:
    """Download ``url`` to the file ``dest``, or with ``unzip`` unpack it into the folder ``dest``.

    ``unzip`` takes zip and tar archives (MMLU ships as ``data.tar``, T-REx as
    a zip). Returns the files written.
    """
    dest = Path(dest)
    if urllib.parse.urlparse(url).scheme != "file":
        refuse_if_offline(url, dest)
    if not unzip:
        atomic_write(dest, lambda tmp: _fetch(url, Path(tmp), timeout, dest))
        return [dest]
    # The archive itself is a temporary input of the unpacking, never an output.
    dest.mkdir(parents=True, exist_ok=True)
    part = dest / f".{dest.name or 'download'}.{os.getpid()}.part"
    try:
        _fetch(url, part, timeout, dest)
        return _unpack(part, dest, url)
    finally:
        part.unlink(missing_ok=True)


def _fetch(url: str, target: Path, timeout: float, dest: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out, _CHUNK)
            expected = response.headers.get("Content-Length")
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as err:
        reason = err if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", err)
        raise download_error(url, dest, f"the download failed ({reason})") from err
    received = target.stat().st_size
    if expected is not None and int(expected) != received:
        raise download_error(url, dest, f"the connection closed after {received} of {expected} bytes")


def _safe_member(name: str, url: str, dest: Path) -> str:
    member = PurePosixPath(name)
    if member.is_absolute() or ".." in member.parts:
        raise ValueError(f"{url}: archive member {name!r} would land outside {dest}")
    return name


def _unpack(archive: Path, dest: Path, url: str) -> list[Path]:
    import gzip
    import lzma
    import zlib

    try:
        return _unpack_checked(archive, dest, url)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError) as err:
        raise DownloadError(
            f"{url}: the downloaded archive is truncated or corrupt ({type(err).__name__}: {err}). "
            f"Download it again, or unpack a good copy into {dest} by hand (source: local)"
        ) from err


_ZIP_MAGIC = b"PK\x03\x04"


def _unpack_checked(archive: Path, dest: Path, url: str) -> list[Path]:
    with open(archive, "rb") as fh:
        head = fh.read(4)
    if head == _ZIP_MAGIC and not zipfile.is_zipfile(archive):
        raise zipfile.BadZipFile("a zip file without its central directory (the download was cut short?)")
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            names = [_safe_member(i.filename, url, dest) for i in infos]
            names = [name for name, i in zip(names, infos) if not i.is_dir()]
            bad = zf.testzip()
            if bad is not None:
                raise zipfile.BadZipFile(f"member {bad!r} fails its CRC check")
            zf.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            names = [_safe_member(m.name, url, dest) for m in members]
            names = [name for name, m in zip(names, members) if m.isfile()]
            # Older Pythons lack extraction filters; _safe_member covered paths.
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, filter="data")
            else:
                tf.extractall(dest)
    else:
        raise ValueError(f"{url} is neither a zip nor a tar archive; set unzip: false to keep it as is")
    return sorted(dest / name for name in names)


def url_filename(url: str) -> str:
    name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    if not name:
        raise ValueError(f"{url}: no file name in the URL path to save it under")
    return name


def _required(spec: Mapping, key: str) -> object:
    if not spec.get(key):
        raise ValueError(f"download spec with source {spec.get('source')!r} needs {key!r}: {dict(spec)}")
    return spec[key]


def download_dataset(spec: Mapping, dest_dir: str | os.PathLike) -> list[Path]:
    """Fetch what a config data spec names into ``dest_dir``; return the files.

    ``{"source": "hub", "repo": ..., "files": [...]}`` downloads single files,
    ``{"source": "hub", "repo": ..., "allow_patterns": [...]}`` a snapshot
    (either with an optional ``revision``), ``{"source": "url", "url": ...,
    "unzip": bool}`` a URL. Other keys are the caller's business.
    """
    dest_dir = Path(dest_dir)
    source = spec.get("source")
    if source == "hub":
        repo = _required(spec, "repo")
        revision = spec.get("revision")
        if spec.get("files"):
            return hub_files(repo, spec["files"], dest_dir, revision)
        if spec.get("allow_patterns"):
            return hub_snapshot(repo, dest_dir, spec["allow_patterns"], revision)
        raise ValueError(f"hub download spec for {repo!r} needs 'files' or 'allow_patterns'")
    if source == "url":
        url = _required(spec, "url")
        if spec.get("unzip", False):
            return url_file(url, dest_dir, unzip=True)
        return url_file(url, dest_dir / url_filename(url))
    raise ValueError(f"unknown download source {source!r}; expected 'hub' or 'url'")
