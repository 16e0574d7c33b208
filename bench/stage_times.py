"""Where a Snakemake run spent its wall time: per rule, the jobs, their summed seconds and the span they covered.

    python bench/stage_times.py [.snakemake/log/<run>.snakemake.log]   (default: the newest log)

Reads only the log Snakemake writes for every run (job start stamps, `Finished jobid` lines), so it works for any
preset and any past run. The README's stage times for `make mini` come from this script.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
DONE = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def parse(path: Path) -> dict[str, list[tuple[datetime, datetime]]]:
    """Rule -> [(start, end)] of every job the log saw start and finish."""
    now, pending, starts, spans = None, None, {}, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := STAMP.match(line):
            now = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif m := START.match(line):
            pending = (m.group(1), now)
        elif (m := JOBID.match(line)) and pending:
            starts[m.group(1)] = pending
            pending = None
        elif m := DONE.match(line):
            rule, t0 = starts.pop(m.group(1), (m.group(2), None))
            if t0 is not None:
                spans.setdefault(rule, []).append((t0, now))
    return spans


def table(spans: dict[str, list[tuple[datetime, datetime]]]) -> str:
    rows = sorted(spans.items(), key=lambda kv: min(s for s, _ in kv[1]))
    t0 = min(s for v in spans.values() for s, _ in v)
    t1 = max(e for v in spans.values() for _, e in v)
    out = [
        "| rule | jobs | job time (s, summed) | longest job (s) | from (min:s) | to (min:s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]

    def mmss(t):
        s = int((t - t0).total_seconds())
        return f"{s // 60}:{s % 60:02d}"

    for rule, jobs in rows:
        secs = [(e - s).total_seconds() for s, e in jobs]
        first, last = min(s for s, _ in jobs), max(e for _, e in jobs)
        out.append(f"| {rule} | {len(jobs)} | {sum(secs):.0f} | {max(secs):.0f} | {mmss(first)} | {mmss(last)} |")
    out.append(f"\nwall time, first job start to last job end: {mmss(t1)}")
    return "\n".join(out)


def main(argv: list[str]) -> None:
    if argv:
        path = Path(argv[0])
    else:
        logs = sorted(Path(".snakemake/log").glob("*.snakemake.log"))
        if not logs:
            sys.exit("no Snakemake log under .snakemake/log: run the workflow first, or pass a log")
        path = logs[-1]
    spans = parse(path)
    if not spans:
        sys.exit(f"{path}: no finished job in this log")
    print(f"{path}\n")
    print(table(spans))


if __name__ == "__main__":
    main(sys.argv[1:])
