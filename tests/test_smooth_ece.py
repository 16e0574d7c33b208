"""Smooth ECE against its reference implementation (relplot, a test-only dependency), and HELM's equal-mass ECE."""

import numpy as np
import pandas as pd
import pytest
import relplot

from llmcal import stats
from llmcal.calibration import (
    adaptive_calibration_error,
    equal_mass_calibration_error,
    smooth_calibration_error,
)
from llmcal.metrics import smooth_ece_interval, summarize


def _case(rng, n):
    conf = rng.uniform(size=n) ** rng.uniform(0.2, 3.0)
    # Over- and under-confident, and nearly calibrated (small bandwidths: the finer grids).
    truth = np.clip(conf * rng.uniform(0.3, 1.5), 0, 1)
    return conf, (rng.uniform(size=n) < truth).astype(float)


@pytest.mark.parametrize("seed", range(8))
def test_smece_equals_relplot_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    for n in (1, 7, 60, 600, 5000):
        conf, corr = _case(rng, n)
        assert smooth_calibration_error(conf, corr) == pytest.approx(relplot.smECE(conf, corr), abs=1e-6)


def test_smece_equals_relplot_at_the_edges():
    conf = np.array([0.0, 0.0, 1.0, 1.0, 0.5, 0.25, 1.0])
    corr = np.array([0, 1, 1, 0, 1, 0, 1], dtype=float)
    assert smooth_calibration_error(conf, corr) == pytest.approx(relplot.smECE(conf, corr), abs=1e-6)
    same = np.full(50, 0.7)
    hits = (np.arange(50) % 2).astype(float)
    assert smooth_calibration_error(same, hits) == pytest.approx(relplot.smECE(same, hits), abs=1e-6)
    # Calibrated in expectation: smECE is small, and still equal to the reference.
    rng = np.random.default_rng(3)
    conf = rng.uniform(size=20000)
    corr = (rng.uniform(size=20000) < conf).astype(float)
    ours = smooth_calibration_error(conf, corr)
    assert ours < 0.02
    assert ours == pytest.approx(relplot.smECE(conf, corr), abs=1e-6)


def test_smece_interval_is_relplot_over_the_metrics_replicates():
    rng = np.random.default_rng(5)
    conf, corr = _case(rng, 300)
    lo, hi = smooth_ece_interval(conf, corr, n_boot=40, seed=11)
    # The same resampling stream as the ECE and accuracy intervals, each replicate scored by relplot.
    reps = []
    for _, counts in stats.resample_chunks(np.random.default_rng(11), len(conf), 40):
        for row in counts:
            idx = np.repeat(np.arange(len(conf)), row.astype(int))
            reps.append(relplot.smECE(conf[idx], corr[idx]))
    want = stats.percentile_interval(np.array(reps))
    assert (lo, hi) == pytest.approx(want, abs=1e-6)
    assert lo < hi


def test_equal_mass_ece_hand_computed():
    conf = [0.1, 0.2, 0.2, 0.4, 0.8, 0.9]
    corr = [0, 0, 1, 1, 1, 0]
    # Runs of two: boundaries (0.2+0.2)/2 = 0.2, (0.4+0.8)/2 = 0.6, then 1.0; 0.2 falls in the first bin.
    # Bins {0.1, 0.2, 0.2} (1 of 3 right), {0.4} (right), {0.8, 0.9} (1 of 2):
    # 3/6 * |1/3 - 0.5/3| + 1/6 * |1 - 0.4| + 2/6 * |0.5 - 0.85| = 0.3.
    assert equal_mass_calibration_error(conf, corr, n_bins=3) == pytest.approx(0.3)
    # adaptive_ece splits the tied 0.2s between two bins by position, so it differs here.
    assert adaptive_calibration_error(conf, corr, n_bins=3) == pytest.approx(0.4)


def test_equal_mass_ece_merges_duplicate_boundaries():
    # Ten equal confidences: every midpoint is 0.6, so one bin holds them all.
    conf, corr = [0.6] * 10, [1] * 3 + [0] * 7
    assert equal_mass_calibration_error(conf, corr, n_bins=5) == pytest.approx(0.3)


def test_summarize_adds_smece_and_equal_mass_ece():
    rng = np.random.default_rng(2)
    conf, corr = _case(rng, 400)
    out = summarize(conf, corr, n_boot=50, seed=4)
    assert out["smece"] == pytest.approx(relplot.smECE(conf, corr), abs=1e-6)
    assert out["smece_lo"] <= out["smece_hi"]
    assert out["ece_em"] == pytest.approx(equal_mass_calibration_error(conf, corr), abs=1e-12)
    assert (out["smece_lo"], out["smece_hi"]) == smooth_ece_interval(conf, corr, 50, 4)


def test_smece_rejects_what_the_other_metrics_reject():
    with pytest.raises(ValueError, match="confidence must lie in"):
        smooth_calibration_error([0.5, 1.2], [1, 0])
    with pytest.raises(ValueError, match="length mismatch"):
        equal_mass_calibration_error([0.5, 0.2], [1])


def test_smoothed_reliability_curve_is_relplots():
    from relplot.estimators import KernelSmoother
    from relplot.kernels import ReflectedGaussianKernel

    from llmcal.smooth_ece import smooth_reliability_curve

    rng = np.random.default_rng(9)
    for n in (5, 60, 600, 4000):
        conf, corr = _case(rng, n)
        t, mu, sigma = smooth_reliability_curve(conf, corr)
        ref_value, ref_sigma = relplot.smECE(conf, corr, return_width=True)
        ref = (
            KernelSmoother(ReflectedGaussianKernel(ref_sigma)).fit(conf.reshape(-1, 1), corr).predict(t.reshape(-1, 1))
        )
        assert sigma == pytest.approx(ref_sigma, abs=1e-12)
        assert np.abs(mu - ref).max() < 1e-6
    # Over-confident predictions: the curve lies below the diagonal where the samples are.
    conf = rng.uniform(0.6, 1, 3000)
    corr = (rng.uniform(size=3000) < conf - 0.3).astype(float)
    t, mu, _ = smooth_reliability_curve(conf, corr)
    inside = (t > 0.65) & (t < 0.95)
    assert (mu[inside] < t[inside] - 0.15).all()


def test_reliability_diagrams_draw_the_smoothed_curve():
    import matplotlib.pyplot as plt

    from llmcal.figures import reliability_diagram
    from llmcal.smooth_ece import smooth_reliability_curve

    rng = np.random.default_rng(10)
    conf, corr = _case(rng, 500)
    fig, ax = plt.subplots()
    try:
        reliability_diagram(ax, conf, corr.astype(bool))
        (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == "smoothed"]
        t, mu, sigma = smooth_reliability_curve(conf, corr)
        assert np.array_equal(line.get_xdata(), t) and np.array_equal(line.get_ydata(), mu)
        assert f"{sigma:.3f}" in line.get_label()
    finally:
        plt.close(fig)


# candidate ECE (every candidate answer's probability, the target's included) -------------------------------------


def test_candidate_ece_on_a_hand_computed_case():
    from llmcal.calibration import candidate_calibration_error

    probs = [[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]]
    hits = [[True, False, False], [False, True, False], [False, False, True]]
    # Nine pairs in their bins: (0.0, 0.1] .1 (0) -> .1; (0.1, 0.2] .2 .2 .2 .2 (0, 0, 0, 0) -> 4 x .2;
    # (0.2, 0.3] .3 (1) -> .7; (0.4, 0.5] .5 (0) -> .5; (0.5, 0.6] .6 (1) -> .4; (0.6, 0.7] .7 (1) -> .3.
    assert candidate_calibration_error(probs, hits) == pytest.approx((0.1 + 0.8 + 0.7 + 0.5 + 0.4 + 0.3) / 9, abs=1e-12)
    # Perfect one-hot answers are calibrated; top-label ECE would not see the other candidates at all.
    assert candidate_calibration_error(np.eye(4), np.eye(4, dtype=bool)) == 0.0
    with pytest.raises(ValueError, match="more than one candidate marked"):
        candidate_calibration_error(probs, [[True, True, False]] * 3)
    with pytest.raises(ValueError, match="must both be"):
        candidate_calibration_error(probs, [[True, False]] * 3)


def test_the_metrics_table_has_candidate_ece_for_every_task_that_keeps_candidates(tmp_path, caplog):
    from llmcal.calibration import candidate_calibration_error
    from llmcal.pipeline import aggregate_job

    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(4), size=200)
    target = rng.integers(0, 4, size=200)
    mmlu = pd.DataFrame({f"p_{letter}": p[:, i] for i, letter in enumerate("ABCD")})
    mmlu["confidence"], mmlu["correct"] = p.max(axis=1), p.argmax(axis=1) == target
    mmlu["target"], mmlu["subject"] = ["ABCD"[t] for t in target], "astronomy"
    top = np.sort(rng.dirichlet(np.ones(12), size=50)[:, :10], axis=1)[:, ::-1]
    hit = np.zeros_like(top, dtype=bool)
    hit[np.arange(50), rng.integers(0, 10, size=50)] = rng.uniform(size=50) < 0.7  # the target is not always there
    clm = pd.DataFrame({"confidence": top[:, 0], "correct": hit[:, 0], "topk_p": list(top), "topk_hit": list(hit)})
    old = pd.DataFrame({"confidence": [0.2, 0.9, 0.6], "correct": [False, True, True]})  # before candidates
    files = [tmp_path / "m.parquet", tmp_path / "c.parquet", tmp_path / "o.parquet"]
    for frame, f in zip((mmlu, clm, old), files):
        frame.to_parquet(f)
    rows = [{"model": "a", "task": "mmlu"}, {"model": "a", "task": "clm"}, {"model": "b", "task": "clm"}]
    out = tmp_path / "metrics.csv"
    aggregate_job([str(f) for f in files], rows, {"n_boot": 20}, 0, str(out), per_subject_out=str(tmp_path / "s.csv"))
    table = pd.read_csv(out)
    assert table.columns[-1] == "ece_candidates"
    want = candidate_calibration_error(p, target[:, None] == np.arange(4)[None, :])
    assert table.ece_candidates[0] == pytest.approx(want, abs=1e-6)
    assert table.ece_candidates[1] == pytest.approx(candidate_calibration_error(top, hit), abs=1e-6)
    # A file written before candidates were kept: the column is empty, and the log says why.
    assert np.isnan(table.ece_candidates[2])
    assert "o.parquet: no candidate probabilities" in caplog.text
