"""The paper's figures: reliability diagrams (Fig. 2), calibration against
scale or training steps (Figs. 3, 4 and 8-11), MMLU confidence spreads
(Fig. 7), and the alignment stage: calibration and accuracy per training
setting (Figs. 5 and 12) and instruction-response diversity (Fig. 6).

Every ``figure_*`` function checks its inputs before drawing, saves a PDF,
closes the figure and returns it: rules get a file, tests get the artists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # rules run headless; never pick an interactive backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import cbook, mlab  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from llmcal import tasks as task_registry  # noqa: E402
from llmcal.calibration import expected_calibration_error, reliability_table  # noqa: E402
from llmcal.smooth_ece import smooth_reliability_curve  # noqa: E402

ACC_COLOR = "#4878d0"
GAP_COLOR = "#d65f5f"
ECE_COLOR = "#c44e52"
SMOOTH_COLOR = "#2a2a2a"
DIAG_COLOR = "0.35"

# 7 pt is the floor: the trend figures are printed at page width with up to
# 11 models x 3 tasks of small panels.
_STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 10,
    "pdf.fonttype": 42,  # embed TrueType so text stays editable and searchable
}
_MIN_STEP_LABEL_GAP = 0.5  # log2 units between labelled step ticks
_TREND_COLUMNS = {"model", "task", "size", "accuracy", "accuracy_lo", "accuracy_hi", "ece", "ece_lo", "ece_hi"}

# Axes labels let tests and callers find panels without relying on layout order.
RELIABILITY_PREFIX = "reliability"
TREND_ECE_PREFIX = "trend-ece"
TREND_ACC_PREFIX = "trend-acc"


# --------------------------------------------------------------------------
# input checks


def _task_label(task: str, task_labels: Mapping[str, str] | None) -> str:
    return {**task_registry.labels(), **(task_labels or {})}.get(task, task)


def _checked_scores(df: pd.DataFrame, model: str, task: str) -> pd.DataFrame:
    missing = {"confidence", "correct"} - set(df.columns)
    if missing:
        raise ValueError(f"scores for (model={model!r}, task={task!r}) lack columns {sorted(missing)}")
    if len(df) == 0:
        raise ValueError(f"scores for (model={model!r}, task={task!r}) are empty")
    conf = df["confidence"].to_numpy(dtype=float)
    if not (np.isfinite(conf).all() and conf.min() >= 0 and conf.max() <= 1):
        raise ValueError(f"scores for (model={model!r}, task={task!r}) have confidence outside [0, 1] or NaN")
    return df


def _lookup_scores(scores: Mapping, model: str, task: str) -> pd.DataFrame:
    if (model, task) not in scores:
        raise ValueError(f"no scores for (model={model!r}, task={task!r})")
    return _checked_scores(scores[(model, task)], model, task)


def _metrics_index(metrics: pd.DataFrame) -> pd.DataFrame:
    missing = _TREND_COLUMNS - set(metrics.columns)
    if missing:
        raise ValueError(f"metrics lacks columns {sorted(missing)}")
    dup = metrics.duplicated(["model", "task"], keep=False)
    if dup.any():
        pairs = sorted(set(zip(metrics.loc[dup, "model"], metrics.loc[dup, "task"])))
        raise ValueError(f"metrics has more than one row for (model, task) in {pairs}")
    return metrics.set_index(["model", "task"])


def _lookup_metrics(index: pd.DataFrame, model: str, task: str) -> pd.Series:
    if (model, task) not in index.index:
        raise ValueError(f"no metrics row for (model={model!r}, task={task!r})")
    return index.loc[(model, task)]


def _paper_order(tasks) -> list[str]:
    tasks = set(tasks)
    known = [t for t in task_registry.names() if t in tasks]
    return known + sorted(tasks - set(known))


def _default_tasks(metrics: pd.DataFrame, models: Sequence[str]) -> list[str]:
    present = set(metrics.loc[metrics["model"].isin(models), "task"])
    if not present:
        raise ValueError(f"metrics has no rows for any of the models {list(models)}")
    return _paper_order(present)


def _step_of(row: pd.Series, model: str, task: str) -> int:
    step = row.get("step")
    if step is None or pd.isna(step) or step <= 0:
        # a log2 axis cannot place step 0 or an unknown step
        raise ValueError(f"(model={model!r}, task={task!r}) needs a positive step for x='steps', got {step!r}")
    return int(step)


def _model_labels(models: Sequence[str], labels) -> list[str]:
    if labels is None:
        return list(models)
    if isinstance(labels, Mapping):
        return [str(labels.get(m, m)) for m in models]
    if isinstance(labels, str) or len(labels) != len(models):
        raise ValueError(f"labels must be a mapping or one label per model ({len(models)}), got {labels!r}")
    return [str(x) for x in labels]


# --------------------------------------------------------------------------
# formatting helpers


def _compact(n: float) -> str:
    n = int(n)
    if n < 1000:
        return str(n)
    if n < 10_000:
        return f"{round(n / 1000, 1):g}k"
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}M"


def _step_label(step: int) -> str:
    return _compact(step) if step % 1000 == 0 or step >= 10_000 else str(step)


def _interval_bars(ax, x, lo, hi, color) -> None:
    """Draw [lo, hi] as capped bars, independent of the point estimate:
    a bootstrap ECE interval may lie entirely above the ECE itself."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        x = np.asarray(x, dtype=float)[ok]
        ax.errorbar(
            x,
            (lo[ok] + hi[ok]) / 2,
            yerr=np.abs(hi[ok] - lo[ok]) / 2,
            fmt="none",
            ecolor=color,
            elinewidth=1,
            capsize=2,
            alpha=0.8,
        )


def _save(fig, out_path) -> plt.Figure:
    from llmcal.fsio import atomic_write

    # No creation date: identical runs write byte-identical PDFs.
    atomic_write(out_path, lambda tmp: fig.savefig(tmp, format="pdf", metadata={"CreationDate": None}))
    plt.close(fig)
    return fig


def _diagram_handles() -> list:
    return [
        Patch(facecolor=ACC_COLOR, edgecolor="white", label="accuracy per bin"),
        Patch(facecolor=GAP_COLOR, alpha=0.35, hatch="//", edgecolor=GAP_COLOR, label="gap to mean confidence"),
        Line2D([], [], ls="--", color=DIAG_COLOR, label="perfect calibration"),
        Line2D([], [], lw=1.2, color=SMOOTH_COLOR, label="smoothed (smECE's kernel and bandwidth)"),
    ]


SEED_ALPHA = 0.25


def _trend_handles() -> list:
    # compact diagrams have no axis title for their counts, so the legend says what they are
    return [
        Line2D([], [], color=ECE_COLOR, marker="o", ms=4, label="ECE (bootstrap interval)"),
        Line2D([], [], color=ACC_COLOR, marker="s", ms=4, ls="--", label="accuracy (bootstrap interval)"),
        *_diagram_handles(),
        Line2D([], [], ls="none", label="numbers on top: samples per bin"),
    ]


# --------------------------------------------------------------------------
# panels


def reliability_diagram(
    ax, confidence, correct, n_bins: int = 10, title: str | None = None, *, compact: bool = False, legend: bool = True
):
    """Draw one reliability diagram on ``ax`` and return its reliability table.

    Bars are per-bin accuracy, hatched bars the gap to the bin's mean
    confidence, and the top axis gives each bin's sample count, because a bin
    with a handful of samples can look badly calibrated by chance. ``compact``
    leaves out axis labels and thins ticks so that a grid of panels can share
    them; ``legend=False`` is for figures that draw one legend for all panels.
    """
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    table = reliability_table(confidence, correct, n_bins=n_bins)
    filled = (table["count"] > 0).to_numpy()
    lower, upper = table["lower"].to_numpy(float), table["upper"].to_numpy(float)
    centers, widths = (lower + upper) / 2, upper - lower
    acc = table["accuracy"].to_numpy(float)
    conf = table["confidence"].to_numpy(float)

    # empty bins get no bar at all: a zero-height bar would read as 0% accuracy
    ax.bar(
        centers[filled],
        acc[filled],
        width=widths[filled],
        color=ACC_COLOR,
        edgecolor="white",
        linewidth=0.5,
        label="accuracy per bin",
    )
    ax.bar(
        centers[filled],
        np.abs(acc - conf)[filled],
        bottom=np.minimum(acc, conf)[filled],
        width=widths[filled],
        color=GAP_COLOR,
        alpha=0.35,
        hatch="//",
        edgecolor=GAP_COLOR,
        linewidth=0.5,
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color=DIAG_COLOR, label="perfect calibration")
    # Beyond the paper: the binning-free curve behind smooth ECE (correctness smoothed at smECE's bandwidth).
    t, mu, sigma = smooth_reliability_curve(confidence, correct.astype(float))
    ax.plot(t, mu, lw=1.2, color=SMOOTH_COLOR, label=f"smoothed (smECE bandwidth {sigma:.3f})", gid="smoothed")

    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_box_aspect(1)
    ticks = [0, 0.5, 1] if compact else np.linspace(0, 1, 6)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)

    counts = ax.secondary_xaxis("top")
    counts.set_xticks(centers, labels=[_compact(c) for c in table["count"]])
    counts.tick_params(length=0, labelsize=7, labelrotation=90, pad=1, colors="0.3")

    ece = expected_calibration_error(confidence, correct, n_bins=n_bins)
    ece_text = f"ECE={ece:.3f}"
    ax.set_title(f"{title}, {ece_text}" if title else ece_text)
    if not compact:
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        counts.set_xlabel("samples per bin", fontsize=7, color="0.3")
    if legend:
        ax.legend(loc="upper left", frameon=True, framealpha=0.85)
    return table


def _trend_panel(
    ax, x, rows: list[pd.Series], steps: bool, tick_labels: list[str], task_label: str, task: str, spreads=None
):
    ax.set_label(f"{TREND_ECE_PREFIX}/{task}")
    twin = ax.twinx()
    twin.set_label(f"{TREND_ACC_PREFIX}/{task}")
    series = ((ax, "ece", "ECE", ECE_COLOR, "o", "-"), (twin, "accuracy", "accuracy", ACC_COLOR, "s", "--"))
    for axis, column, label, color, marker, ls in series:
        for pos, runs in zip(x, spreads or [None] * len(x)):
            if runs:  # the seed spread: min to max over the model and its seed replicas
                values = [r[column] for r in runs]
                axis.vlines(pos, min(values), max(values), color=color, lw=6, alpha=SEED_ALPHA, gid=f"seeds/{column}")
        _interval_bars(axis, x, [r[f"{column}_lo"] for r in rows], [r[f"{column}_hi"] for r in rows], color)
        axis.plot(x, [r[column] for r in rows], color=color, marker=marker, ms=4, lw=1.2, ls=ls, label=label)

    ax.set_ylabel("ECE", color=ECE_COLOR)
    twin.set_ylabel("accuracy", color=ACC_COLOR)
    ax.tick_params(axis="y", colors=ECE_COLOR)
    twin.tick_params(axis="y", colors=ACC_COLOR)
    ax.set_ylim(bottom=0)
    twin.set_ylim(bottom=0)
    ax.set_title(task_label, fontweight="bold")
    ax.grid(axis="y", alpha=0.3, lw=0.5)

    if steps:
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, labels=_thinned_step_labels(x), rotation=45)
        ax.minorticks_off()
        ax.set_xlabel("training step (log2 scale)")
    else:
        ax.set_xticks(x, labels=tick_labels, rotation=45 if len(x) > 8 else 0)
        ax.set_xlim(-0.5, len(x) - 0.5)
        ax.set_xlabel("model size")


def _thinned_step_labels(steps: Sequence[int]) -> list[str]:
    """Label steps from the last one back, skipping ticks too close to read
    (e.g. 128k next to 143k on a log2 axis)."""
    labels = [""] * len(steps)
    last_kept = None
    for i in sorted(range(len(steps)), key=lambda i: steps[i], reverse=True):
        if last_kept is None or math.log2(last_kept / steps[i]) >= _MIN_STEP_LABEL_GAP:
            labels[i] = _step_label(steps[i])
            last_kept = steps[i]
    return labels


def _grid_shape(n_models: int) -> tuple[int, int]:
    cols = n_models if n_models <= 2 else (2 if n_models <= 4 else 4)
    return cols, math.ceil(n_models / cols)


# --------------------------------------------------------------------------
# figures


def figure_reliability(
    scores_for_model: Mapping[str, pd.DataFrame],
    model_label: str,
    out_path,
    *,
    tasks: Sequence[str] | None = None,
    n_bins: int = 10,
    task_labels: Mapping[str, str] | None = None,
) -> plt.Figure:
    """Figure 2: one reliability diagram per task for one model.

    ``tasks`` defaults to every task given, in the paper's order.
    """
    tasks = list(tasks) if tasks is not None else _paper_order(scores_for_model)
    if not tasks:
        raise ValueError(f"no scores given for model {model_label!r}")
    keyed = {(model_label, t): df for t, df in scores_for_model.items()}
    frames = [_lookup_scores(keyed, model_label, t) for t in tasks]
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(tasks), figsize=(3.3 * len(tasks), 3.6), layout="constrained", squeeze=False)
        for ax, task, df in zip(axes[0], tasks, frames):
            ax.set_label(f"{RELIABILITY_PREFIX}/{task}/{model_label}")
            reliability_diagram(
                ax, df["confidence"], df["correct"], n_bins=n_bins, title=_task_label(task, task_labels), legend=False
            )
        fig.legend(handles=_diagram_handles(), loc="outside lower center", ncols=4, frameon=False)
        fig.suptitle(f"Reliability diagrams: {model_label}")
        return _save(fig, out_path)


def figure_trend(
    metrics: pd.DataFrame,
    scores: Mapping,
    models: Sequence[str],
    x: str,
    out_path,
    title: str | None = None,
    task_labels: Mapping[str, str] | None = None,
    *,
    tasks: Sequence[str] | None = None,
    n_bins: int = 10,
    replicas: Mapping[str, Sequence[str]] | None = None,
) -> plt.Figure:
    """Figures 3/4/8-11: per task, ECE and accuracy (bootstrap intervals)
    against model scale or training step, above a grid of reliability
    diagrams for the same models.

    ``replicas`` maps a model to the runs that repeat it with other
    pretraining seeds (PolyPythias); where a model has them, a wide pale bar
    spans the range of ECE (and of accuracy) over it and its replicas, read
    from ``metrics``.

    ``x="scale"`` puts models on a categorical axis in the given order,
    labelled by ``size``; ``x="steps"`` uses ``step`` on a log2 axis.
    ``tasks`` defaults to the paper's tasks present in ``metrics`` for these
    models; every (model, task) must then be in both ``metrics`` and ``scores``.
    """
    if x not in ("scale", "steps"):
        raise ValueError(f"x must be 'scale' or 'steps', got {x!r}")
    models = list(models)
    if not models:
        raise ValueError("figure_trend needs at least one model")
    if len(set(models)) != len(models):
        raise ValueError(f"models are repeated in {models}")
    index = _metrics_index(metrics)
    tasks = list(tasks) if tasks is not None else _default_tasks(metrics, models)
    rows = {t: [_lookup_metrics(index, m, t) for m in models] for t in tasks}
    frames = {t: [_lookup_scores(scores, m, t) for m in models] for t in tasks}
    replicas = {m: list(r) for m, r in (replicas or {}).items() if r and m in models}
    spreads = {
        t: [[_lookup_metrics(index, r, t) for r in [m, *replicas[m]]] if m in replicas else None for m in models]
        for t in tasks
    }
    steps = x == "steps"
    if steps:
        positions = {t: [_step_of(r, m, t) for r, m in zip(rows[t], models)] for t in tasks}
        panel_labels = {t: [f"step {_step_label(s)}" for s in positions[t]] for t in tasks}
    else:
        positions = {t: list(range(len(models))) for t in tasks}
        panel_labels = {t: [str(r["size"]) for r in rows[t]] for t in tasks}

    cols, nrows = _grid_shape(len(models))
    with plt.rc_context(_STYLE):
        fig = plt.figure(figsize=(1.5 * cols * len(tasks) + 0.6, 2.6 + 1.75 * nrows), layout="constrained")
        outer = fig.add_gridspec(1, len(tasks))
        for j, task in enumerate(tasks):
            grid = outer[0, j].subgridspec(1 + nrows, cols, height_ratios=[1.5] + [1] * nrows)
            _trend_panel(
                fig.add_subplot(grid[0, :]),
                positions[task],
                rows[task],
                steps,
                panel_labels[task],
                _task_label(task, task_labels),
                task,
                spreads[task],
            )
            for i, (model, df) in enumerate(zip(models, frames[task])):
                r, c = divmod(i, cols)
                ax = fig.add_subplot(grid[1 + r, c])
                ax.set_label(f"{RELIABILITY_PREFIX}/{task}/{model}")
                reliability_diagram(
                    ax,
                    df["confidence"],
                    df["correct"],
                    n_bins=n_bins,
                    title=panel_labels[task][i],
                    compact=True,
                    legend=False,
                )
                # label only the outer edges of each grid so labels don't crowd
                if c == 0:
                    ax.set_ylabel("accuracy")
                if i + cols >= len(models):
                    ax.set_xlabel("confidence")
        handles = _trend_handles()
        if replicas:
            runs = sorted({len(r) + 1 for r in replicas.values()})
            handles.append(
                Line2D(
                    [],
                    [],
                    color=ECE_COLOR,
                    lw=6,
                    alpha=SEED_ALPHA,
                    label=f"range over {'/'.join(map(str, runs))} seeds",
                )
            )
        fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
        if title:
            fig.suptitle(title)
        return _save(fig, out_path)


def _density(values: np.ndarray, coords: np.ndarray) -> np.ndarray:
    # a KDE of identical values has a singular covariance; draw a flat sliver
    if np.ptp(values) == 0:
        return np.ones_like(coords)
    return mlab.GaussianKDE(values, "scott").evaluate(coords)


def figure_confidence_hist(
    scores: Mapping,
    models: Sequence[str],
    task: str,
    out_path,
    labels=None,
    *,
    title: str | None = None,
    task_labels: Mapping[str, str] | None = None,
    xlabel: str = "model size",
) -> plt.Figure:
    """Figure 7: confidence distribution per model (violins, one per model in
    the given order) with mean confidence and accuracy marked, so a shrinking
    and lowering confidence range across scale is visible on one axis.

    ``labels``: a mapping model -> label, or one label per model.
    """
    models = list(models)
    if not models:
        raise ValueError("figure_confidence_hist needs at least one model")
    tick_labels = _model_labels(models, labels)
    frames = [_lookup_scores(scores, m, task) for m in models]
    confs = [df["confidence"].to_numpy(float) for df in frames]
    positions = np.arange(len(models))

    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(max(4.0, 0.65 * len(models) + 1.8), 3.4), layout="constrained")
        stats = cbook.violin_stats(confs, _density, quantiles=[[0.25, 0.75]] * len(confs))
        parts = ax.violin(stats, positions=positions, widths=0.8, showextrema=True, showmedians=False)
        for body in parts["bodies"]:
            body.set_facecolor(ACC_COLOR)
            body.set_edgecolor("0.2")
            body.set_alpha(0.55)
        for key in ("cmins", "cmaxes", "cbars", "cquantiles"):
            if key in parts:
                parts[key].set_color("0.25")
                parts[key].set_linewidth(0.8)
        ax.scatter(
            positions,
            [c.mean() for c in confs],
            marker="o",
            s=18,
            color="white",
            edgecolor="0.1",
            zorder=3,
            label="mean confidence",
        )
        ax.scatter(
            positions,
            [df["correct"].astype(bool).mean() for df in frames],
            marker="x",
            s=24,
            color=ECE_COLOR,
            zorder=3,
            label="accuracy",
        )
        ax.set_xticks(positions, labels=tick_labels, rotation=45 if len(models) > 8 else 0)
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.set_ylim(0, 1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("confidence")
        ax.grid(axis="y", alpha=0.3, lw=0.5)
        spread = Line2D([], [], color="0.25", lw=0.8, marker="_", ms=8, label="min, quartiles, max")
        ax.legend(handles=[*ax.get_legend_handles_labels()[0], spread], loc="upper right", framealpha=0.85)
        ax.set_title(title or f"Confidence distribution on {_task_label(task, task_labels)}")
        return _save(fig, out_path)


def figure_per_subject(table, models: Sequence[str], out_path, *, title: str | None = None) -> plt.Figure:
    """ECE and accuracy per MMLU subject (rows, sorted by the last model's ECE) for each model, with 95% intervals.

    ``table``: the per-subject table (llmcal.metrics.PER_SUBJECT_COLUMNS), e.g. results/.../per_subject.csv.
    """
    models = list(models)
    if not models:
        raise ValueError("figure_per_subject needs at least one model")
    missing = [m for m in models if m not in set(table["model"])]
    if missing:
        raise ValueError(f"figure_per_subject: no per-subject rows for {missing} (are they scored on MMLU?)")
    rows = table[table["model"].isin(models)]
    # Every subject any of the models has, sorted by the last model's ECE (subjects it lacks go last).
    ece = rows.pivot(index="subject", columns="model", values="ece")
    order = ece[models[-1]].sort_values(na_position="last", kind="stable").index.tolist()
    y = np.arange(len(order))
    height = 0.8 / len(models)
    colors = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(models)))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(
            1,
            2,
            figsize=(7.5, max(2.6, 0.22 * len(order) * max(1, len(models) / 2) + 1.2)),
            sharey=True,
            layout="constrained",
        )
        for k, (model, color) in enumerate(zip(models, colors)):
            sub = rows[rows["model"] == model].set_index("subject").reindex(order)
            pos = y - 0.4 + height * (k + 0.5)
            for ax, col in zip(axes, ("ece", "accuracy")):
                err = np.vstack([sub[col] - sub[f"{col}_lo"], sub[f"{col}_hi"] - sub[col]]).clip(min=0)
                ax.barh(pos, sub[col], height=height, color=color, xerr=err, error_kw={"lw": 0.6}, label=model)
        axes[0].set_yticks(y, labels=[s.replace("_", " ") for s in order])
        axes[0].invert_yaxis()
        axes[0].set_xlabel("ECE")
        axes[1].set_xlabel("accuracy")
        axes[1].axvline(0.25, color="0.4", lw=0.7, ls="--")
        for ax in axes:
            ax.grid(axis="x", alpha=0.3, lw=0.5)
        axes[1].legend(loc="lower right", framealpha=0.85)
        fig.suptitle(title or "MMLU calibration and accuracy per subject (95% intervals; dashed: chance)")
        return _save(fig, out_path)


def figure_kshot(table, models: Sequence[str], out_path, *, title: str | None = None) -> plt.Figure:
    """The k-shot sweep: MMLU ECE and accuracy against the number of in-context examples, one line per model.

    ``table``: kshot.csv (llmcal.kshot.KSHOT_COLUMNS); error bars are the 95% intervals.
    """
    models = list(models)
    if not models:
        raise ValueError("figure_kshot needs at least one model")
    missing = [m for m in models if m not in set(table["model"])]
    if missing:
        raise ValueError(f"figure_kshot: kshot.csv has no rows for {missing}")
    colors = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(models)))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.0), layout="constrained")
        for model, color in zip(models, colors):
            rows = table[table["model"] == model].sort_values("shots")
            for ax, col in zip(axes, ("ece", "accuracy")):
                err = np.vstack([rows[col] - rows[f"{col}_lo"], rows[f"{col}_hi"] - rows[col]]).clip(min=0)
                ax.errorbar(
                    rows["shots"], rows[col], yerr=err, color=color, marker="o", ms=3, lw=1.2, capsize=2, label=model
                )
                # Open markers: k where some prompts, too long for scoring.max_length, kept fewer shots.
                short = rows[rows["shortened"] > 0] if "shortened" in rows else rows.iloc[:0]
                ax.plot(short["shots"], short[col], ls="none", marker="o", ms=6, mfc="white", mec=color, zorder=3)
        shots = sorted(set(table.loc[table["model"].isin(models), "shots"]))
        for ax, label in zip(axes, ("ECE", "accuracy")):
            ax.set_xticks(shots)
            ax.set_xlabel("in-context examples (k)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3, lw=0.5)
        axes[1].axhline(0.25, color="0.4", lw=0.7, ls="--")
        axes[1].legend(loc="best", framealpha=0.85)
        fig.suptitle(
            title
            or "MMLU calibration against the number of shots\n(95% intervals; dashed: chance; open: some prompts "
            "kept fewer shots to fit scoring.max_length)"
        )
        return _save(fig, out_path)


def figure_selective(
    curves: Mapping, models: Sequence[str], out_path, *, task_labels: Mapping[str, str] | None = None
) -> plt.Figure:
    """Selective prediction: accuracy of the answers kept against coverage, withholding the least confident.

    ``curves`` maps (model, task) to a DataFrame with ``coverage`` and ``accuracy`` columns
    (``llmcal.selective.selective_curve``); one panel per task, one line per model in the given order.
    """
    models = list(models)
    tasks = [t for t in task_registry.names() if any((m, t) in curves for m in models)]
    tasks += sorted({t for (m, t) in curves if m in models and t not in tasks})
    if not tasks:
        raise ValueError("figure_selective: no curves for the given models")
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(models)))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(tasks), figsize=(3.4 * len(tasks), 3.4), layout="constrained", squeeze=False)
        for ax, task in zip(axes[0], tasks):
            ax.set_label(f"selective/{task}")
            for color, model in zip(colors, models):
                if (model, task) in curves:
                    c = curves[(model, task)]
                    ax.plot(c["coverage"], c["accuracy"], color=color, lw=1.2, label=model)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
            ax.set_xlabel("coverage (share of answers kept)")
            ax.set_ylabel("accuracy of kept answers")
            ax.set_title(_task_label(task, task_labels))
            ax.grid(alpha=0.3, lw=0.5)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(models), 6))
        return _save(fig, out_path)


# --------------------------------------------------------------------------
# alignment stage (Figures 5, 6 and 12)

ALIGNMENT_PREFIX = "alignment"
DIVERSITY_LABEL = "diversity"
_METRIC_LABELS = {"ece": "ECE", "accuracy": "Accuracy"}
_BAR_WIDTH = 0.26
_GROUP_GAP = 0.45
_SINGLE_COLOR = "0.55"
_EPOCH_CMAP = "Blues"


def _checked_groups(groups: Sequence[Mapping]) -> list[tuple[str, list[str]]]:
    if not groups:
        raise ValueError("figure_alignment needs at least one group")
    checked = []
    for g in groups:
        if "label" not in g or not g.get("models"):
            raise ValueError(f"each group needs a 'label' and a non-empty 'models' list, got {g!r}")
        checked.append((str(g["label"]), [str(m) for m in g["models"]]))
    return checked


def _group_layout(groups: list[tuple[str, list[str]]]) -> tuple[list[np.ndarray], list[float]]:
    """Bar x positions per group and each group's centre, with a gap between groups."""
    positions, centres, cursor = [], [], 0.0
    for _, models in groups:
        x = cursor + _BAR_WIDTH * np.arange(len(models))
        positions.append(x)
        centres.append(float(x.mean()))
        cursor = x[-1] + _BAR_WIDTH + _GROUP_GAP
    return positions, centres


def _epoch_colors(n: int) -> list:
    # light to dark: later epochs read as "further along" without a legend lookup
    return list(plt.get_cmap(_EPOCH_CMAP)(np.linspace(0.4, 0.9, n))) if n > 1 else []


def _bar_colors(groups: list[tuple[str, list[str]]]) -> list:
    epochs = _epoch_colors(max(len(m) for _, m in groups))
    return [_SINGLE_COLOR if len(m) == 1 else epochs[i] for _, m in groups for i in range(len(m))]


def _alignment_handles(groups: list[tuple[str, list[str]]]) -> list:
    n = max(len(m) for _, m in groups)
    handles = [Patch(facecolor=c, label=f"e{i + 1}") for i, c in enumerate(_epoch_colors(n))]
    if any(len(m) == 1 for _, m in groups):
        handles.append(Patch(facecolor=_SINGLE_COLOR, label="single model"))
    if len(groups[0][1]) == 1:
        handles.append(Line2D([], [], color="0.35", ls=":", lw=0.9, label=f"{groups[0][0]} level"))
    return [*handles, Line2D([], [], color="0.2", marker="_", ms=6, lw=1, label="bootstrap interval")]


def _alignment_panel(ax, rows: list[pd.Series], groups, metric: str, colors: list, title: str, task: str) -> None:
    ax.set_label(f"{ALIGNMENT_PREFIX}-{metric}/{task}")
    positions, centres = _group_layout(groups)
    x = np.concatenate(positions)
    ax.bar(x, [r[metric] for r in rows], width=_BAR_WIDTH * 0.92, color=colors, edgecolor="white", linewidth=0.4)
    if f"{metric}_lo" in rows[0].index and f"{metric}_hi" in rows[0].index:
        _interval_bars(ax, x, [r[f"{metric}_lo"] for r in rows], [r[f"{metric}_hi"] for r in rows], "0.2")
    if len(groups[0][1]) == 1:
        # the base model is the reference every alignment setting is compared to
        ax.axhline(rows[0][metric], color="0.35", ls=":", lw=0.9, zorder=0)
    ax.set_xticks(centres, labels=[label for label, _ in groups], rotation=30, ha="right", rotation_mode="anchor")
    ax.set_xlim(x[0] - _BAR_WIDTH, x[-1] + _BAR_WIDTH)
    ax.set_ylim(bottom=0)
    ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
    ax.set_title(title, fontweight="bold")
    ax.grid(axis="y", alpha=0.3, lw=0.5)


def figure_alignment(
    metrics: pd.DataFrame,
    groups: Sequence[Mapping],
    metric: str,
    out_path,
    task_labels: Mapping[str, str] | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Figures 5 (``metric="ece"``) and 12 (``"accuracy"``): per task, grouped
    bars of one metric across alignment settings.

    ``groups`` is an ordered list of ``{"label": ..., "models": [...]}``; a
    group's bars are its models in order (epochs 1, 2, 3), coloured by
    position; one-model groups (the base model) are grey, and when the first
    group is one model a dotted line carries its level across the panel.
    Error bars come from ``{metric}_lo``/``{metric}_hi`` where present.
    """
    groups = _checked_groups(groups)
    if metric not in metrics.columns:
        raise ValueError(f"metrics has no column {metric!r}")
    models = [m for _, ms in groups for m in ms]
    index = _metrics_index(metrics)
    tasks = _default_tasks(metrics, models)
    rows = {t: [_lookup_metrics(index, m, t) for m in models] for t in tasks}
    colors = _bar_colors(groups)
    with plt.rc_context(_STYLE):
        width = max(2.6, 0.16 * len(models) + 0.28 * len(groups) + 0.9)
        fig, axes = plt.subplots(1, len(tasks), figsize=(width * len(tasks), 2.9), layout="constrained", squeeze=False)
        for ax, task in zip(axes[0], tasks):
            _alignment_panel(ax, rows[task], groups, metric, colors, _task_label(task, task_labels), task)
        fig.legend(
            handles=_alignment_handles(groups),
            loc="outside lower center",
            ncols=6,
            frameon=False,
            title="training epoch" if any(len(m) > 1 for _, m in groups) else None,
        )
        fig.suptitle(title or f"{_METRIC_LABELS.get(metric, metric)} across alignment settings")
        return _save(fig, out_path)


def _diversity_label(name: str, stats: Mapping) -> str:
    return (
        f"{name} (diversity {stats['diversity']:.2f} [{stats['diversity_lo']:.2f}, {stats['diversity_hi']:.2f}], "
        f"n={int(stats['n'])})"
    )


def figure_diversity(
    points: Mapping[str, np.ndarray], stats: Mapping[str, Mapping], out_path, title: str | None = None
) -> plt.Figure:
    """Figure 6: a joint t-SNE map of each instruction set's response embeddings.

    ``points`` maps set name to (n, 2) coordinates (``llmcal.diversity.tsne_2d``),
    ``stats`` set name to ``llmcal.diversity.diversity_stats``; the legend gives
    each set's mean pairwise cosine distance, since how spread a t-SNE map
    looks depends on perplexity more than on the data.
    """
    if not points:
        raise ValueError("figure_diversity needs at least one set of points")
    for name, xy in points.items():
        if name not in stats:
            raise ValueError(f"no diversity stats for set {name!r}")
        if np.ndim(xy) != 2 or np.shape(xy)[1] != 2:
            raise ValueError(f"points for set {name!r} must have shape (n, 2), got {np.shape(xy)}")
    colors = plt.get_cmap("tab10").colors
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(4.2, 4.6), layout="constrained")
        ax.set_label(DIVERSITY_LABEL)
        for i, (name, xy) in enumerate(points.items()):
            xy = np.asarray(xy, dtype=float)
            ax.scatter(
                xy[:, 0],
                xy[:, 1],
                s=5,
                alpha=0.45,
                color=colors[i % len(colors)],
                linewidths=0,
                label=_diversity_label(name, stats[name]),
            )
        # t-SNE coordinates have no units worth reading
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
        ax.set_aspect("equal", adjustable="datalim")
        legend = fig.legend(
            loc="outside lower center",
            ncols=1,
            frameon=False,
            markerscale=2.5,
            scatterpoints=1,
            title="diversity: mean pairwise cosine distance [95% bootstrap interval]",
            title_fontsize=7,
        )
        for handle in legend.legend_handles:
            handle.set_alpha(1)  # faint markers in the plot, readable swatches in the legend
        ax.set_title(title or "Response embeddings (joint t-SNE)")
        return _save(fig, out_path)
