"""Writing outputs whole or not at all, readable as the user's umask says (collaborators on a cluster included),
and reading them back.

tempfile's mkstemp and mkdtemp create 0600 files and 0700 directories whatever the umask is; an output moved
into place from one of them would be unreadable by the rest of a group. Every atomic write goes through here, and
every read of a file the workflow wrote and reads back (parquet samples, score files, instruction tables, figure
points; the CSV tables): a file damaged or cut short after it was written (a full disk, a copy that stopped) is an
error naming it, never pyarrow's message without a path or a table silently short of its last rows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def umask_mode(directory: bool = False) -> int:
    """The mode open() or mkdir() would give a new file or directory."""
    return (0o777 if directory else 0o666) & ~current_umask()


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """write(tmp) fills a temporary file beside path, which then replaces path in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


class atomic_dir:
    """Build a directory beside its destination and move it into place only when complete."""

    def __init__(self, dest: str | Path):
        self.dest = Path(dest)

    def __enter__(self) -> str:
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix=f".{self.dest.name}.", dir=self.dest.parent)
        os.chmod(self.tmp, umask_mode(directory=True))
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        if self.dest.exists():
            shutil.rmtree(self.dest)
        os.replace(self.tmp, self.dest)
        return False


LOCK_NAME = ".llmcal.lock"
_held: dict[str, object] = {}


def input_files(path: str | Path) -> list[str]:
    """A user's own input (a local data folder or checkpoint) as Snakemake should watch it.

    Snakemake dates a folder by the folder's own mtime, which a file rewritten in place inside it (a checkpoint
    saved again into the same folder, a CSV corrected, a file in a subfolder replaced) does not change: the jobs
    reading it would keep their old outputs without a word. So a folder stands for itself and every file under it
    (names starting with "." left out: .git, .cache, editor files), and a file changed, added or removed there
    reruns them (Snakemake's mtime and input-set triggers). A file, or a path that does not exist (Snakemake
    names it as missing), is returned as it is.
    """
    path = str(path)
    if not os.path.isdir(path):
        return [path]
    files = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(os.path.join(root, n) for n in sorted(names) if not n.startswith("."))
    return [path, *files]


class ResultsInUse(RuntimeError):
    pass


def lock_results(results: str | Path) -> None:
    """Hold an exclusive lock on the results directory for the life of this process.

    Snakemake's own lock lives in the working directory, so two runs started from different directories with
    the same `results:` would both write it (two training jobs sharing one `.state/` folder). The lock is an
    flock, released by the kernel when the process ends, so a killed run leaves nothing to clean up.
    """
    import fcntl
    import json
    import time

    root = Path(results).resolve()
    if str(root) in _held:
        return
    root.mkdir(parents=True, exist_ok=True)
    fh = open(root / LOCK_NAME, "a+", encoding="utf-8")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        try:
            info = json.loads(fh.read())
            holder = f"pid {info['pid']}, started {info['started']} in {info['cwd']}"
        except (ValueError, KeyError, TypeError):
            holder = "holder unknown"
        fh.close()
        raise ResultsInUse(
            f"{root} is in use by another llmcal run ({holder}); two runs writing one results directory would "
            f"mix their outputs and training state. Wait for that run to finish, or give this one its own "
            f"`results:` in the config"
        ) from None
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps({"pid": os.getpid(), "cwd": os.getcwd(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
    fh.flush()
    _held[str(root)] = fh


def _unreadable(path, err: Exception) -> ValueError:
    if isinstance(err, FileNotFoundError):
        return ValueError(f"{path}: missing; run the workflow, which builds it")
    return ValueError(
        f"{path}: not a readable parquet file ({err}); it was damaged or cut short after the workflow wrote it: "
        f"delete it and run the workflow again, which rebuilds it"
    )


def open_parquet(path: str | Path):
    """A workflow-written parquet file's footer (pyarrow.parquet.ParquetFile: schema, row count), read checked."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise _unreadable(path, err) from None


def read_parquet(path: str | Path, columns=None):
    """A workflow-written parquet file as a DataFrame (only `columns`, if given), read checked."""
    import pandas as pd
    import pyarrow as pa

    try:
        return pd.read_parquet(path, columns=None if columns is None else list(columns))
    except (pa.ArrowInvalid, OSError) as err:
        raise _unreadable(path, err) from None


def read_table_csv(path: str | Path):
    """A CSV table the workflow wrote (metrics.csv, per_subject.csv, kshot.csv) as a DataFrame, read checked.

    pandas reads a CSV cut short as a shorter table (its last row half empty), so a table must end with the
    newline every row of it does, and have a header row.
    """
    import pandas as pd

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size:
                fh.seek(size - 1)
            last = fh.read(1)
    except OSError as err:
        raise ValueError(f"{path}: not readable ({err}); run the workflow again, which rebuilds it") from None
    if last != b"\n":
        what = "empty" if size == 0 else "cut short (its last line has no newline)"
        raise ValueError(
            f"{path}: {what}; it was damaged after the workflow wrote it: delete it and run the workflow again, "
            f"which rebuilds it"
        )
    return pd.read_csv(path)
