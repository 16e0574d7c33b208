"""Tasks as registered units: one module per task holds everything the workflow knows about it.

A task is an instance of a `Task` subclass, registered by name with `register`. Its module says
where its raw files come from for each data source, how it is sampled (choosing among the readers of
llmcal.data.sources), how a sample becomes (context, target) requests for a model, how those are
scored and reduced to per-sample rows, its label in figures, its Table 1 instruction for
instruction-tuned models, and what its scoring job logs. The rest of the package asks the registry.

The built-in tasks are `clm`, `facts` and `mmlu` (llmcal.tasks.clm, .facts, .mmlu); their config
sections are in schemas/config.schema.yaml. A task outside the package is a module named in the
config's `task_modules` (importable where Snakemake and its jobs run: on PYTHONPATH or installed)
that calls `register`; it brings its own `data_schema`, the closed JSON schema of its `data.<name>`
section, which the config check merges into the schema (llmcal.config.schema_for).

Task modules import nothing heavy at import time (torch, pandas, pyarrow inside their methods): the DAG is
built without them.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmcal.registry import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

    from llmcal.scoring.tasks import Requests, ScoringConfig

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
BUILTIN_MODULES = ("llmcal.tasks.clm", "llmcal.tasks.facts", "llmcal.tasks.mmlu")


class Task:
    """One task. Subclasses set the class attributes and implement the data and scoring methods."""

    name: str = ""
    label: str = ""  # in figure titles; config `task_labels` overrides it per run
    # The Table 1 instruction an instruction-tuned model is asked inside the Alpaca template; None: such models
    # cannot be scored on the task (a config with an alignment stage then fails before any job runs).
    instruction: str | None = None
    # The JSON schema of the task's `data.<name>` section, closed (additionalProperties: false). Built-in tasks
    # have theirs in schemas/config.schema.yaml; a task from `task_modules` must give one.
    data_schema: Mapping[str, Any] | None = None
    # The part the task plays in finding F7 (calibration improves more with scale on knowledge than on LM):
    # "lm" (the reference, causal LM) or "knowledge" (compared with it); None: not part of it.
    findings_role: str | None = None

    # config -----------------------------------------------------------------------------------------------

    def check(self, cfg: Mapping, key: str, world) -> None:
        """Rules of `data.<name>` that hold only with the rest of the config; world: the mini WorldConfig or None."""

    # data -------------------------------------------------------------------------------------------------

    def raw_files(self, source: str, cfg: Mapping, raw: Path, key: str) -> dict:
        """What the sampler opens: {"inputs": [paths Snakemake waits for], "read": {...} for `sample`}.

        `raw` is where a downloaded (hub, url) task lands, or the mini world's folder (source mini);
        source local reads `cfg["local"]`. The default hands the sampler one path.
        """
        if source == "mini":
            raise ConfigError(
                f"{key}.source: the mini world has no files for task {self.name!r}; use source local, hub or url"
            )
        path = str(cfg["local"]) if source == "local" else str(raw)
        return {"inputs": [path], "read": {"path": path}}

    def sample(self, read: Mapping, cfg: Mapping, seed: int, *, allow_fewer: bool, key: str) -> pa.Table:
        """The canonical seeded sample (a table with an `id` column); fewer rows than asked is an error
        naming `key` (data.<name>.allow_fewer) unless allow_fewer."""
        raise NotImplementedError(f"task {self.name!r} does not say how it is sampled")

    def expected_samples(self, cfg: Mapping) -> int:
        """How many samples one scoring job scores (it sizes the job's runtime)."""
        if cfg.get("n") is None:
            raise ConfigError(f"data.{self.name}.n: missing; the size of task {self.name!r}'s sample sizes its jobs")
        return int(cfg["n"])

    # scoring ----------------------------------------------------------------------------------------------

    def instruction_text(self, subject: str | None = None) -> str:
        """The instruction as the tuned model sees it: in the Alpaca template."""
        from llmcal.data.instructions import format_alpaca

        if self.instruction is None:
            raise ValueError(f"task {self.name!r} has no instruction for instruction-tuned models")
        return format_alpaca(self.instruction)

    @property
    def instructable(self) -> bool:
        return self.instruction is not None

    def requests(
        self, df: pd.DataFrame, tokenizer, arch: str, cfg: ScoringConfig, seed: int, instruct: bool = False
    ) -> Requests:
        """One next-token question per sample, in the model's own tokens."""
        raise NotImplementedError(f"task {self.name!r} does not say how a sample becomes requests")

    def score(self, lm, df: pd.DataFrame, cfg: ScoringConfig, seed: int, instruct: bool = False) -> pd.DataFrame:
        """Per-sample rows with at least id, confidence (in [0, 1]) and correct (bool). Default: top-1 next token."""
        from llmcal.scoring.tasks import score_top1

        return score_top1(lm, self.requests(df, lm.tokenizer, lm.arch, cfg, seed, instruct), cfg)

    def log_summary(self, result: pd.DataFrame) -> str:
        """Extra text for the scoring job's log line (e.g. MMLU's shortened prompts)."""
        return ""


_TASKS: dict[str, Task] = {}
_BY_MODULE: dict[str, list[str]] = {}


def _module_of(task: Task) -> str:
    return type(task).__module__


def register(task: Task) -> Task:
    """Add a task to the registry (called by its module at import time); returns it."""
    if not isinstance(task, Task):
        raise TypeError(f"register takes a llmcal.tasks.Task instance, got {type(task).__name__}")
    name, module = task.name, _module_of(task)
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(
            f"task name {name!r} (from {module}): use lower-case letters, digits and _, "
            f"starting with a letter (it is a folder and a wildcard)"
        )
    if not isinstance(task.label, str) or not task.label:
        raise ValueError(f"task {name!r} (from {module}): give it a label")
    if task.findings_role not in (None, "lm", "knowledge"):
        raise ValueError(
            f"task {name!r} (from {module}): findings_role is None, 'lm' or 'knowledge', got {task.findings_role!r}"
        )
    if module not in BUILTIN_MODULES:
        _check_data_schema(task, module)
    old = _TASKS.get(name)
    if old is not None and (_module_of(old), type(old).__qualname__) != (module, type(task).__qualname__):
        raise ValueError(f"task {name!r} is registered twice: by {_module_of(old)} and by {module}")
    _TASKS[name] = task
    names = _BY_MODULE.setdefault(module, [])
    if name not in names:
        names.append(name)
    return task


def _check_data_schema(task: Task, module: str) -> None:
    schema = task.data_schema
    where = f"task {task.name!r} (from {module}): data_schema"
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        raise ValueError(f"{where}: give the JSON schema of its data.{task.name} section, a mapping with type: object")
    if schema.get("additionalProperties") is not False or "source" not in schema.get("properties", {}):
        raise ValueError(
            f"{where}: the section must be closed (additionalProperties: false) and have a "
            f"`source` property, so that a misspelt key is an error"
        )


def get(name: str) -> Task:
    try:
        return _TASKS[name]
    except KeyError:
        raise ConfigError(
            f"tasks: {name!r} is not a task; tasks are {names()} (a task of your own is a module "
            f"named in `task_modules`)"
        ) from None


def names() -> tuple[str, ...]:
    """Every registered task, built-in ones first, in registration order."""
    return tuple(_TASKS)


def builtin() -> tuple[str, ...]:
    return tuple(n for m in BUILTIN_MODULES for n in _BY_MODULE.get(m, ()))


def labels() -> dict[str, str]:
    return {n: t.label for n, t in _TASKS.items()}


def load_modules(modules: Iterable[str] | None, key: str = "task_modules") -> tuple[str, ...]:
    """Import the config's task modules; the names of the tasks they register, in order."""
    out: list[str] = []
    for i, module in enumerate(modules or ()):
        if not isinstance(module, str):
            raise ConfigError(f"{key}[{i}]: {module!r} is not a module name")
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ConfigError(
                f"{key}[{i}]: cannot import {module!r} ({e}); the module must be importable where "
                f"Snakemake and its jobs run (on PYTHONPATH, or installed)"
            ) from None
        except (TypeError, ValueError) as e:  # register() refused one of its tasks
            raise ConfigError(f"{key}[{i}]: {module!r}: {e}") from None
        registered = _BY_MODULE.get(module)
        if not registered:
            raise ConfigError(f"{key}[{i}]: {module!r} registers no task; it must call llmcal.tasks.register(...)")
        out += [n for n in registered if n not in out]
    return tuple(out)


def code_files(task_names: Iterable[str]) -> list[str]:
    """The source files of the tasks of your own among these (the module defining each Task class), sorted.

    They are inputs of the jobs that sample and score them, so that an edit of a task (its prompt, its reader)
    reruns what it built instead of leaving the old samples and scores in place. The package's own modules are
    left out, as the rest of src/llmcal is (README: a newer checkout keeps older outputs).
    """
    files = set()
    for name in task_names:
        module = _module_of(get(name))
        path = getattr(sys.modules.get(module), "__file__", None)
        if module not in BUILTIN_MODULES and path:
            files.add(str(Path(path).resolve()))
    return sorted(files)


def available(modules: Iterable[str] | None) -> tuple[str, ...]:
    """The tasks a config can name: the built-in ones and those of its `task_modules`."""
    extra = load_modules(modules)
    return builtin() + tuple(n for n in extra if n not in builtin())


# entry points: what the scoring job and the tests call, by task name ------------------------------------------


def instruction(task: str, subject: str | None = None) -> str:
    """The Table 1 instruction of a task, as the tuned model sees it: in the Alpaca template."""
    return get(task).instruction_text(subject)


def build_requests(
    task: str, df: pd.DataFrame, tokenizer, arch: str, cfg: ScoringConfig, seed: int, instruct: bool = False
) -> Requests:
    """A task's samples as next-token questions in a model's own tokens."""
    return get(task).requests(df, tokenizer, arch, cfg, seed, instruct)


def score_task(lm, task: str, df: pd.DataFrame, cfg: ScoringConfig, seed: int, instruct: bool = False) -> pd.DataFrame:
    """Per-sample confidence and correctness of one model on one task's samples."""
    return get(task).score(lm, df, cfg, seed, instruct)


for _m in BUILTIN_MODULES:
    importlib.import_module(_m)
