"""The model registry: config entries expanded into the models a run scores.

A config entry with ``steps`` stands for one checkpoint per step (the Pythia
training-dynamics sweep), named ``{name}-step{N}``; its hub revision is the
``revision`` template with ``{step}`` filled in, or, where a suite's revision
names are not one pattern (OLMo's ``step20000-tokens84B``), ``revisions``, a
mapping from step to the revision name as published. An entry with ``seeds``
stands for one run per seed (PolyPythias): ``{seed}`` in its name and hub repo
is filled in, and ``replicates`` names the model (or steps entry) the runs
repeat with other seeds, so that figures can draw the seed spread around it.
Keeping the expansion here, not in the Snakefile, lets tests and scripts see
the same list Snakemake sees.
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
    seed: int | None = None  # the pretraining seed of a seed-replica run (PolyPythias)
    replica_of: str | None = None  # the model this run repeats with another seed

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
            **({"seed": self.seed} if self.seed is not None else {}),
        }


def _entry_key(i: int, entry: dict, key: str) -> str:
    return f"models[{i}] ({entry.get('name', '?')}).{key}"


def expand_models(entries: list[dict], final_mini_step: int | None = None) -> dict[str, ModelSpec]:
    """Turn config ``models`` entries into ``{name: ModelSpec}`` in config order."""
    models: dict[str, ModelSpec] = {}
    replicas: list[tuple[int, dict, str]] = []
    for i, entry in enumerate(entries):
        seeds = entry.get("seeds")
        if seeds is None:
            if entry.get("replicates") is not None:
                raise ConfigError(
                    f"{_entry_key(i, entry, 'replicates')}: only an entry with `seeds` replicates a model"
                )
            _expand(models, i, entry, dict(entry), final_mini_step)
            continue
        for key in ("name", "hub"):
            if "{seed}" not in str(entry.get(key) or ""):
                raise ConfigError(
                    f"{_entry_key(i, entry, key)}: with seeds, the {key} must contain '{{seed}}' (e.g. "
                    f"EleutherAI/pythia-160m-seed{{seed}}), got {entry.get(key)!r}"
                )
        if len(set(seeds)) != len(seeds) or not seeds:
            raise ConfigError(f"{_entry_key(i, entry, 'seeds')}: {seeds} must be distinct seeds, at least one")
        for seed in seeds:
            one = {**entry, "name": entry["name"].format(seed=int(seed)), "hub": entry["hub"].format(seed=int(seed))}
            for spec in _expand(models, i, entry, one, final_mini_step, seed=int(seed)):
                if entry.get("replicates") is not None:
                    original = str(entry["replicates"]) + (f"-step{spec.step}" if entry.get("steps") else "")
                    replicas.append((i, entry, original))
                    models[spec.name] = _replace(spec, replica_of=original)
    for i, entry, original in replicas:
        if original not in models or models[original].seed is not None:
            raise ConfigError(
                f"{_entry_key(i, entry, 'replicates')}: {original!r} is not a model of `models` (with steps, "
                f"`replicates` names a steps entry that has the same steps)"
            )
    return models


def _replace(spec: ModelSpec, **changes) -> ModelSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def _expand(models, i: int, entry: dict, one: dict, final_mini_step, seed: int | None = None) -> list[ModelSpec]:
    """Add the models of one entry (one seed of a `seeds` entry): its checkpoints, or itself."""
    name = one.get("name")
    if not name or not _NAME_RE.match(str(name)):
        raise ConfigError(f"models[{i}].name: {name!r} is not a valid model name (letters, digits, . _ -)")
    sources = [k for k in ("hub", "path", "mini") if one.get(k) is not None]
    if len(sources) != 1:
        raise ConfigError(
            f"{_entry_key(i, entry, 'hub|path|mini')}: give exactly one source "
            f"(hub repo id, local path, or mini architecture); got {sources or 'none'}"
        )
    arch = one.get("arch", "causal")
    if arch not in ARCHES:
        raise ConfigError(f"{_entry_key(i, entry, 'arch')}: {arch!r} is not one of {ARCHES}")
    if one.get("mini") is not None and arch != "causal":
        raise ConfigError(f"{_entry_key(i, entry, 'arch')}: the mini suite is causal only")
    common = dict(
        family=str(one.get("family", name)),
        size=str(one.get("size", name)),
        arch=arch,
        hub=one.get("hub"),
        path=one.get("path"),
        mini=one.get("mini"),
        entry=entry.get("name") if seed is None else name,
        params=_params(one, i),
        seed=seed,
    )
    revisions = one.get("revisions")
    if revisions is not None and one.get("steps"):
        raise ConfigError(f"{_entry_key(i, entry, 'revisions')}: give steps (with a revision template) or revisions")
    if revisions is not None:
        if not one.get("hub") or not isinstance(revisions, dict) or not revisions:
            raise ConfigError(
                f"{_entry_key(i, entry, 'revisions')}: a mapping of training step to hub revision name "
                f"(e.g. {{20000: step20000-tokens84B}}) of a hub model"
            )
        checkpoints = [(int(step), str(rev)) for step, rev in revisions.items()]
    elif one.get("steps"):
        template = one.get("revision", "step{step}")
        if one.get("hub") and "{step}" not in template:
            raise ConfigError(
                f"{_entry_key(i, entry, 'revision')}: with steps, the revision must be a "
                f"template containing '{{step}}', got {template!r}"
            )
        if one.get("path"):
            raise ConfigError(f"{_entry_key(i, entry, 'steps')}: steps need a hub or mini source")
        checkpoints = [
            (int(step), template.format(step=int(step)) if one.get("hub") else None) for step in one["steps"]
        ]
    else:
        step = one.get("step")
        if one.get("mini") is not None and step is None:
            step = final_mini_step
        spec = ModelSpec(name=name, revision=one.get("revision"), step=step, **common)
        _add(models, spec, i)
        return [spec]
    out = []
    for step, revision in checkpoints:
        spec = ModelSpec(name=f"{name}-step{step}", revision=revision, step=step, **common)
        _add(models, spec, i)
        out.append(spec)
    return out


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
