"""The model registry: config entries expanded into the models a run scores.

A config entry with ``steps`` stands for one checkpoint per step (the Pythia
training-dynamics sweep), named ``{name}-step{N}``. Keeping the expansion here,
not in the Snakefile, lets tests and scripts see the same list Snakemake sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llmcal.resources import parameters

ARCHES = ("causal", "seq2seq")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    size: str
    arch: str = "causal"
    hub: str | None = None
    revision: str | None = None
    path: str | None = None
    mini: dict | None = field(default=None, compare=False, hash=False)
    step: int | None = None
    entry: str = ""  # the config entry this model came from
    run: str | None = None  # the alignment run whose checkpoint this is (llmcal.alignment)
    epoch: int | None = None
    prompt: str = "plain"  # "instruct": scored inside the instruction template it was tuned with
    params: float | None = None  # parameter count, for the resources a job asks for (llmcal.resources)

    @property
    def source(self) -> str:
        if self.run:
            return "aligned"
        if self.hub:
            return "hub"
        if self.path:
            return "local"
        return "mini"

    def as_params(self) -> dict:
        """What a scoring job must re-run for when it changes."""
        return {
            "name": self.name,
            "arch": self.arch,
            "source": self.source,
            "hub": self.hub,
            "revision": self.revision,
            "path": self.path,
            "mini": self.mini,
            "step": self.step,
            # Only aligned checkpoints carry these, so adding them left other models' scores standing.
            **({"run": self.run, "epoch": self.epoch, "prompt": self.prompt} if self.run else {}),
        }


def _entry_key(i: int, entry: dict, key: str) -> str:
    return f"models[{i}] ({entry.get('name', '?')}).{key}"


def expand_models(entries: list[dict], final_mini_step: int | None = None) -> dict[str, ModelSpec]:
    """Turn config ``models`` entries into ``{name: ModelSpec}`` in config order."""
    models: dict[str, ModelSpec] = {}
    for i, entry in enumerate(entries):
        name = entry.get("name")
        if not name or not _NAME_RE.match(str(name)):
            raise ConfigError(f"models[{i}].name: {name!r} is not a valid model name (letters, digits, . _ -)")
        sources = [k for k in ("hub", "path", "mini") if entry.get(k) is not None]
        if len(sources) != 1:
            raise ConfigError(
                f"{_entry_key(i, entry, 'hub|path|mini')}: give exactly one source "
                f"(hub repo id, local path, or mini architecture); got {sources or 'none'}"
            )
        arch = entry.get("arch", "causal")
        if arch not in ARCHES:
            raise ConfigError(f"{_entry_key(i, entry, 'arch')}: {arch!r} is not one of {ARCHES}")
        if entry.get("mini") is not None and arch != "causal":
            raise ConfigError(f"{_entry_key(i, entry, 'arch')}: the mini suite is causal only")
        common = dict(
            family=str(entry.get("family", name)),
            size=str(entry.get("size", name)),
            arch=arch,
            hub=entry.get("hub"),
            path=entry.get("path"),
            mini=entry.get("mini"),
            entry=name,
            params=_params(entry, i),
        )
        steps = entry.get("steps")
        if steps:
            template = entry.get("revision", "step{step}")
            if entry.get("hub") and "{step}" not in template:
                raise ConfigError(
                    f"{_entry_key(i, entry, 'revision')}: with steps, the revision must be a "
                    f"template containing '{{step}}', got {template!r}"
                )
            if entry.get("path"):
                raise ConfigError(f"{_entry_key(i, entry, 'steps')}: steps need a hub or mini source")
            for step in steps:
                spec = ModelSpec(
                    name=f"{name}-step{int(step)}",
                    revision=template.format(step=int(step)) if entry.get("hub") else None,
                    step=int(step),
                    **common,
                )
                _add(models, spec, i)
        else:
            step = entry.get("step")
            if entry.get("mini") is not None and step is None:
                step = final_mini_step
            _add(models, ModelSpec(name=name, revision=entry.get("revision"), step=step, **common), i)
    return models


def _params(entry: dict, i: int) -> float | None:
    """`params: 11.3b` where the size label is not a count (FLAN-T5's xxl), else read off the size label."""
    given = entry.get("params")
    if given is None:
        return parameters(str(entry.get("size", ""))) or None
    value = parameters(str(given))
    if not value:
        raise ConfigError(f"{_entry_key(i, entry, 'params')}: {given!r} is not a parameter count such as 350m or 11.3b")
    return value


def _add(models: dict[str, ModelSpec], spec: ModelSpec, i: int) -> None:
    if spec.name in models:
        raise ConfigError(f"models[{i}]: model name {spec.name!r} is defined twice")
    models[spec.name] = spec


def checkpoint_steps(total_steps: int, first: int = 1) -> list[int]:
    """Power-of-two steps up to the last one, plus the last one (Pythia's log-spaced early checkpoints)."""
    steps, s = [], first
    while s < total_steps:
        steps.append(s)
        s *= 2
    steps.append(total_steps)
    return steps
