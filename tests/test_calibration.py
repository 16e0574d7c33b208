import math

import numpy as np
import pandas as pd
import pytest

from llmcal.calibration import (
    accuracy,
    adaptive_calibration_error,
    bin_indices,
    brier_score,
    expected_calibration_error,
    maximum_calibration_error,
    reliability_table,
)
from llmcal.metrics import bootstrap_interval, summarize

# Hand-worked example, M = 10, N = 7:
#   bin 1 (0.1, 0.2]: conf 0.15, 0.18  correct 0, 1     -> conf 0.165, acc 0.5, |gap| 0.335
#   bin 6 (0.6, 0.7]: conf 0.62, 0.66  correct 1, 0     -> conf 0.64,  acc 0.5, |gap| 0.14
#   bin 9 (0.9, 1.0]: conf 0.92, 0.95, 0.98  all correct -> conf 0.95,  acc 1.0, |gap| 0.05
#   ECE = (2*0.335 + 2*0.14 + 3*0.05) / 7 = 1.10 / 7
CONF = np.array([0.15, 0.18, 0.62, 0.66, 0.92, 0.95, 0.98])
CORRECT = np.array([0, 1, 1, 0, 1, 1, 1])


def test_ece_hand_example():
    assert expected_calibration_error(CONF, CORRECT) == pytest.approx(1.10 / 7)


def test_ece_accepts_bool_and_lists():
    expected = 1.10 / 7
    assert expected_calibration_error(list(CONF), CORRECT.astype(bool)) == pytest.approx(expected)
    assert expected_calibration_error(CONF, CORRECT.astype(float)) == pytest.approx(expected)


def test_ece_other_bin_count():
    # M = 2: (0, 0.5] holds 0.15, 0.18 -> |1 - 0.33| = 0.67;
    # (0.5, 1] holds the other five, conf sum 4.13, 4 correct -> |4 - 4.13| = 0.13.
    # ECE = (0.67 + 0.13) / 7 = 0.8 / 7
    assert expected_calibration_error(CONF, CORRECT, n_bins=2) == pytest.approx(0.8 / 7)


def test_bin_indices_at_edges():
    # Bins are closed on the right: 0.1 -> (0, 0.1], 0.3 -> (0.2, 0.3], 0.7 -> (0.6, 0.7].
    # 0 joins the first bin and 1.0 the last. 0.1 + 0.2 is the double just above 0.3,
    # so it belongs to (0.3, 0.4]. floor(0.3 * 10) == 3 would misplace 0.3.
    conf = [0.0, 1e-300, 0.1, np.nextafter(0.1, 1), 0.3, 0.1 + 0.2, 0.7, 0.95, 1.0]
    assert bin_indices(conf, 10).tolist() == [0, 0, 0, 1, 2, 3, 6, 9, 9]
    # M = 5: 0.2 -> (0, 0.2], 0.4 -> (0.2, 0.4], 0.6 -> (0.4, 0.6], 0.8 -> (0.6, 0.8]
    assert bin_indices([0.2, 0.4, 0.6, 0.8], 5).tolist() == [0, 1, 2, 3]
    # Cases ceil(p * M) - 1 gets wrong: 0.07 * 100 == 7.000000000000001, yet 0.07 is
    # the upper edge of (0.06, 0.07], bin 6 (likewise 0.14 -> 13, 0.28 -> 27); and the
    # double just above 0.85 times 20 rounds to 17.0, yet it lies in (0.85, 0.9], bin 17.
    assert bin_indices([0.07, 0.14, 0.28], 100).tolist() == [6, 13, 27]
    assert bin_indices([np.nextafter(0.85, 1)], 20).tolist() == [17]
    # M = 1: everything in the single bin.
    assert bin_indices([0.0, 0.5, 1.0], 1).tolist() == [0, 0, 0]


def test_reliability_table_counts_at_edges():
    conf = [0.0, 0.1, 0.3, 0.7, 1.0]
    table = reliability_table(conf, [1, 1, 0, 1, 0])
    # 0.0 and 0.1 in bin 0, 0.3 in bin 2, 0.7 in bin 6, 1.0 in bin 9.
    assert table["count"].tolist() == [2, 0, 1, 0, 0, 0, 1, 0, 0, 1]
    assert table.loc[0, "accuracy"] == 1.0
    assert table.loc[0, "confidence"] == pytest.approx(0.05)
    assert table.loc[2, "gap"] == pytest.approx(-0.3)
    assert table.loc[9, "gap"] == pytest.approx(-1.0)


def test_reliability_table_layout_and_empty_bins():
    table = reliability_table(CONF, CORRECT)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["bin", "lower", "upper", "count", "accuracy", "confidence", "gap"]
    assert table["bin"].tolist() == list(range(10))
    assert table["lower"].tolist() == pytest.approx([m / 10 for m in range(10)])
    assert table["upper"].tolist() == pytest.approx([m / 10 for m in range(1, 11)])
    assert pd.api.types.is_integer_dtype(table["count"])
    assert table["count"].tolist() == [0, 2, 0, 0, 0, 0, 2, 0, 0, 3]

    empty = table["count"] == 0
    assert table.loc[empty, ["accuracy", "confidence", "gap"]].isna().all().all()
    full = table[~empty]
    assert full["accuracy"].tolist() == pytest.approx([0.5, 0.5, 1.0])
    assert full["confidence"].tolist() == pytest.approx([0.165, 0.64, 0.95])
    assert full["gap"].tolist() == pytest.approx([0.335, -0.14, 0.05])
    # Empty bins contribute nothing: ECE is the count-weighted mean of |gap| over full bins.
    weighted = (full["count"] * full["gap"].abs()).sum() / table["count"].sum()
    assert expected_calibration_error(CONF, CORRECT) == pytest.approx(weighted)


def test_single_sample():
    # One sample, conf 0.7, correct: every calibration error is |1 - 0.7| = 0.3.
    assert expected_calibration_error([0.7], [1]) == pytest.approx(0.3)
    assert maximum_calibration_error([0.7], [1]) == pytest.approx(0.3)
    assert adaptive_calibration_error([0.7], [1]) == pytest.approx(0.3)
    assert brier_score([0.7], [1]) == pytest.approx(0.09)
    # Every resample is the same sample, so the intervals collapse to the point.
    boot = bootstrap_interval([0.7], [1], n_boot=50)
    assert boot["ece_lo"] == pytest.approx(0.3) and boot["ece_hi"] == pytest.approx(0.3)
    assert boot["accuracy_lo"] == 1.0 and boot["accuracy_hi"] == 1.0
    assert summarize([0.7], [1], n_boot=50)["n"] == 1


def test_perfectly_calibrated_data_has_small_ece():
    rng = np.random.default_rng(123)
    conf = rng.uniform(size=200_000)
    correct = rng.uniform(size=conf.size) < conf
    assert expected_calibration_error(conf, correct) < 0.01


def test_overconfident_data_has_ece_near_the_gap():
    # Claims 0.9 but is right 60% of the time: ECE -> |0.6 - 0.9| = 0.3.
    rng = np.random.default_rng(7)
    correct = rng.uniform(size=100_000) < 0.6
    assert expected_calibration_error(np.full(correct.size, 0.9), correct) == pytest.approx(0.3, abs=0.01)


def test_mce_hand_example():
    # Largest |gap| among the three full bins: 0.335 (bin 1); empty bins are ignored.
    assert maximum_calibration_error(CONF, CORRECT) == pytest.approx(0.335)


def test_adaptive_ece_hand_example():
    # 3 equal-mass groups of 7 sorted samples, sizes 3, 2, 2 (np.array_split):
    #   0.15, 0.18, 0.62 (2 correct): |2 - 0.95| = 1.05
    #   0.66, 0.92       (1 correct): |1 - 1.58| = 0.58
    #   0.95, 0.98       (2 correct): |2 - 1.93| = 0.07
    #   ACE = (1.05 + 0.58 + 0.07) / 7 = 1.70 / 7
    shuffled = np.random.default_rng(0).permutation(7)
    assert adaptive_calibration_error(CONF[shuffled], CORRECT[shuffled], n_bins=3) == pytest.approx(1.70 / 7)


def test_adaptive_ece_with_fewer_samples_than_bins():
    # One group per sample: mean |correct - conf|
    #   = (0.15 + 0.82 + 0.38 + 0.66 + 0.08 + 0.05 + 0.02) / 7 = 2.16 / 7
    assert adaptive_calibration_error(CONF, CORRECT, n_bins=10) == pytest.approx(2.16 / 7)


def test_brier_hand_example():
    # (0.15)^2 + (0.82)^2 + (0.38)^2 + (0.66)^2 + (0.08)^2 + (0.05)^2 + (0.02)^2
    #   = 0.0225 + 0.6724 + 0.1444 + 0.4356 + 0.0064 + 0.0025 + 0.0004 = 1.2842
    assert brier_score(CONF, CORRECT) == pytest.approx(1.2842 / 7)


def test_accuracy():
    assert accuracy(CORRECT) == pytest.approx(5 / 7)
    assert accuracy([True, False, True, True]) == 0.75


def _miscalibrated(n, seed):
    # Overconfident by 0.2 on average, so ECE is far from 0 and its bootstrap
    # distribution is not piled against the zero floor.
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.5, 1.0, size=n)
    correct = rng.uniform(size=n) < conf - 0.2
    return conf, correct


def test_bootstrap_is_reproducible():
    conf, correct = _miscalibrated(2_000, seed=1)
    first = bootstrap_interval(conf, correct, n_boot=300, seed=5)
    assert first == bootstrap_interval(conf, correct, n_boot=300, seed=5)
    assert first != bootstrap_interval(conf, correct, n_boot=300, seed=6)
    assert set(first) == {"ece_lo", "ece_hi", "accuracy_lo", "accuracy_hi"}
    assert all(type(v) is float for v in first.values())


def test_bootstrap_interval_contains_point_estimate():
    conf, correct = _miscalibrated(2_000, seed=2)
    boot = bootstrap_interval(conf, correct, n_boot=500)
    assert boot["ece_lo"] <= expected_calibration_error(conf, correct) <= boot["ece_hi"]
    assert boot["accuracy_lo"] <= accuracy(correct) <= boot["accuracy_hi"]


def test_bootstrap_narrower_with_more_data():
    small = bootstrap_interval(*_miscalibrated(500, seed=3), n_boot=400)
    large = bootstrap_interval(*_miscalibrated(20_000, seed=3), n_boot=400)
    assert large["ece_hi"] - large["ece_lo"] < small["ece_hi"] - small["ece_lo"]
    assert large["accuracy_hi"] - large["accuracy_lo"] < small["accuracy_hi"] - small["accuracy_lo"]


def test_bootstrap_narrower_at_lower_level():
    conf, correct = _miscalibrated(2_000, seed=4)
    wide = bootstrap_interval(conf, correct, n_boot=400, level=0.99)
    narrow = bootstrap_interval(conf, correct, n_boot=400, level=0.5)
    assert narrow["ece_hi"] - narrow["ece_lo"] < wide["ece_hi"] - wide["ece_lo"]


def test_summarize_matches_individual_metrics():
    out = summarize(CONF, CORRECT, n_boot=200, seed=3)
    assert set(out) == {
        "n",
        "accuracy",
        "accuracy_lo",
        "accuracy_hi",
        "ece",
        "ece_lo",
        "ece_hi",
        "mce",
        "adaptive_ece",
        "brier",
        "smece",
        "smece_lo",
        "smece_hi",
        "ece_em",
    }
    assert type(out["n"]) is int and out["n"] == 7
    assert all(type(v) is float for k, v in out.items() if k != "n")
    assert out["accuracy"] == pytest.approx(5 / 7)
    assert out["ece"] == pytest.approx(1.10 / 7)
    assert out["mce"] == pytest.approx(0.335)
    assert out["adaptive_ece"] == pytest.approx(2.16 / 7)
    assert out["brier"] == pytest.approx(1.2842 / 7)
    boot = bootstrap_interval(CONF, CORRECT, n_boot=200, seed=3)
    assert {k: out[k] for k in boot} == boot


ALL_METRICS = [
    expected_calibration_error,
    maximum_calibration_error,
    adaptive_calibration_error,
    brier_score,
    reliability_table,
]


@pytest.mark.parametrize("metric", ALL_METRICS)
@pytest.mark.parametrize(
    "confidence, correct, words",
    [
        ([0.5, np.nan, 0.2], [1, 0, 1], ["non-finite", "NaN"]),
        ([0.5, np.inf, 0.2], [1, 0, 1], ["non-finite", "inf"]),
        ([0.5, 1.5, -0.1], [1, 0, 1], ["[0, 1]", "2 value(s) outside", "1.5"]),
        ([0.5, 0.2, 0.1], [1, 0], ["length mismatch", "3", "2"]),
        ([], [], ["empty"]),
        ([0.5, 0.2], [1, 2], ["correct", "0/1", "2"]),
        ([0.5, 0.2], [1, 0.5], ["correct", "0/1", "0.5"]),
        ([0.5, 0.2], ["yes", "no"], ["correct", "0/1"]),
        ([[0.5, 0.2]], [[1, 0]], ["1-D"]),
    ],
)
def test_bad_inputs_raise(metric, confidence, correct, words):
    with pytest.raises(ValueError) as excinfo:
        metric(confidence, correct)
    for word in words:
        assert word in str(excinfo.value)


@pytest.mark.parametrize(
    "metric",
    [
        expected_calibration_error,
        maximum_calibration_error,
        adaptive_calibration_error,
        reliability_table,
    ],
)
@pytest.mark.parametrize("n_bins", [0, -3, 2.5])
def test_bad_n_bins_raises(metric, n_bins):
    with pytest.raises(ValueError, match="n_bins"):
        metric(CONF, CORRECT, n_bins=n_bins)


def test_bin_indices_validates():
    with pytest.raises(ValueError, match="n_bins"):
        bin_indices(CONF, 0)
    with pytest.raises(ValueError, match="outside"):
        bin_indices([1.2], 10)


def test_accuracy_validates():
    with pytest.raises(ValueError, match="empty"):
        accuracy([])
    with pytest.raises(ValueError, match="0/1"):
        accuracy([0, 3])


def test_bootstrap_validates_settings():
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_interval(CONF, CORRECT, n_boot=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval(CONF, CORRECT, level=1.0)


def test_results_are_plain_floats():
    for value in (
        expected_calibration_error(CONF, CORRECT),
        maximum_calibration_error(CONF, CORRECT),
        adaptive_calibration_error(CONF, CORRECT),
        brier_score(CONF, CORRECT),
        accuracy(CORRECT),
    ):
        assert type(value) is float and math.isfinite(value)
