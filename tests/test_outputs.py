"""Outputs a user can trust on a shared machine: readable as the umask says, byte-identical across runs (PDFs
included), one results directory per run, and job logs that keep the reason a job died."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmcal.fsio import atomic_dir, atomic_write, lock_results

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


@pytest.fixture
def umask():
    def set_(mask):
        os.umask(mask)

    old = os.umask(0o022)
    yield set_
    os.umask(old)


@pytest.mark.parametrize(
    "mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)]
)
def test_outputs_respect_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    import pyarrow as pa

    from llmcal.data.sources import write_table
    from llmcal.figures import figure_reliability
    from llmcal.fsio import atomic_text

    umask(mask)
    atomic_write(tmp_path / "a.csv", lambda tmp: Path(tmp).write_text("x\n"))
    atomic_text(tmp_path / "r.md", "# report\n")
    write_table(pa.table({"id": ["a"]}), tmp_path / "t.parquet")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"confidence": rng.uniform(0.3, 1, 50), "correct": rng.uniform(size=50) < 0.5})
    figure_reliability({"mmlu": df}, "m", tmp_path / "f.pdf")
    with atomic_dir(tmp_path / "model") as tmp:
        (Path(tmp) / "w.bin").write_bytes(b"0")
    for name in ("a.csv", "r.md", "t.parquet", "f.pdf", "model/w.bin"):
        assert (tmp_path / name).stat().st_mode & 0o777 == file_mode, name
    assert (tmp_path / "model").stat().st_mode & 0o777 == dir_mode


def test_identical_figures_are_byte_identical(tmp_path):
    from llmcal.figures import figure_reliability

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"confidence": rng.uniform(0.3, 1, 50), "correct": rng.uniform(size=50) < 0.5})
    figure_reliability({"mmlu": df}, "m", tmp_path / "a.pdf")
    import time

    time.sleep(1.1)  # a creation date would differ by now
    figure_reliability({"mmlu": df}, "m", tmp_path / "b.pdf")
    a, b = (tmp_path / "a.pdf").read_bytes(), (tmp_path / "b.pdf").read_bytes()
    assert b"CreationDate" not in a
    assert a == b


def test_a_second_run_on_the_same_results_refuses(tmp_path):
    results = tmp_path / "results"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys, time
        from llmcal.fsio import lock_results
        lock_results({str(results)!r})
        print("locked", flush=True)
        sys.stdin.read()
    """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            RuntimeError,
            match=rf"{results} is in use by another llmcal run \(pid {holder.pid}, "
            r"started .*\); .* give this one its own `results:`",
        ):
            lock_results(results)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # A finished (or killed) run leaves no lock behind.
    lock_results(results)


USER_ERROR_JOB = """
import warnings
pipeline.log.info("attempt working")
warnings.warn("only 3 of 5 samples")
raise ValueError("data.clm.local.val: /data/val.jsonl.zst is truncated; download it again")
"""


def _job_workflow(tmp_path: Path, body: str = USER_ERROR_JOB) -> Path:
    """A one-rule workflow whose script job sets up llmcal's logging, then runs `body`."""
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent("""
        rule a:
            output: "out.txt"
            log: "logs/a.log"
            script: "job.py"
    """)
    )
    head = f"import sys\nsys.path.insert(0, {str(ROOT / 'src')!r})\nfrom llmcal import pipeline\n"
    (tmp_path / "job.py").write_text(head + "pipeline.setup_logging(snakemake.log[0])\n" + textwrap.dedent(body))
    return tmp_path


def _run(work: Path) -> str:
    proc = subprocess.run([str(SNAKEMAKE), "--cores", "1"], cwd=work, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    return proc.stdout + proc.stderr


def test_a_user_error_is_one_line_on_the_console_and_a_traceback_in_the_log(tmp_path):
    work = _job_workflow(tmp_path)
    console = _run(work)
    assert "error: data.clm.local.val: /data/val.jsonl.zst is truncated; download it again (traceback in " in console
    assert "Traceback" not in console
    log = (work / "logs" / "a.log").read_text()
    assert "only 3 of 5 samples" in log  # warnings reach the log file too
    assert "Traceback (most recent call last)" in log and "ValueError: data.clm.local.val" in log


def test_a_rerun_keeps_the_log_of_the_attempt_before(tmp_path):
    work = _job_workflow(tmp_path)
    _run(work)
    _run(work)
    log = (work / "logs" / "a.log").read_text()
    assert log.count("==== attempt started") == 2 and "earlier attempts above" in log
    assert log.count("download it again (traceback in") == 2


def test_a_finished_job_leaves_at_once_with_its_log_and_output_whole(tmp_path):
    """pipeline.finish skips interpreter tear-down: the log's last line, buffered console text and the output
    written before it all survive, Snakemake sees status 0, and an atexit hook (tear-down) never runs."""
    _job_workflow(
        tmp_path,
        """
        import atexit
        from pathlib import Path
        atexit.register(lambda: Path("torn-down").write_text("tear-down ran"))
        Path(snakemake.output[0]).write_text("done")
        pipeline.log.info("last line of the job")
        sys.stdout.write("buffered console text")  # no newline: still in the buffer
        pipeline.finish()
        raise AssertionError("finish returned")
        """,
    )
    proc = subprocess.run([str(SNAKEMAKE), "--cores", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.txt").read_text() == "done"
    assert (tmp_path / "logs" / "a.log").read_text().rstrip().endswith("last line of the job")
    assert "buffered console text" in proc.stdout + proc.stderr
    assert not (tmp_path / "torn-down").exists()


def test_every_job_script_ends_with_finish():
    for script in sorted((ROOT / "scripts").glob("*.py")):
        lines = script.read_text().rstrip().splitlines()
        assert lines[-1] == "pipeline.finish()", f"{script.name} does not end with pipeline.finish()"


def test_a_local_folder_is_watched_file_by_file(tmp_path):
    """fsio.input_files: a folder stands for itself and every file under it, sorted, hidden names left out; a file
    or a missing path is itself."""
    from llmcal.fsio import input_files

    root = tmp_path / "mmlu"
    for rel in ("data/test/b_test.csv", "data/dev/a_dev.csv", "README", ".DS_Store", ".git/HEAD", "data/.x/y"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    assert input_files(root) == [str(root)] + [
        str(root / rel) for rel in ("README", "data/dev/a_dev.csv", "data/test/b_test.csv")
    ]
    assert input_files(root / "README") == [str(root / "README")]
    assert input_files(tmp_path / "missing") == [str(tmp_path / "missing")]
