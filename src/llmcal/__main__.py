"""`llmcal ARGS...` (or `python -m llmcal ARGS...`): Snakemake, with its config files checked first.

Snakemake reads the files given with ``--configfile`` in its command line, before any workflow code
runs, and reports a missing file or a YAML syntax error with its own traceback ("Config file is not
valid JSON or YAML", no line). This front door takes exactly Snakemake's arguments, reads each config
file the way the workflow does (one line naming the file, and line and column of a syntax error), and
then replaces itself with Snakemake, so everything after that is Snakemake's own behaviour:

    llmcal --cores 2 --configfile config/mini.yaml -- all
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

CONFIG_FLAGS = ("--configfile", "--configfiles")


def config_files(argv: list[str]) -> list[str]:
    """The paths Snakemake's argparse reads as config files: `--configfile A B`, `--configfile=A`.

    Like argparse (nargs="+"), a flag takes the arguments after it up to the next one starting with a dash;
    `--` ends the options (targets follow).
    """
    files: list[str] = []
    taking = False
    for arg in argv:
        if arg == "--":
            break
        flag, eq, value = arg.partition("=")
        if flag in CONFIG_FLAGS:
            taking = not eq
            if eq:
                files.append(value)
            continue
        if arg.startswith("-"):
            taking = False
        elif taking:
            files.append(arg)
    return files


def snakemake_executable() -> str:
    """The snakemake beside this interpreter (the project's .venv), else the one on PATH."""
    here = Path(sys.executable).parent / "snakemake"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("snakemake")
    if found is None:
        raise FileNotFoundError("snakemake: not installed in this environment (make mini or make test installs it)")
    return found


def main(argv: list[str] | None = None) -> int:
    from llmcal.config import load_yaml
    from llmcal.registry import ConfigError

    argv = sys.argv[1:] if argv is None else argv
    problems = []
    for path in config_files(argv):
        try:
            load_yaml(path)
        except ConfigError as e:
            problems.append(str(e))
    if problems:
        for line in problems:
            print(f"config: {line}", file=sys.stderr)
        return 1
    try:
        exe = snakemake_executable()
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 1
    os.execv(exe, [exe, *argv])
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    raise SystemExit(main())
