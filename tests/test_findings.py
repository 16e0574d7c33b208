"""Findings statistics and report on synthetic scores whose answers are known by construction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from llmcal.calibration import expected_calibration_error
from llmcal.findings import FINDING_IDS, VERDICTS, align, align_many, evaluate_findings, judge
from llmcal.fsio import atomic_text
from llmcal.metrics import summarize
from llmcal.registry import ConfigError
from llmcal.report import render_markdown
from llmcal.selective import (
    calibration_extras,
    fit_temperature,
    fit_temperature_choices,
    fit_temperature_grid,
    holdout_mask,
    selective_auc,
    selective_curve,
)
from llmcal.stats import bootstrap_eces, paired_bootstrap_ece_diff, spearman, trend_test

TASKS = ("clm", "facts", "mmlu")
GRID = np.geomspace(0.25, 4.0, 25)
N = 1500
N_BOOT = 200


def _model_scores(rng, ids, bias) -> pd.DataFrame:
    """Correctness drawn from a true probability q; the model reports q + bias (overconfident when bias > 0)."""
    q = rng.beta(2, 2, size=len(ids))
    return pd.DataFrame({"id": ids, "confidence": np.clip(q + bias, 0, 1), "correct": rng.random(len(ids)) < q})


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# aligning -----------------------------------------------------------------------------------------------------


def test_align_inner_joins_on_id_in_one_order():
    a = pd.DataFrame({"id": ["x", "y", "z"], "confidence": [0.1, 0.2, 0.3]})
    b = pd.DataFrame({"id": ["z", "w", "x"], "confidence": [0.9, 0.8, 0.7]})
    a2, b2 = align(a, b)
    assert list(a2["id"]) == list(b2["id"]) == ["x", "z"]
    assert list(b2["confidence"]) == [0.7, 0.9]


def test_align_errors_clearly():
    a = pd.DataFrame({"id": ["x"], "confidence": [0.1]})
    with pytest.raises(ValueError, match="no sample id is shared"):
        align(a, pd.DataFrame({"id": ["y"], "confidence": [0.2]}))
    with pytest.raises(ValueError, match="more than once"):
        align_many([a, pd.DataFrame({"id": ["x", "x"], "confidence": [0.2, 0.3]})])


# paired differences -------------------------------------------------------------------------------------------


def test_identical_models_paired_diff_covers_zero():
    df = _model_scores(np.random.default_rng(0), np.arange(N), 0.05)
    res = paired_bootstrap_ece_diff(df.confidence, df.correct, df.confidence, df.correct, n_boot=N_BOOT, seed=3)
    assert res["diff"] == 0
    assert res["lo"] <= 0 <= res["hi"]
    assert res["p_value"] == 1.0
    assert judge(res["lo"], res["hi"], +1) != "supported"
    assert judge(res["lo"], res["hi"], -1) != "supported"


def test_clearly_better_calibrated_model_is_supported():
    rng = np.random.default_rng(1)
    ids = np.arange(N)
    good, bad = _model_scores(rng, ids, 0.0), _model_scores(rng, ids, 0.2)
    res = paired_bootstrap_ece_diff(good.confidence, good.correct, bad.confidence, bad.correct, n_boot=N_BOOT, seed=0)
    assert res["diff"] == pytest.approx(
        expected_calibration_error(bad.confidence, bad.correct)
        - expected_calibration_error(good.confidence, good.correct)
    )
    assert 0 < res["lo"] <= res["diff"] <= res["hi"]
    assert judge(res["lo"], res["hi"], +1) == "supported"
    assert judge(res["lo"], res["hi"], -1) == "contradicted"
    assert res["p_value"] < 0.05


def test_paired_bootstrap_is_seeded_and_independent_of_company():
    rng = np.random.default_rng(2)
    frames = [_model_scores(rng, np.arange(N), b) for b in (0.0, 0.1, 0.2)]
    confs, corrs = [f.confidence for f in frames], [f.correct for f in frames]
    _, boot3 = bootstrap_eces(confs, corrs, n_boot=50, seed=9)
    _, boot2 = bootstrap_eces(confs[:2], corrs[:2], n_boot=50, seed=9)
    np.testing.assert_array_equal(boot3[:, :2], boot2)
    _, again = bootstrap_eces(confs, corrs, n_boot=50, seed=9)
    np.testing.assert_array_equal(boot3, again)


def test_bootstrap_matches_direct_resampling():
    rng = np.random.default_rng(3)
    df = _model_scores(rng, np.arange(200), 0.1)
    conf, corr = df.confidence.to_numpy(), df.correct.to_numpy()
    _, boot = bootstrap_eces([conf], [corr], n_boot=5, seed=4)
    draws = np.random.default_rng(4).integers(0, 200, size=(5, 200))
    direct = [expected_calibration_error(conf[i], corr[i]) for i in draws]
    np.testing.assert_allclose(boot[:, 0], direct, atol=1e-12)


def test_judge_thresholds():
    assert judge(0.01, 0.02, +1) == "supported"
    assert judge(-0.02, -0.01, +1) == "contradicted"
    assert judge(-0.01, 0.01, +1) == "inconclusive"
    assert judge(0.001, 0.005, -1, threshold=0.01) == "supported"
    assert judge(0.02, 0.03, -1, threshold=0.01) == "contradicted"
    assert judge(math.nan, 0.1, +1) == "inconclusive"


# trends -------------------------------------------------------------------------------------------------------


def test_spearman_exact_and_ties():
    assert spearman([1, 2, 3, 4, 5], [0.1, 0.3, 0.35, 0.8, 2.0]) == 1.0
    assert spearman([256, 512, 1000, 2000], [0.5, 0.4, 0.2, 0.1]) == -1.0
    # Ties take average ranks: y ranks (1.5, 1.5, 3) against (1, 2, 3) -> rho = 1.5 / sqrt(2 * 1.5).
    assert spearman([1, 2, 3], [5, 5, 7]) == pytest.approx(1.5 / math.sqrt(3.0))
    assert math.isnan(spearman([1, 2, 3], [4, 4, 4]))


def test_monotonic_series_gives_rho_of_exactly_minus_one():
    rng = np.random.default_rng(5)
    ids = np.arange(N)
    frames = [_model_scores(rng, ids, b) for b in (0.3, 0.2, 0.1, 0.0)]
    res = trend_test([0, 1, 2, 3], [f.confidence for f in frames], [f.correct for f in frames], n_boot=N_BOOT, seed=0)
    assert res["rho"] == -1.0
    assert res["lo"] == -1.0 and res["hi"] < 0
    assert judge(res["lo"], res["hi"], -1) == "supported"
    increasing = trend_test(
        [0, 1, 2, 3], [f.confidence for f in frames[::-1]], [f.correct for f in frames[::-1]], n_boot=N_BOOT, seed=0
    )
    assert increasing["rho"] == 1.0


def test_trend_of_identical_models_is_not_a_trend():
    df = _model_scores(np.random.default_rng(6), np.arange(N), 0.1)
    res = trend_test([1, 2, 3], [df.confidence] * 3, [df.correct] * 3, n_boot=N_BOOT, seed=0)
    assert math.isnan(res["rho"])
    assert judge(res["lo"], res["hi"], -1) == "inconclusive"


# selective prediction -----------------------------------------------------------------------------------------


def test_selective_curve_perfect_ranking_beats_random():
    rng = np.random.default_rng(7)
    correct = rng.random(2000) < 0.6
    perfect = np.where(correct, 0.5 + rng.random(2000) / 2, rng.random(2000) / 2)
    random_conf = rng.random(2000)
    assert selective_auc(perfect, correct) > selective_auc(random_conf, correct) + 0.2
    assert selective_auc(random_conf, correct) == pytest.approx(correct.mean(), abs=0.05)
    curve = selective_curve(perfect, correct)
    assert list(curve.columns) == ["coverage", "accuracy"]
    assert curve["coverage"].iloc[-1] == 1.0
    assert curve["accuracy"].iloc[-1] == pytest.approx(correct.mean())
    assert (curve["accuracy"].iloc[: int(correct.sum())] == 1.0).all()


def test_selective_ties_do_not_depend_on_input_order():
    correct = np.array([1, 0, 1, 0, 1, 0], dtype=bool)
    conf = np.full(6, 0.7)
    assert selective_auc(conf, correct) == pytest.approx(0.5)
    assert selective_auc(conf, correct[::-1]) == selective_auc(conf, correct)
    assert len(selective_curve(conf, correct)) == 1


# temperature scaling ------------------------------------------------------------------------------------------


def _overconfident_logits(rng, n, k, true_t):
    """Labels drawn from softmax(z); the model reports z * true_t, so dividing by true_t recalibrates it."""
    z = rng.normal(0, 1.2, size=(n, k))
    labels = (rng.random(n)[:, None] > np.cumsum(_softmax(z), axis=1)).sum(axis=1)
    return z * true_t, np.minimum(labels, k - 1)


def test_temperature_grid_recovers_true_t_and_reduces_ece():
    rng = np.random.default_rng(8)
    n, true_t = 6000, 2.0
    logits, labels = _overconfident_logits(rng, n, 20, true_t)
    per_t = np.stack([_softmax(logits / t) for t in GRID], axis=1)  # (n, G, V)
    pred = logits.argmax(axis=1)
    scores = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(n)],
            "confidence": per_t[:, 12].max(axis=1),  # GRID[12] == 1
            "correct": pred == labels,
            "conf_t": list(per_t.max(axis=2)),
            "target_prob_t": list(per_t[np.arange(n), :, labels]),
        }
    )
    assert GRID[12] == pytest.approx(1.0)
    t, _, nll = fit_temperature_grid(np.stack(scores["target_prob_t"]), GRID)
    assert t == pytest.approx(true_t)
    res = fit_temperature(scores, seed=1, grid=GRID)
    assert res["temperature"] == pytest.approx(true_t)
    assert res["n_fit"] + res["n_eval"] == n and abs(res["n_fit"] - n / 2) < 4 * math.sqrt(n)
    assert res["ece_after"] < res["ece_before"] / 2
    assert res["nll_after"] < res["nll_before"]


def test_temperature_exact_for_multiple_choice():
    rng = np.random.default_rng(9)
    n, true_t = 6000, 1.7
    logits, labels = _overconfident_logits(rng, n, 4, true_t)
    probs = _softmax(logits)
    letters = np.array(list("ABCD"))
    scores = pd.DataFrame(
        {
            "id": np.arange(n),
            "confidence": probs.max(axis=1),
            "correct": probs.argmax(axis=1) == labels,
            "target": letters[labels],
            **{f"p_{x}": probs[:, j] for j, x in enumerate("ABCD")},
        }
    )
    assert fit_temperature_choices(probs, labels) == pytest.approx(true_t, rel=0.08)
    res = fit_temperature(scores, seed=2)
    assert res["temperature"] == pytest.approx(true_t, rel=0.1)
    assert res["ece_after"] < res["ece_before"] and not res["at_bound"]
    # A guesser's best temperature is unbounded: the fit says it stopped at the edge.
    guess = scores.assign(target=letters[rng.integers(0, 4, n)])
    assert fit_temperature(guess, seed=2)["at_bound"]


def test_holdout_split_is_deterministic_and_seeded():
    ids = [f"q{i}" for i in range(1000)]
    a = holdout_mask(ids, 1)
    np.testing.assert_array_equal(a, holdout_mask(ids, 1))
    assert 400 < a.sum() < 600
    assert (a != holdout_mask(ids, 2)).any()
    # The split follows the id, not the row: shuffled rows keep their side.
    np.testing.assert_array_equal(holdout_mask(ids[::-1], 1), a[::-1])


# findings -----------------------------------------------------------------------------------------------------

# ECE offsets per task: bigger / later models are better calibrated, much more so on facts and mmlu.
SCALE_BIAS = {"clm": (0.16, 0.12, 0.08, 0.04), "facts": (0.4, 0.3, 0.2, 0.1), "mmlu": (0.35, 0.25, 0.15, 0.05)}


def _config(tmp_path, alignment=None):
    models = [{"name": f"s{i}", "family": "syn", "size": f"{i}", "path": "/nowhere"} for i in range(4)]
    models.append(
        {"name": "d", "family": "syn", "size": "d", "hub": "org/d", "revision": "step{step}", "steps": [1, 2, 4, 8]}
    )
    cfg = {
        "results": str(tmp_path),
        "seed": 1,
        "tasks": list(TASKS),
        "metrics": {"n_bins": 10},
        "models": models,
        "figures": [
            {"name": "fig3", "kind": "scale", "models": ["s0", "s1", "s2", "s3"]},
            {"name": "fig4", "kind": "steps", "models": ["d"]},
        ],
    }
    if alignment is not None:
        cfg["models"].append({"name": "base", "family": "syn", "size": "7b", "path": "/nowhere"})
        cfg["alignment"] = alignment
    return cfg


def _study_data(biases: dict[str, dict[str, float]], n=N):
    """biases: model -> task -> confidence offset. Returns (metrics, scores by (model, task))."""
    rng = np.random.default_rng(11)
    scores, rows = {}, []
    for model, per_task in biases.items():
        for task, bias in per_task.items():
            df = _model_scores(rng, [f"{task}-{i}" for i in range(n)], bias)
            scores[(model, task)] = df
            rows.append(
                {
                    "model": model,
                    "family": "syn",
                    "size": "x",
                    "step": np.nan,
                    "task": task,
                    **summarize(df.confidence, df.correct, n_boot=50, seed=0),
                }
            )
    return pd.DataFrame(rows), scores


def _pretraining_biases():
    biases = {}
    for i in range(4):
        biases[f"s{i}"] = {t: SCALE_BIAS[t][i] for t in TASKS}
        biases[f"d-step{2**i}"] = {t: SCALE_BIAS[t][i] for t in TASKS}
    return biases


def _loader(scores):
    def load(model, task):
        try:
            return scores[(model, task)]
        except KeyError:
            raise FileNotFoundError(f"no scores file for {model}/{task}") from None

    return load


@pytest.fixture(scope="module")
def pretraining():
    return _study_data(_pretraining_biases())


def test_findings_without_alignment_section(tmp_path, pretraining):
    metrics, scores = pretraining
    findings = evaluate_findings(_config(tmp_path), metrics, _loader(scores), n_boot=N_BOOT, seed=0)
    by_id = {f.id: f for f in findings}
    assert [f.id for f in findings] == list(FINDING_IDS)
    assert all(f.verdict in VERDICTS for f in findings)
    assert by_id["F1"].verdict == "supported"
    assert by_id["F2"].verdict == "supported"
    assert by_id["F7"].verdict == "supported"
    for fid in ("F3", "F4", "F5", "F6", "F8", "F9"):
        assert by_id[fid].verdict == "not evaluated"
        assert "alignment" in by_id[fid].reason
        assert by_id[fid].rows.empty
    f1 = by_id["F1"].rows
    assert set(f1["task"]) == set(TASKS) and (f1["value"] == -1.0).all()
    row = f1[(f1["model"] == "s2") & (f1["task"] == "facts")].iloc[0]
    m = metrics[(metrics["model"] == "s2") & (metrics["task"] == "facts")].iloc[0]
    assert (row["ece"], row["ece_lo"], row["accuracy_hi"]) == (m["ece"], m["ece_lo"], m["accuracy_hi"])


def test_flat_series_is_not_supported(tmp_path):
    flat = {m: {t: 0.1 for t in TASKS} for m in _pretraining_biases()}
    metrics, scores = _study_data(flat)
    by_id = {f.id: f for f in evaluate_findings(_config(tmp_path), metrics, _loader(scores), n_boot=N_BOOT, seed=0)}
    assert by_id["F1"].verdict != "supported"
    assert by_id["F7"].verdict != "supported"


def test_worse_with_scale_is_contradicted(tmp_path):
    reverse = {
        m: {
            t: SCALE_BIAS[t][3 - int(m[-1] if m.startswith("s") else math.log2(int(m.split("step")[1])))] for t in TASKS
        }
        for m in _pretraining_biases()
    }
    metrics, scores = _study_data(reverse)
    by_id = {f.id: f for f in evaluate_findings(_config(tmp_path), metrics, _loader(scores), n_boot=N_BOOT, seed=0)}
    assert by_id["F1"].verdict == "contradicted"
    assert by_id["F2"].verdict == "contradicted"
    assert "contradicted by 3 of 3" in by_id["F1"].reason


def test_missing_scores_or_metrics_are_not_evaluated(tmp_path, pretraining):
    metrics, scores = pretraining
    partial = {k: v for k, v in scores.items() if k[0] != "d-step4"}
    by_id = {f.id: f for f in evaluate_findings(_config(tmp_path), metrics, _loader(partial), n_boot=20, seed=0)}
    assert by_id["F2"].verdict == "not evaluated" and "d-step4" in by_id["F2"].reason
    assert by_id["F1"].verdict == "supported"
    no_fig3 = metrics[metrics["model"] != "s1"]
    by_id = {f.id: f for f in evaluate_findings(_config(tmp_path), no_fig3, _loader(scores), n_boot=20, seed=0)}
    assert by_id["F1"].verdict == "not evaluated" and "metrics.csv has no row for s1" in by_id["F1"].reason
    cfg = _config(tmp_path)
    cfg["figures"] = []
    by_id = {f.id: f for f in evaluate_findings(cfg, metrics, _loader(scores), n_boot=20, seed=0)}
    assert {f.verdict for f in by_id.values()} == {"not evaluated"}
    assert "scale" in by_id["F1"].reason and "steps" in by_id["F2"].reason


# Instruction tuning adds overconfidence, Alpaca more than OA, full more than LoRA; PPO changes nothing.
ALIGN_BIAS = {
    "base": 0.02,
    "alp-full-e1": 0.12,
    "alp-full-e2": 0.2,
    "oa-full-e1": 0.08,
    "oa-full-e2": 0.12,
    "alp-lora-e1": 0.06,
    "alp-lora-e2": 0.1,
    "oa-lora-e1": 0.03,
    "oa-lora-e2": 0.04,
    "ppo-e1": 0.2,
    "ppo-e2": 0.2,
    "dpo-e1": 0.2,
    "dpo-e2": 0.2,
}


def _alignment_section():
    two = {"epochs": 2}
    return {
        "base": "base",
        "instruction_tuning": {
            "runs": [{"data": d, "method": m} for d in ("alpaca", "oasst") for m in ("full", "lora")],
            "full": two,
            "lora": two,
        },
        "rlhf": {"from": "alpaca-full", "epoch": 2, "ppo": two, "dpo": two},
    }


def _aligned_name(short: str) -> str:
    """ALIGN_BIAS's short names as the alignment plan names the checkpoints."""
    if short == "base":
        return "base"
    return "base-" + short.replace("alp-", "alpaca-").replace("oa-", "oasst-")


def test_alignment_findings(tmp_path):
    biases = {_aligned_name(m): {t: b + (0.01 if t == "clm" else 0.0) for t in TASKS} for m, b in ALIGN_BIAS.items()}
    metrics, scores = _study_data(biases)
    # PPO leaves the model as it was: the same scores as its start. DPO does too, except that its final epoch
    # is made overconfident below, so F9 must come out contradicted while F6 stays supported.
    start = _aligned_name("alp-full-e2")
    for t in TASKS:
        for m in ("base-ppo-e1", "base-ppo-e2", "base-dpo-e1"):
            scores[(m, t)] = scores[(start, t)]
            metrics.loc[(metrics.model == m) & (metrics.task == t), "ece"] = float(
                metrics.loc[(metrics.model == start) & (metrics.task == t), "ece"].iloc[0]
            )
    worse = {_aligned_name("dpo-e2"): {t: 0.45 for t in TASKS}}
    worse_metrics, worse_scores = _study_data(worse)
    for t in TASKS:
        scores[("base-dpo-e2", t)] = worse_scores[("base-dpo-e2", t)]
        metrics = pd.concat(
            [metrics[~((metrics.model == "base-dpo-e2") & (metrics.task == t))], worse_metrics[worse_metrics.task == t]]
        )
    cfg = _config(tmp_path, _alignment_section())
    by_id = {f.id: f for f in evaluate_findings(cfg, metrics, _loader(scores), n_boot=N_BOOT, seed=0)}
    for fid in ("F3", "F4", "F5", "F6", "F8"):
        assert by_id[fid].verdict == "supported", (fid, by_id[fid].reason)
    # F9 tests DPO as F6 tests PPO: its final epoch votes (contradicted), epoch 1 (unchanged) is supplementary.
    f9 = by_id["F9"]
    assert f9.verdict == "contradicted" and "Beyond the paper" in f9.claim
    rows = f9.rows.drop_duplicates("comparison")
    assert set(rows[rows.role == "primary"]["comparison"].str.split(" vs ").str[0]) == {"base-dpo-e2"}
    assert (rows[rows.role == "supplementary"]["value"] == 0).all()
    # F8 ranges over the paper's alignment models only: DPO's checkpoints are not among them.
    assert not by_id["F8"].rows["model"].str.contains("dpo").any()
    assert {"primary", "supplementary"} == set(by_id["F3"].rows["role"])
    f6 = by_id["F6"].rows.drop_duplicates("comparison")
    assert (f6["value"] == 0).all() and (f6["claim"] == "< 0.01").all()
    # This run has no pretraining scores: those findings say so instead of failing.
    assert by_id["F1"].verdict == "not evaluated"


def test_alignment_config_with_unknown_base_names_the_key(tmp_path, pretraining):
    metrics, scores = pretraining
    section = _alignment_section()
    section["base"] = "no-such-model"
    with pytest.raises(ConfigError, match=r"alignment\.base: 'no-such-model'"):
        evaluate_findings(_config(tmp_path, section), metrics, _loader(scores), n_boot=20, seed=0)


def test_alignment_findings_missing_scores_are_not_evaluated(tmp_path, pretraining):
    metrics, scores = pretraining
    findings = evaluate_findings(_config(tmp_path, _alignment_section()), metrics, _loader(scores), n_boot=20, seed=0)
    by_id = {f.id: f for f in findings}
    for fid in ("F3", "F4", "F5", "F6", "F8", "F9"):
        assert by_id[fid].verdict == "not evaluated", fid
    assert by_id["F1"].verdict == "supported"


# extras and report --------------------------------------------------------------------------------------------


def test_calibration_extras(pretraining):
    metrics, scores = pretraining
    rng = np.random.default_rng(12)
    logits, labels = _overconfident_logits(rng, 800, 4, 2.0)
    probs = _softmax(logits)
    mc = pd.DataFrame(
        {
            "id": [f"q{i}" for i in range(800)],
            "confidence": probs.max(axis=1),
            "correct": probs.argmax(axis=1) == labels,
            "target": np.array(list("ABCD"))[labels],
            **{f"p_{x}": probs[:, j] for j, x in enumerate("ABCD")},
        }
    )
    scores = {**scores, ("s0", "mmlu"): mc}
    metrics = metrics.copy()
    metrics.loc[
        (metrics.model == "s0") & (metrics.task == "mmlu"), list(summarize(mc.confidence, mc.correct, n_boot=10))
    ] = list(summarize(mc.confidence, mc.correct, n_boot=10).values())
    sub = metrics[metrics.model.isin(["s0", "s1"])]
    extras = calibration_extras(sub, _loader({k: v for k, v in scores.items() if k != ("s1", "clm")}), seed=0)
    assert len(extras) == len(sub)
    row = extras[(extras.model == "s0") & (extras.task == "mmlu")].iloc[0]
    assert row["temperature"] == pytest.approx(2.0, rel=0.25) and row["ts_ece_after"] < row["ts_ece_before"]
    assert row["adaptive_ece"] == sub[(sub.model == "s0") & (sub.task == "mmlu")]["adaptive_ece"].iloc[0]
    clm = extras[(extras.model == "s0") & (extras.task == "clm")].iloc[0]
    assert 0 < clm["selective_auc"] < 1 and math.isnan(clm["temperature"]) and "temperature" in clm["note"]
    missing = extras[(extras.model == "s1") & (extras.task == "clm")].iloc[0]
    assert math.isnan(missing["selective_auc"]) and "unavailable" in missing["note"]


def test_render_markdown_uses_metrics_numbers(tmp_path, pretraining):
    metrics, scores = pretraining
    metrics = metrics.copy()
    # Numbers no recomputation would give: the report must show the metrics table's.
    marked = (metrics.model == "s3") & (metrics.task == "mmlu")
    metrics.loc[marked, ["ece", "ece_lo", "ece_hi"]] = [0.123456, 0.111111, 0.133333]
    findings = evaluate_findings(_config(tmp_path), metrics, _loader(scores), n_boot=50, seed=0)
    extras = calibration_extras(metrics[metrics.model == "s0"], _loader(scores), seed=0)
    md = render_markdown(findings, extras, metrics)
    for f in findings:
        assert f"## {f.id}:" in md
        assert f"| {f.id} |" in md and f.verdict in md
    assert "0.1235 [0.1111, 0.1333]" in md
    for r in metrics[metrics.model.isin(["s0", "s1", "s2"])].itertuples():
        assert f"{r.ece:.4f} [{r.ece_lo:.4f}, {r.ece_hi:.4f}]" in md
    assert "Calibration beyond ECE" in md
    out = tmp_path / "report" / "findings.md"
    atomic_text(out, md)
    assert out.read_text() == md
    assert [p.name for p in out.parent.iterdir()] == ["findings.md"]


def test_blas_and_bincount_bin_sums_agree(monkeypatch):
    import llmcal.stats as stats

    rng = np.random.default_rng(13)
    frames = [_model_scores(rng, np.arange(500), b) for b in (0.0, 0.15)]
    args = ([f.confidence for f in frames], [f.correct for f in frames])
    _, small = bootstrap_eces(*args, n_boot=40, seed=5)
    monkeypatch.setattr(stats, "_BLAS_MIN_ELEMENTS", 0)
    _, blas = bootstrap_eces(*args, n_boot=40, seed=5)
    np.testing.assert_allclose(blas, small, atol=1e-12)
    same = paired_bootstrap_ece_diff(args[0][0], args[1][0], args[0][0], args[1][0], n_boot=40, seed=1)
    assert same["lo"] == same["hi"] == 0


def test_metrics_table_and_findings_share_one_bootstrap():
    # The intervals of metrics.csv (metrics.summarize) are read off the same replicates as the findings'.
    from llmcal.stats import percentile_interval

    df = _model_scores(np.random.default_rng(21), np.arange(700), 0.1)
    conf, corr = df.confidence.to_numpy(), df.correct.to_numpy()
    row = summarize(conf, corr, n_bins=10, n_boot=300, seed=17)
    _, boot = bootstrap_eces([conf], [corr], n_boot=300, seed=17)
    assert (row["ece_lo"], row["ece_hi"]) == percentile_interval(boot[:, 0])
