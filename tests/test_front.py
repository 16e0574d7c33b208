"""`llmcal ...`: Snakemake's arguments, with each --configfile read first and reported in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmcal.__main__ import config_files

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("argv", "files"),
    [
        (["--cores", "2", "--configfile", "a.yaml", "--", "all"], ["a.yaml"]),
        (["--configfile", "a.yaml", "b.yaml", "-n", "all"], ["a.yaml", "b.yaml"]),
        (["--configfiles", "a.yaml", "--", "b.yaml"], ["a.yaml"]),
        (["--configfile=a.yaml", "all"], ["a.yaml"]),  # argparse: `=` takes exactly one, `all` is a target
        (["-n", "all"], []),
        (["--", "--configfile", "x.yaml"], []),  # after `--` everything is a target
    ],
)
def test_config_files_are_found_as_argparse_reads_them(argv, files):
    assert config_files(argv) == files


def front(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "llmcal", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_a_missing_configfile_is_one_line_without_a_traceback(tmp_path):
    proc = front("-n", "--configfile", str(tmp_path / "nope.yaml"), "--", "all")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"config: {tmp_path / 'nope.yaml'}: no such config file (relative paths are read from {ROOT})"]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_yaml_syntax_error_names_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("results: results/x\nscoring: {max_length: 64\nseed: 1\n")
    proc = front("-n", "--configfile", str(ROOT / "config" / "mini.yaml"), str(bad), "--", "all")
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"config: {bad}, line 3, column 5: YAML syntax error:"), line


def test_good_configfiles_reach_snakemake_with_the_same_arguments(tmp_path):
    # Results elsewhere than the checkout's own results/mini, which a finished `make mini` leaves complete.
    elsewhere = tmp_path / "results.yaml"
    elsewhere.write_text(f"results: {tmp_path / 'mini'}\n")
    mini = str(ROOT / "config" / "mini.yaml")
    proc = front("-n", "--quiet", "rules", "--configfile", mini, str(elsewhere), "--", "all")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "This was a dry-run" in out and "pretrain_mini" in out


def header_commands() -> list[list[str]]:
    """The commands the headers of the Snakefile and config/mini.yaml tell a user to run."""
    import re
    import shlex

    text = [line for f in ("Snakefile", "config/mini.yaml") for line in (ROOT / f).read_text().splitlines()[:6]]
    found = []
    for line in text:
        m = re.search(r"((?:snakemake|llmcal) --cores .*?)(?:\s{2,}|$)", line)
        if m:
            found.append(shlex.split(m.group(1)))
    return found


def test_header_commands_work_as_written():
    commands = header_commands()
    assert len(commands) == 3, commands  # the paper and the mini preset in the Snakefile, the mini preset's own
    for cmd in commands:
        front_door = [sys.executable, "-m", "llmcal"]
        exe = [str(Path(sys.executable).parent / "snakemake")] if cmd[0] == "snakemake" else front_door
        proc = subprocess.run(
            [*exe, "-n", "--quiet", "rules", *cmd[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, (cmd, proc.stderr[-2000:])
        # A checkout whose mini run is finished (make mini, then make test) has nothing left to do.
        out = proc.stdout + proc.stderr
        assert "This was a dry-run" in out or "Nothing to be done" in out, cmd
