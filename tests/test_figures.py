"""Figures on synthetic scores: files are real PDFs, panels and plotted values
match the inputs, and missing (model, task) pairs fail loudly."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from llmcal.calibration import expected_calibration_error
from llmcal.figures import (
    RELIABILITY_PREFIX,
    TREND_ACC_PREFIX,
    TREND_ECE_PREFIX,
    figure_confidence_hist,
    figure_reliability,
    figure_trend,
    reliability_diagram,
)
from llmcal.metrics import summarize

TASKS = ("clm", "facts", "mmlu")
SIZES = ("70m", "160m", "410m", "1b", "1b4", "2b8", "6b9", "12b", "13b", "30b", "65b")
STEPS = (256, 512, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 143000)
MIN_PDF_BYTES = 5_000


def _samples(rng, n, skill, spread) -> pd.DataFrame:
    conf = np.clip(rng.beta(2 + 6 * skill, 3, size=n) * spread + (1 - spread) * 0.25, 0, 1)
    correct = rng.random(n) < np.clip(conf - 0.2 * (1 - skill), 0, 1)
    return pd.DataFrame({"confidence": conf, "correct": correct})


def _synthetic(n_models: int, steps: bool = False, n: int = 300):
    rng = np.random.default_rng(0)
    models = [f"pythia-1b4-step{STEPS[i]}" if steps else f"pythia-{SIZES[i]}" for i in range(n_models)]
    scores, rows = {}, []
    for i, model in enumerate(models):
        for task in TASKS:
            df = _samples(rng, n, skill=i / max(1, n_models - 1), spread=1 - 0.6 * i / max(1, n_models))
            scores[(model, task)] = df
            rows.append(
                {
                    "model": model,
                    "family": "pythia",
                    "size": "1b4" if steps else SIZES[i],
                    "step": STEPS[i] if steps else np.nan,
                    "task": task,
                    **summarize(df["confidence"], df["correct"], n_boot=50),
                }
            )
    return models, pd.DataFrame(rows), scores


def _assert_pdf(path):
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(data) > MIN_PDF_BYTES


def _axes(fig, prefix):
    return [ax for ax in fig.axes if ax.get_label().startswith(prefix + "/")]


def _line(ax, label):
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return line


def _font_sizes(fig):
    return [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


@pytest.fixture(autouse=True)
def _no_open_figures():
    yield
    assert plt.get_fignums() == [], "a figure function left a figure open"


# --------------------------------------------------------------------------
# reliability_diagram


def test_reliability_diagram_bars_and_title():
    conf = np.array([0.05, 0.15, 0.15, 0.95, 0.95, 0.95, 0.95])
    correct = np.array([False, True, False, True, True, True, False])
    fig, ax = plt.subplots()
    try:
        table = reliability_diagram(ax, conf, correct, n_bins=10, title="toy")
        heights = sorted(round(p.get_height(), 6) for p in ax.containers[0])
        # one accuracy bar per non-empty bin; the seven empty bins draw nothing
        assert len(ax.containers[0]) == 3
        assert heights == sorted(round(a, 6) for a in table.loc[table["count"] > 0, "accuracy"])
        ece = expected_calibration_error(conf, correct)
        assert ax.get_title() == f"toy, ECE={ece:.3f}"
        assert ax.get_xlabel() == "confidence" and ax.get_ylabel() == "accuracy"
        assert ax.get_legend() is not None
        (counts_axis,) = ax.child_axes
        assert [t.get_text() for t in counts_axis.get_xticklabels()] == [
            "1",
            "2",
            "0",
            "0",
            "0",
            "0",
            "0",
            "0",
            "0",
            "4",
        ]
    finally:
        plt.close(fig)


def test_reliability_diagram_gap_spans_accuracy_to_mean_confidence():
    conf = np.full(10, 0.95)
    correct = np.array([True] * 5 + [False] * 5)
    fig, ax = plt.subplots()
    try:
        reliability_diagram(ax, conf, correct, compact=True, legend=False)
        (gap,) = ax.containers[1]
        assert gap.get_y() == pytest.approx(0.5)
        assert gap.get_height() == pytest.approx(0.45)
        assert ax.get_legend() is None and ax.get_xlabel() == ""
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------
# figure_reliability (Figure 2)


def test_figure_reliability_one_panel_per_task(tmp_path):
    models, _, scores = _synthetic(1)
    per_task = {t: scores[(models[0], t)] for t in reversed(TASKS)}  # drawn in the paper's order anyway
    out = tmp_path / "nested" / "fig2.pdf"
    fig = figure_reliability(per_task, "Pythia-70m", out, task_labels={"clm": "CLM (stand-in)"})
    _assert_pdf(out)
    panels = _axes(fig, RELIABILITY_PREFIX)
    assert len(panels) == 3
    assert [ax.get_title().split(",")[0] for ax in panels] == ["CLM (stand-in)", "Facts (T-REx)", "MMLU"]
    assert "Pythia-70m" in fig._suptitle.get_text()
    assert min(_font_sizes(fig)) >= 7


def test_figure_reliability_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no scores"):
        figure_reliability({}, "m", tmp_path / "x.pdf")
    with pytest.raises(ValueError, match=r"model='m', task='clm'.*confidence"):
        figure_reliability({"clm": pd.DataFrame({"correct": [True]})}, "m", tmp_path / "x.pdf")
    ok = pd.DataFrame({"confidence": [0.5], "correct": [True]})
    with pytest.raises(ValueError, match=r"no scores for \(model='m', task='mmlu'\)"):
        figure_reliability({"clm": ok}, "m", tmp_path / "x.pdf", tasks=["clm", "mmlu"])
    assert not (tmp_path / "x.pdf").exists()


# --------------------------------------------------------------------------
# figure_trend (Figures 3, 4, 8-11)


@pytest.mark.parametrize("n_models", [4, 11])
def test_figure_trend_scale(tmp_path, n_models):
    models, metrics, scores = _synthetic(n_models)
    out = tmp_path / "fig3.pdf"
    fig = figure_trend(metrics, scores, models, "scale", out, title="Pythia")
    _assert_pdf(out)

    panels = _axes(fig, RELIABILITY_PREFIX)
    assert len(panels) == n_models * len(TASKS)
    assert {ax.get_label() for ax in panels} == {f"{RELIABILITY_PREFIX}/{t}/{m}" for t in TASKS for m in models}

    top = _axes(fig, TREND_ECE_PREFIX)
    assert [ax.get_title() for ax in top] == ["Causal LM (Pile)", "Facts (T-REx)", "MMLU"]
    for ax in top:
        task = ax.get_label().split("/")[1]
        expected = metrics.set_index(["model", "task"]).loc[[(m, task) for m in models]]
        assert _line(ax, "ECE").get_ydata() == pytest.approx(expected["ece"].to_numpy())
        assert [t.get_text() for t in ax.get_xticklabels()] == list(SIZES[:n_models])
        assert ax.get_xlabel() == "model size" and ax.get_ylabel() == "ECE"
        (acc_ax,) = [a for a in _axes(fig, TREND_ACC_PREFIX) if a.get_label().endswith("/" + task)]
        assert _line(acc_ax, "accuracy").get_ydata() == pytest.approx(expected["accuracy"].to_numpy())
        assert acc_ax.get_ylabel() == "accuracy"
    # every grid of small diagrams keeps its outer edges labelled
    assert sum(ax.get_ylabel() == "accuracy" for ax in panels) >= len(TASKS) * math.ceil(n_models / 4)
    assert sum(ax.get_xlabel() == "confidence" for ax in panels) >= len(TASKS) * min(n_models, 4) // 2
    assert min(_font_sizes(fig)) >= 7


def test_figure_trend_draws_the_range_over_seed_replicas(tmp_path):
    models, metrics, scores = _synthetic(4)
    # Three more seeds of the second model: their ECE (and accuracy) rows are in the metrics table only.
    extra = []
    for k, shift in enumerate((-0.03, 0.02, 0.05), start=1):
        rows = metrics[metrics.model == models[1]].copy()
        rows["model"] = f"{models[1]}-seed{k}"
        rows["ece"] += shift
        rows["accuracy"] -= shift
        extra.append(rows)
    metrics = pd.concat([metrics, *extra], ignore_index=True)
    replicas = {models[1]: [f"{models[1]}-seed{k}" for k in (1, 2, 3)]}
    fig = figure_trend(metrics, scores, models, "scale", tmp_path / "fig3.pdf", replicas=replicas)
    _assert_pdf(tmp_path / "fig3.pdf")
    for ax in _axes(fig, TREND_ECE_PREFIX):
        task = ax.get_label().split("/")[1]
        (band,) = [c for c in ax.collections if c.get_gid() == "seeds/ece"]
        ((x0, lo), (x1, hi)) = band.get_segments()[0]
        own = metrics[(metrics.model == models[1]) & (metrics.task == task)].ece.item()
        assert x0 == x1 == 1  # at the second model's position only
        assert (lo, hi) == pytest.approx((own - 0.03, own + 0.05))
    (acc,) = [c for a in _axes(fig, TREND_ACC_PREFIX) for c in a.collections if c.get_gid() == "seeds/accuracy"][:1]
    assert len(acc.get_segments()) == 1
    assert any("range over 4 seeds" in t.get_text() for legend in fig.legends for t in legend.get_texts())
    # A replica missing from the metrics table is an error naming it, not a narrower range.
    with pytest.raises(ValueError, match="seed9"):
        figure_trend(metrics, scores, models, "scale", tmp_path / "x.pdf", replicas={models[1]: [f"{models[1]}-seed9"]})


def test_figure_trend_steps_uses_log2_axis(tmp_path):
    models, metrics, scores = _synthetic(11, steps=True)
    fig = figure_trend(metrics, scores, models, "steps", tmp_path / "fig4.pdf", tasks=["mmlu"])
    _assert_pdf(tmp_path / "fig4.pdf")
    (ax,) = _axes(fig, TREND_ECE_PREFIX)
    assert ax.get_xscale() == "log"
    assert ax.xaxis.get_transform().base == 2
    assert ax.get_xlabel().startswith("training step")
    assert list(_line(ax, "ECE").get_xdata()) == list(STEPS)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    # 128k sits too close to 143k on a log2 axis to label both
    assert labels[:4] == ["256", "512", "1k", "2k"] and labels[-2:] == ["", "143k"]
    panels = _axes(fig, RELIABILITY_PREFIX)
    assert len(panels) == 11 and panels[0].get_title().startswith("step 256, ECE=")


def test_figure_trend_task_labels_and_subset(tmp_path):
    models, metrics, scores = _synthetic(4)
    fig = figure_trend(
        metrics,
        scores,
        models[:2],
        "scale",
        tmp_path / "f.pdf",
        task_labels={"facts": "Facts (stand-in)"},
        tasks=["facts"],
    )
    assert [ax.get_title() for ax in _axes(fig, TREND_ECE_PREFIX)] == ["Facts (stand-in)"]
    assert len(_axes(fig, RELIABILITY_PREFIX)) == 2


def test_figure_trend_missing_pairs(tmp_path):
    models, metrics, scores = _synthetic(4)
    out = tmp_path / "f.pdf"
    no_row = metrics[~((metrics["model"] == models[2]) & (metrics["task"] == "facts"))]
    with pytest.raises(ValueError, match=rf"no metrics row for \(model='{models[2]}', task='facts'\)"):
        figure_trend(no_row, scores, models, "scale", out)
    no_scores = {k: v for k, v in scores.items() if k != (models[1], "mmlu")}
    with pytest.raises(ValueError, match=rf"no scores for \(model='{models[1]}', task='mmlu'\)"):
        figure_trend(metrics, no_scores, models, "scale", out)
    with pytest.raises(ValueError, match=r"model='nope', task='clm'"):
        figure_trend(metrics, scores, [*models, "nope"], "scale", out)
    with pytest.raises(ValueError, match="positive step"):
        figure_trend(metrics, scores, models, "steps", out)  # scale models have no step
    with pytest.raises(ValueError, match="x must be"):
        figure_trend(metrics, scores, models, "size", out)
    with pytest.raises(ValueError, match=r"lacks columns \['ece_hi'\]"):
        figure_trend(metrics.drop(columns="ece_hi"), scores, models, "scale", out)
    assert not out.exists()


# --------------------------------------------------------------------------
# figure_confidence_hist (Figure 7)


def test_figure_confidence_hist(tmp_path):
    models, _, scores = _synthetic(8)
    labels = {m: SIZES[i] for i, m in enumerate(models)}
    out = tmp_path / "fig7.pdf"
    fig = figure_confidence_hist(scores, models, "mmlu", out, labels)
    _assert_pdf(out)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == list(SIZES[:8])
    assert ax.get_ylabel() == "confidence" and ax.get_ylim() == (0, 1)
    assert "MMLU" in ax.get_title()
    assert len(ax.collections) >= 8  # one violin body per model, plus markers and range bars
    assert min(_font_sizes(fig)) >= 7


def test_figure_confidence_hist_constant_confidence_and_errors(tmp_path):
    flat = pd.DataFrame({"confidence": np.full(50, 0.25), "correct": np.arange(50) % 4 == 0})
    fig = figure_confidence_hist({("a", "mmlu"): flat}, ["a"], "mmlu", tmp_path / "flat.pdf", ["tiny"])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["tiny"]
    with pytest.raises(ValueError, match=r"no scores for \(model='b', task='mmlu'\)"):
        figure_confidence_hist({("a", "mmlu"): flat}, ["a", "b"], "mmlu", tmp_path / "x.pdf")
    with pytest.raises(ValueError, match=r"model='a', task='mmlu'.*outside \[0, 1\] or NaN"):
        figure_confidence_hist({("a", "mmlu"): flat.assign(confidence=np.nan)}, ["a"], "mmlu", tmp_path / "x.pdf")
    with pytest.raises(ValueError, match="one label per model"):
        figure_confidence_hist({("a", "mmlu"): flat}, ["a"], "mmlu", tmp_path / "x.pdf", ["x", "y"])


def test_figure_selective_one_panel_per_task(tmp_path):
    from llmcal.figures import figure_selective

    curves = {
        (m, t): pd.DataFrame({"coverage": [0.25, 0.5, 1.0], "accuracy": [1.0, 0.8, 0.5 + i / 10]})
        for i, m in enumerate(["a", "b"])
        for t in ("clm", "mmlu")
    }
    out = tmp_path / "sel.pdf"
    fig = figure_selective(curves, ["a", "b"], out)
    assert out.read_bytes()[:4] == b"%PDF"
    panels = [ax for ax in fig.axes if ax.get_label().startswith("selective/")]
    assert [ax.get_label() for ax in panels] == ["selective/clm", "selective/mmlu"]
    assert all(len(ax.get_lines()) == 2 for ax in panels)
    with pytest.raises(ValueError, match="no curves"):
        figure_selective(curves, ["zzz"], tmp_path / "none.pdf")


# --------------------------------------------------------------------------
# figure_alignment (Figures 5 and 12) and figure_diversity (Figure 6)

ALIGN_GROUPS = [
    {"label": "Base", "models": ["base"]},
    {"label": "Alpaca full", "models": ["af-e1", "af-e2", "af-e3"]},
    {"label": "OA LoRA", "models": ["ol-e1", "ol-e2", "ol-e3"]},
    {"label": "PPO", "models": ["ppo-e1", "ppo-e2", "ppo-e3"]},
]
ALIGN_MODELS = [m for g in ALIGN_GROUPS for m in g["models"]]


def _alignment_metrics(tasks=("mmlu", "clm", "facts")) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for model in ALIGN_MODELS:
        for task in tasks:
            ece, acc = rng.uniform(0.02, 0.2), rng.uniform(0.2, 0.7)
            rows.append(
                {
                    "model": model,
                    "family": "mini",
                    "size": "l",
                    "step": np.nan,
                    "task": task,
                    "n": 300,
                    "accuracy": acc,
                    "accuracy_lo": acc - 0.04,
                    "accuracy_hi": acc + 0.03,
                    "ece": ece,
                    "ece_lo": ece - 0.01,
                    "ece_hi": ece + 0.03,
                    "mce": 0.3,
                    "adaptive_ece": ece,
                    "brier": 0.2,
                }
            )
    return pd.DataFrame(rows)


def _errorbar_spans(ax) -> list[tuple[float, float, float]]:
    from matplotlib.container import ErrorbarContainer

    (container,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    return [(seg[0][0], *sorted((seg[0][1], seg[1][1]))) for seg in container.lines[2][0].get_segments()]


@pytest.mark.parametrize("metric, ylabel", [("ece", "ECE"), ("accuracy", "Accuracy")])
def test_figure_alignment_bars_match_metrics(tmp_path, metric, ylabel):
    from llmcal.figures import ALIGNMENT_PREFIX, figure_alignment

    metrics = _alignment_metrics()
    out = tmp_path / "fig5.pdf"
    fig = figure_alignment(metrics, ALIGN_GROUPS, metric, out)
    _assert_pdf(out)
    panels = _axes(fig, f"{ALIGNMENT_PREFIX}-{metric}")
    assert [ax.get_label().split("/")[1] for ax in panels] == ["clm", "facts", "mmlu"]
    assert [ax.get_title() for ax in panels] == ["Causal LM (Pile)", "Facts (T-REx)", "MMLU"]
    index = metrics.set_index(["model", "task"])
    for ax in panels:
        task = ax.get_label().split("/")[1]
        expected = index.loc[[(m, task) for m in ALIGN_MODELS]]
        bars = ax.containers[0]
        assert [b.get_height() for b in bars] == pytest.approx(expected[metric].to_numpy())
        x = [b.get_x() + b.get_width() / 2 for b in bars]
        spans = _errorbar_spans(ax)
        assert [s[0] for s in spans] == pytest.approx(x)
        assert [s[1] for s in spans] == pytest.approx(expected[f"{metric}_lo"].to_numpy())
        assert [s[2] for s in spans] == pytest.approx(expected[f"{metric}_hi"].to_numpy())
        assert [t.get_text() for t in ax.get_xticklabels()] == [g["label"] for g in ALIGN_GROUPS]
        assert ax.get_ylabel() == ylabel
        # the base model's level is drawn across the panel for comparison
        assert any(list(ln.get_ydata()) == pytest.approx([expected[metric].iloc[0]] * 2) for ln in ax.get_lines())
        # bars within a group are coloured by epoch, the same epoch alike across groups
        colors = [tuple(b.get_facecolor()) for b in bars]
        assert colors[1:4] == colors[4:7] == colors[7:10] and len(set(colors[1:4])) == 3
    legend_texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend_texts[:3] == ["e1", "e2", "e3"] and "single model" in legend_texts
    assert min(_font_sizes(fig)) >= 7


def test_figure_alignment_only_tasks_present(tmp_path):
    from llmcal.figures import ALIGNMENT_PREFIX, figure_alignment

    fig = figure_alignment(
        _alignment_metrics(tasks=("mmlu",)),
        ALIGN_GROUPS,
        "ece",
        tmp_path / "f.pdf",
        task_labels={"mmlu": "MMLU (stand-in)"},
        title="Figure 5",
    )
    (ax,) = _axes(fig, f"{ALIGNMENT_PREFIX}-ece")
    assert ax.get_title() == "MMLU (stand-in)" and fig._suptitle.get_text() == "Figure 5"


def test_figure_alignment_rejects_bad_input(tmp_path):
    from llmcal.figures import figure_alignment

    metrics = _alignment_metrics()
    out = tmp_path / "f.pdf"
    no_row = metrics[~((metrics["model"] == "ol-e2") & (metrics["task"] == "facts"))]
    with pytest.raises(ValueError, match=r"no metrics row for \(model='ol-e2', task='facts'\)"):
        figure_alignment(no_row, ALIGN_GROUPS, "ece", out)
    with pytest.raises(ValueError, match=r"no column 'calibration'"):
        figure_alignment(metrics, ALIGN_GROUPS, "calibration", out)
    with pytest.raises(ValueError, match="non-empty 'models'"):
        figure_alignment(metrics, [{"label": "Base", "models": []}], "ece", out)
    with pytest.raises(ValueError, match="at least one group"):
        figure_alignment(metrics, [], "ece", out)
    assert not out.exists()


def _diversity_inputs():
    rng = np.random.default_rng(6)
    points = {"Alpaca": rng.normal(size=(40, 2)), "OA": rng.normal(size=(30, 2)) * 3}
    stats = {
        "Alpaca": {"n": 40, "diversity": 0.5234, "diversity_lo": 0.5012, "diversity_hi": 0.5399},
        "OA": {"n": 30, "diversity": 0.7, "diversity_lo": 0.68, "diversity_hi": 0.72},
    }
    return points, stats


def test_figure_diversity_points_and_legend(tmp_path):
    from llmcal.figures import DIVERSITY_LABEL, figure_diversity

    points, stats = _diversity_inputs()
    out = tmp_path / "fig6.pdf"
    fig = figure_diversity(points, stats, out)
    _assert_pdf(out)
    (ax,) = _axes_labelled(fig, DIVERSITY_LABEL)
    assert len(ax.collections) == 2
    for coll, name in zip(ax.collections, points):
        np.testing.assert_allclose(coll.get_offsets(), points[name])
    legend_texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend_texts == ["Alpaca (diversity 0.52 [0.50, 0.54], n=40)", "OA (diversity 0.70 [0.68, 0.72], n=30)"]
    assert ax.get_xlabel() == "t-SNE 1" and "t-SNE" in ax.get_title()
    assert min(_font_sizes(fig)) >= 7


def _axes_labelled(fig, label):
    return [ax for ax in fig.axes if ax.get_label() == label]


def test_figure_diversity_rejects_bad_input(tmp_path):
    from llmcal.figures import figure_diversity

    points, stats = _diversity_inputs()
    out = tmp_path / "f.pdf"
    with pytest.raises(ValueError, match="no diversity stats for set 'OA'"):
        figure_diversity(points, {"Alpaca": stats["Alpaca"]}, out)
    with pytest.raises(ValueError, match=r"'Alpaca' must have shape \(n, 2\)"):
        figure_diversity({"Alpaca": np.ones((4, 3))}, stats, out)
    with pytest.raises(ValueError, match="at least one set"):
        figure_diversity({}, stats, out)
    assert not out.exists()


# the figure kinds table ---------------------------------------------------------------------------------------


def _mini_study(tmp_path, figures=None):
    from pathlib import Path

    import yaml

    from llmcal.study import Study

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "mini.yaml").read_text())
    config["results"] = str(tmp_path / "results")
    if figures is not None:
        config["figures"] = figures
    return Study(config)


def test_figure_kinds_come_from_one_table():
    from llmcal.config import load_schema
    from llmcal.figure_kinds import ALIGNMENT_METRICS, KINDS
    from llmcal.study import FIGURE_KINDS

    item = load_schema()["properties"]["figures"]["items"]["properties"]
    assert FIGURE_KINDS == tuple(KINDS) == tuple(item["kind"]["enum"])
    assert tuple(item["metric"]["enum"]) == ALIGNMENT_METRICS
    assert all(name == kind.name for name, kind in KINDS.items())


def test_unknown_figure_kind_names_its_key(tmp_path):
    from llmcal.registry import ConfigError

    with pytest.raises(ConfigError, match=r"figures\[0\] \(figx\)\.kind: 'histogram' is not one of \('reliability'"):
        _mini_study(tmp_path, [{"name": "figx", "kind": "histogram", "models": ["mini-xs"]}])


def test_a_new_figure_kind_is_one_table_entry(tmp_path, monkeypatch):
    """Study, the rule's inputs and params, and the job reach a kind only through the table."""
    from pathlib import Path

    from llmcal import figure_kinds as fk
    from llmcal import pipeline

    drawn = []

    def resolve(study, key, f):
        fig = fk._model_figure(study, key, f, task="facts")
        if len(fig.models) < 2:
            raise fk.ConfigError(f"{key}.models: a pairs figure needs two models")
        return fig

    def draw(job):
        drawn.append(sorted(job.scores()))
        Path(job.out).write_text(job.figure["name"])

    monkeypatch.setitem(fk.KINDS, "pairs", fk.FigureKind("pairs", resolve, fk._score_inputs, fk._score_params, draw))
    with pytest.raises(fk.ConfigError, match=r"figures\[0\] \(figp\)\.models: a pairs figure needs two models"):
        _mini_study(tmp_path, [{"name": "figp", "kind": "pairs", "models": ["mini-xs"]}])
    study = _mini_study(tmp_path, [{"name": "figp", "kind": "pairs", "models": ["mini-xs", "mini-s"]}])
    fig = study.figure("figp")
    assert (fig.kind, fig.models, fig.task) == ("pairs", ("mini-xs", "mini-s"), "facts")
    files = [study.score_file("facts", m) for m in fig.models]
    assert study.figure_inputs("figp") == {"metrics": study.metrics_file(), "scores": files}
    params = study.figure_params("figp")
    assert params == {"scores": {f"{m}|facts": study.score_file("facts", m) for m in fig.models}}
    df = pd.DataFrame({"confidence": [0.5, 0.9], "correct": [True, False]})
    for path in files:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(path)
    out = tmp_path / "figp.pdf"
    pipeline.figure_job(
        {"name": "figp", "kind": "pairs", "models": list(fig.models)},
        study.figure_inputs("figp"),
        params,
        {},
        10,
        str(out),
    )
    assert drawn == [[("mini-s", "facts"), ("mini-xs", "facts")]] and out.read_text() == "figp"


def test_figure_job_draws_a_reliability_figure_from_its_score_files(tmp_path):
    from dataclasses import asdict
    from pathlib import Path

    from llmcal import pipeline

    study = _mini_study(tmp_path)
    rng = np.random.default_rng(4)
    for path in study.figure_inputs("fig2")["scores"]:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _samples(rng, 200, 0.5, 0.8).to_parquet(path)
    out = tmp_path / "fig2.pdf"
    pipeline.figure_job(
        asdict(study.figure("fig2")), study.figure_inputs("fig2"), study.figure_params("fig2"), {}, 10, str(out)
    )
    assert out.read_bytes().startswith(b"%PDF") and out.stat().st_size > MIN_PDF_BYTES
