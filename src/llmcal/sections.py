"""One base for every config section (scoring, metrics, pretrain, world, each training stage).

A section is a frozen dataclass whose fields are declared with ``setting(default, help)``: every field has a
one-line help text, and ``runtime_only=True`` marks the few that change how a job computes but not what it is
asked (how many tokens a scoring batch holds), so that changing them reruns nothing. ``from_dict(d, key)`` builds it from the config mapping at
``key`` (``scoring``, ``alignment.rlhf.ppo``) strictly:

- an unknown key is an error naming its full key path and the nearest valid key (``suggest``);
- values are coerced to the field's type (YAML reads ``3e-4`` as a string), a value that is not one is an
  error naming the key;
- a check of the section's own ``__post_init__`` that raises a plain ValueError is reported under the key.

``results_params()`` is what a rule passes as ``params:``, so Snakemake reruns a job when, and only when, a
field that can change its output changes; ``job_settings`` puts the runtime-only fields back in the job.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from llmcal.registry import ConfigError


def setting(
    default: Any = dataclasses.MISSING, help: str = "", *, runtime_only: bool = False, internal: bool = False, **kw
):
    """A section field: its default, a one-line help text, and whether it is runtime-only (cannot change results).

    `internal` fields are set by the code, never by a config key (e.g. the key path a section was read from).
    """
    if not help:
        raise TypeError("every config field needs a one-line help text")
    metadata = {"help": help, "runtime_only": runtime_only, "internal": internal}
    return dataclasses.field(default=default, metadata=metadata, **kw)


class Section:
    """from_dict, to_dict and results_params shared by the config-section dataclasses."""

    # Where the section sits in the config when it has one fixed place (training stages are given their key).
    section: ClassVar[str] = ""

    @classmethod
    def config_fields(cls) -> list[dataclasses.Field]:
        """The fields a config may set, in declaration order."""
        return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]

    @classmethod
    def runtime_only_fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls.config_fields() if f.metadata.get("runtime_only"))

    @classmethod
    def help(cls) -> dict[str, str]:
        """{field: its one-line help text}."""
        return {f.name: f.metadata.get("help", "") for f in cls.config_fields()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, key: str | None = None, **internal):
        """The section from its config mapping at `key`; every problem a ConfigError naming the full key path.

        `internal` sets fields no config key may set (llmcal.training.settings passes the key path itself).
        """
        key = key or cls.section
        d = {} if d is None else d
        if not isinstance(d, Mapping):
            raise ConfigError(f"{key}: expected a mapping of settings, got {type(d).__name__}")
        hints = typing.get_type_hints(cls)
        problems = unknown_keys(d, [f.name for f in cls.config_fields()], key)
        if problems:
            raise ConfigError("\n".join(problems))
        values = {k: coerce(v, hints[k], f"{key}.{k}") for k, v in d.items()}
        try:
            return cls(**values, **internal)
        except ConfigError:
            raise
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{key}: {e}") from None

    def to_dict(self) -> dict:
        """Every config field as plain data (tuples as lists), as from_dict takes it back."""
        return {f.name: _plain(getattr(self, f.name)) for f in self.config_fields()}

    def results_params(self) -> dict:
        """The fields that can change a result: what a rule's `params:` holds, so only they trigger reruns."""
        runtime = self.runtime_only_fields()
        return {k: v for k, v in self.to_dict().items() if k not in runtime}


def suggest(key: str, allowed: Iterable[str]) -> str:
    """ "; did you mean `x`?" for the allowed name nearest to key, or the list of allowed names."""
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    return f"valid keys here: {', '.join(allowed)}" if allowed else "no keys are accepted here"


def unknown_keys(given: Mapping, allowed: Iterable[str], where: str) -> list[str]:
    """One message per key of `given` that is not in `allowed`."""
    allowed = list(allowed)
    return [
        f"`{where}.{k}`: unknown key; {suggest(str(k), allowed)}"
        if where
        else f"`{k}`: unknown key; {suggest(str(k), allowed)}"
        for k in given
        if k not in allowed
    ]


def check_keys(given: Mapping, allowed: Iterable[str], where: str) -> None:
    """A ConfigError listing every key of `given` that is not in `allowed`."""
    problems = unknown_keys(given, allowed, where)
    if problems:
        raise ConfigError("\n".join(problems))


def job_settings(cls: type[Section], params: Mapping, config: Mapping) -> dict:
    """A job's whole section: the result fields from its rule's `params:`, the runtime-only ones from the config.

    Runtime-only fields stay out of `params:` so that changing them reruns nothing; the job still reads them.
    """
    section = config.get(cls.section) or {}
    runtime = {k: section[k] for k in cls.runtime_only_fields() if k in section}
    return {**dict(params), **runtime}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def coerce(value, hint, where: str):
    """The value as the field's type, or a ConfigError naming the config key."""
    args = typing.get_args(hint)
    if type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    converted = _convert(value, hint)
    if converted is None:
        raise ConfigError(f"{where}: expected {_type_name(hint)}, got {value!r}")
    return converted


def _type_name(hint) -> str:
    if typing.get_origin(hint) is tuple:
        return f"a list of {_type_name(typing.get_args(hint)[0])}"
    return getattr(hint, "__name__", str(hint))


def _convert(value, hint):
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            return None
        out = [_convert(v, item) for v in items]
        return None if any(v is None for v in out) else tuple(out)
    if isinstance(value, bool) or hint is bool:  # bool is an int in Python; neither may stand for the other
        return value if hint is bool and isinstance(value, bool) else None
    if hint is str:
        return value if isinstance(value, str) else None
    if hint not in (int, float):
        raise TypeError(f"config fields are bool, int, float, str or tuples of them, not {hint}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if hint is int:
        return int(number) if number.is_integer() else None
    return number
