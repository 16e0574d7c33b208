"""A job's log: what the console shows, what the log file keeps, and how a failure is reported.

A user's mistake (a bad config value, a damaged data file, a missing model) is one readable message on the
console, with the Python traceback kept in the job's log file below it for debugging. A bug (any other
exception) shows its traceback in both. Warnings (a sample smaller than asked, shortened prompts) go to the
log file as well as the console. A rerun appends to the log of the attempt before it, so the reason a job
died survives the rerun.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger("llmcal")

# What a user can fix (config, data, paths, models): reported as a message, not a traceback. A KeyError or
# IndexError is almost always a bug, so it keeps its traceback on the console.
USER_ERRORS = (ValueError, OSError, RuntimeError)
FORMAT = "%(asctime)s %(message)s"


class _NoTraceback(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text:
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


def attempts_file(log_file: Path) -> Path:
    """Every attempt of a job, appended: `<log>.attempts` beside the log Snakemake knows."""
    return log_file.with_name(f"{log_file.name}.attempts")


def setup_logging(path: str | None) -> None:
    console = logging.StreamHandler()
    console.setFormatter(_NoTraceback(FORMAT))
    handlers: list[logging.Handler] = [console]
    log_file = None
    if path:
        log_file = Path(path)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        # Snakemake deletes a job's log before it reruns the job; the attempts file beside it is not Snakemake's.
        attempts = attempts_file(log_file)
        earlier = attempts.read_text(encoding="utf-8", errors="replace") if attempts.is_file() else ""
        header = (
            f"==== attempt started {time.strftime('%Y-%m-%d %H:%M:%S')} (pid {os.getpid()})"
            f"{'; earlier attempts above' if earlier else ''} ====\n"
        )
        with open(log_file, "a", encoding="utf-8") as fh:
            fh.write(earlier + header)
        with open(attempts, "a", encoding="utf-8") as fh:
            fh.write(header)
        for target in (log_file, attempts):
            file_handler = logging.FileHandler(target, mode="a", encoding="utf-8")
            file_handler.setFormatter(logging.Formatter(FORMAT))
            handlers.append(file_handler)
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)

    def report_uncaught(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            log.error("job interrupted", exc_info=(exc_type, exc, tb))
        elif issubclass(exc_type, USER_ERRORS):
            where = f" (traceback in {log_file})" if log_file else ""
            log.error("error: %s%s", exc, where, exc_info=(exc_type, exc, tb))
        else:
            log.error("job failed: %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))
            console.stream.write(logging.Formatter().formatException((exc_type, exc, tb)) + "\n")

    sys.excepthook = report_uncaught


def finish() -> None:
    """End a job whose work is done: flush its log and the standard streams, then leave the process at once.

    A job that imported torch and transformers (or TRL) spends 1.2-1.5 s after its last line tearing down
    thousands of modules (measured on a 2-core CPU), about a minute of the mini preset's job time. Nothing is
    left to do then: every output was written and closed by the job (atomic writes), and an exception never
    reaches this call, so a failed job still exits through its traceback and status 1.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)
