"""The figure kinds of a config's `figures:`, one entry each: how an entry is checked, what its job reads, how it is drawn.

A kind is a `FigureKind`: `resolve` turns a config entry into a checked `Figure` (a ConfigError naming the key
otherwise), `inputs` gives the figure rule's named input files, `params` the plain data its drawing needs beside
them (Snakemake params), and `draw` reads the inputs and calls its function in llmcal.figures. Study, the rule
and the job go through this table only, so adding a kind is one entry here with its draw function in
llmcal.figures, its name in the schema's `figures[].kind` enum (a test keeps the two equal) and a config entry.

This module imports no plotting library: Snakemake reads the table while it builds the DAG.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llmcal.fsio import read_parquet, read_table_csv
from llmcal.registry import ConfigError

if TYPE_CHECKING:
    from llmcal.study import Study

__all__ = ["ALIGNMENT_METRICS", "KINDS", "Figure", "FigureJob", "FigureKind", "kind_of"]

ALIGNMENT_METRICS = ("ece", "accuracy")


@dataclass(frozen=True)
class Figure:
    name: str
    kind: str
    models: tuple[str, ...]
    task: str | None = None
    title: str | None = None
    metric: str | None = None


@dataclass(frozen=True)
class FigureJob:
    """What one figure job has: the figure (as plain data), its named inputs and params, and where it goes."""

    figure: Mapping
    inputs: Mapping
    params: Mapping
    task_labels: Mapping
    n_bins: int
    out: str

    def metrics(self):
        return read_table_csv(self.inputs["metrics"])

    def scores(self) -> dict:
        """(model, task) -> per-sample confidence and correctness, from params["scores"] ("model|task" -> file)."""
        return {
            tuple(k.split("|")): read_parquet(v, columns=["confidence", "correct"])
            for k, v in self.params["scores"].items()
        }


@dataclass(frozen=True)
class FigureKind:
    name: str
    resolve: Callable[[Study, str, dict], Figure]
    inputs: Callable[[Study, Figure], dict]
    params: Callable[[Study, Figure], dict]
    draw: Callable[[FigureJob], None]


# resolving config entries -------------------------------------------------------------------------------------


def _model_figure(study: Study, key: str, f: dict, task: str | None = None) -> Figure:
    """A figure of named models (a `steps` entry's name standing for its checkpoints), on one task or all."""
    if not f.get("models"):
        raise ConfigError(f"{key}.models: a {f['kind']} figure needs a list of models")
    models = study.resolve_models(f["models"], f"{key}.models")
    task = f.get("task") or task
    if task is not None and task not in study.tasks:
        raise ConfigError(f"{key}.task: {task!r} is not among the run's tasks {study.tasks}")
    return Figure(name=f["name"], kind=f["kind"], models=models, task=task, title=f.get("title"))


def _resolve_reliability(study: Study, key: str, f: dict) -> Figure:
    fig = _model_figure(study, key, f)
    if len(fig.models) != 1:
        raise ConfigError(f"{key}.models: a reliability figure shows exactly one model, got {len(fig.models)}")
    return fig


def _resolve_steps(study: Study, key: str, f: dict) -> Figure:
    fig = _model_figure(study, key, f)
    no_step = [m for m in fig.models if study.models[m].step is None]
    if no_step:
        raise ConfigError(f"{key}.models: {no_step} have no training step to plot against")
    return fig


def _resolve_confidence_hist(study: Study, key: str, f: dict) -> Figure:
    return _model_figure(study, key, f, task="mmlu")


def _resolve_per_subject(study: Study, key: str, f: dict) -> Figure:
    if "mmlu" not in study.tasks:
        raise ConfigError(f"{key}.kind: a per_subject figure needs the mmlu task among the run's tasks")
    fig = _model_figure(study, key, f, task="mmlu")
    if fig.task != "mmlu":
        raise ConfigError(f"{key}.task: a per_subject figure is of MMLU's subjects, got {fig.task!r}")
    return fig


def _resolve_kshot(study: Study, key: str, f: dict) -> Figure:
    if study.kshot is None:
        raise ConfigError(f"{key}.kind: a kshot figure needs the config's `kshot` section (the sweep it draws)")
    swept = study.resolve_models(study.kshot.models, "kshot.models")
    if not f.get("models"):
        return Figure(name=f["name"], kind="kshot", models=swept, title=f.get("title"))
    fig = _model_figure(study, key, f)
    outside = [m for m in fig.models if m not in swept]
    if outside:
        raise ConfigError(f"{key}.models: {outside} are not in kshot.models, so the sweep does not score them")
    return fig


def _needs_alignment(study: Study, key: str, f: dict) -> None:
    if study.alignment is None:
        raise ConfigError(f"{key}.kind: a {f['kind']} figure needs the config's `alignment` section")


def _resolve_alignment(study: Study, key: str, f: dict) -> Figure:
    _needs_alignment(study, key, f)
    metric = f.get("metric", "ece")
    if metric not in ALIGNMENT_METRICS:
        raise ConfigError(f"{key}.metric: {metric!r} is not one of {ALIGNMENT_METRICS}")
    models = (study.alignment.base,) + tuple(m for r in study.alignment.runs for m in r.models)
    return Figure(name=f["name"], kind="alignment", models=models, title=f.get("title"), metric=metric)


def _resolve_diversity(study: Study, key: str, f: dict) -> Figure:
    _needs_alignment(study, key, f)
    return Figure(name=f["name"], kind="diversity", models=(), title=f.get("title"))


# inputs and params --------------------------------------------------------------------------------------------


def _score_inputs(study: Study, fig: Figure) -> dict:
    return {"metrics": study.metrics_file(), "scores": list(study.figure_scores(fig).values())}


def _metrics_inputs(study: Study, fig: Figure) -> dict:
    return {"metrics": study.metrics_file(), "scores": []}


def _per_subject_inputs(study: Study, fig: Figure) -> dict:
    return {"per_subject": study.per_subject_file()}


def _kshot_inputs(study: Study, fig: Figure) -> dict:
    return {"kshot": study.kshot_file()}


def _diversity_inputs(study: Study, fig: Figure) -> dict:
    return {"diversity": study.diversity_files()}


def _score_params(study: Study, fig: Figure) -> dict:
    return {"scores": study.figure_scores(fig)}


def _trend_params(study: Study, fig: Figure) -> dict:
    """The score files, and each model's seed replicas when it has any: the figure draws their ECE range, read
    from the metrics table (already an input), so the replicas' score files are not inputs."""
    replicas = study.figure_replicas(fig)
    return {"scores": study.figure_scores(fig), **({"replicas": replicas} if replicas else {})}


def _labelled_score_params(study: Study, fig: Figure) -> dict:
    return {"scores": study.figure_scores(fig), "labels": study.figure_labels(fig)}


def _group_params(study: Study, fig: Figure) -> dict:
    return {"groups": study.alignment_groups()}


def _no_params(study: Study, fig: Figure) -> dict:
    return {}


# drawing ------------------------------------------------------------------------------------------------------


def _draw_reliability(job: FigureJob) -> None:
    from llmcal import figures

    model = job.figure["models"][0]
    per_task = {t: df for (m, t), df in job.scores().items() if m == model}
    figures.figure_reliability(per_task, model, job.out, n_bins=job.n_bins, task_labels=job.task_labels)


def _draw_trend(job: FigureJob) -> None:
    from llmcal import figures

    figures.figure_trend(
        job.metrics(),
        job.scores(),
        list(job.figure["models"]),
        job.figure["kind"],
        job.out,
        title=job.figure.get("title"),
        task_labels=job.task_labels,
        n_bins=job.n_bins,
        replicas=job.params.get("replicas"),
    )


def _draw_confidence_hist(job: FigureJob) -> None:
    from llmcal import figures

    figures.figure_confidence_hist(
        job.scores(),
        list(job.figure["models"]),
        job.figure["task"],
        job.out,
        labels=dict(job.params["labels"]),
        title=job.figure.get("title"),
        task_labels=job.task_labels,
    )


def _draw_alignment(job: FigureJob) -> None:
    from llmcal import figures

    figures.figure_alignment(
        job.metrics(),
        job.params["groups"],
        job.figure["metric"],
        job.out,
        task_labels=job.task_labels,
        title=job.figure.get("title"),
    )


def _draw_per_subject(job: FigureJob) -> None:
    from llmcal import figures

    table = read_table_csv(job.inputs["per_subject"])
    figures.figure_per_subject(table, list(job.figure["models"]), job.out, title=job.figure.get("title"))


def _draw_kshot(job: FigureJob) -> None:
    from llmcal import figures

    table = read_table_csv(job.inputs["kshot"])
    figures.figure_kshot(table, list(job.figure["models"]), job.out, title=job.figure.get("title"))


def _draw_diversity(job: FigureJob) -> None:
    from llmcal import figures
    from llmcal.alignment import SET_LABELS

    stats_file, points_file = job.inputs["diversity"]
    stats = {SET_LABELS.get(k, k): v for k, v in json.loads(Path(stats_file).read_text())["sets"].items()}
    frame = read_parquet(points_file)
    points = {SET_LABELS.get(name, name): g[["x", "y"]].to_numpy() for name, g in frame.groupby("set", sort=False)}
    figures.figure_diversity(points, stats, job.out, title=job.figure.get("title"))


# the table ----------------------------------------------------------------------------------------------------

KINDS: dict[str, FigureKind] = {
    k.name: k
    for k in (
        FigureKind("reliability", _resolve_reliability, _score_inputs, _score_params, _draw_reliability),
        FigureKind("scale", _model_figure, _score_inputs, _trend_params, _draw_trend),
        FigureKind("steps", _resolve_steps, _score_inputs, _trend_params, _draw_trend),
        FigureKind(
            "confidence_hist", _resolve_confidence_hist, _score_inputs, _labelled_score_params, _draw_confidence_hist
        ),
        FigureKind("alignment", _resolve_alignment, _metrics_inputs, _group_params, _draw_alignment),
        FigureKind("diversity", _resolve_diversity, _diversity_inputs, _no_params, _draw_diversity),
        FigureKind("per_subject", _resolve_per_subject, _per_subject_inputs, _no_params, _draw_per_subject),
        FigureKind("kshot", _resolve_kshot, _kshot_inputs, _no_params, _draw_kshot),
    )
}


def kind_of(name, key: str) -> FigureKind:
    """The kind called name; a ConfigError at key (e.g. `figures[0] (fig2).kind`) when there is none."""
    if name not in KINDS:
        raise ConfigError(f"{key}: {name!r} is not one of {tuple(KINDS)}")
    return KINDS[name]
