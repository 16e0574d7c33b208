"""Calibration metrics of Zhu et al. (2023), section 3, plus a few standard companions.

The metrics table's rows and their bootstrap intervals are in llmcal.metrics (built on llmcal.stats,
which builds on these).

Binning follows the paper exactly: M equal-width bins, bin m holds
(m-1)/M < p <= m/M, with p == 0 placed in the first bin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "accuracy",
    "adaptive_calibration_error",
    "bin_indices",
    "brier_score",
    "equal_mass_calibration_error",
    "expected_calibration_error",
    "maximum_calibration_error",
    "reliability_table",
    "smooth_calibration_error",
]


def _check_n_bins(n_bins) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    return int(n_bins)


def _as_1d(values, name: str, dtype=None) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=dtype))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != 1:
        # A 2-D input is most likely a full probability matrix; flattening it
        # would silently compute a meaningless metric.
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _validate(confidence=None, correct=None, n_bins=None):
    """Return (confidence, correct) as float64 1-D arrays (None where not given), or raise ValueError."""
    if n_bins is not None:
        _check_n_bins(n_bins)
    conf = corr = None
    if confidence is not None:
        conf = _as_1d(confidence, "confidence", dtype=np.float64)
    if correct is not None:
        raw = _as_1d(correct, "correct")
        if conf is not None and len(raw) != len(conf):
            raise ValueError(f"length mismatch: confidence has {len(conf)} values, correct has {len(raw)}")
        if raw.dtype != bool and not np.issubdtype(raw.dtype, np.number):
            raise ValueError(f"correct must be boolean or 0/1, got dtype {raw.dtype}")
        corr = raw.astype(np.float64)
        if raw.dtype != bool:
            bad = (corr != 0) & (corr != 1)
            if bad.any():
                raise ValueError(
                    f"correct must be boolean or 0/1: {int(bad.sum())} other value(s), e.g. {raw[bad][0]!r}"
                )
    if len(conf if conf is not None else corr) == 0:
        raise ValueError("empty input: no samples")
    # min/max is a cheap single pass; NaN propagates through it and fails the test.
    if conf is not None and not (conf.min() >= 0 and conf.max() <= 1):
        nonfinite = ~np.isfinite(conf)
        if nonfinite.any():
            raise ValueError(f"confidence contains {int(nonfinite.sum())} non-finite value(s) (NaN or inf)")
        outside = (conf < 0) | (conf > 1)
        if outside.any():
            raise ValueError(
                f"confidence must lie in [0, 1]: {int(outside.sum())} value(s) outside, e.g. {conf[outside][0]!r}"
            )
    return conf, corr


def _edges(n_bins: int) -> np.ndarray:
    # Dividing integers gives the correctly rounded m/M, the same double as the
    # literal (0.3 == 3/10), so edge values compare equal to their bin's upper edge.
    return np.arange(n_bins + 1) / n_bins


def _bins(conf: np.ndarray, n_bins: int) -> np.ndarray:
    # side='left' makes each bin closed on the right, as in the paper. Arithmetic on
    # p*M is not exact: floor(0.3*10) puts 0.3 in (0.3, 0.4], and ceil(0.07*100)
    # == 8 puts 0.07 in (0.07, 0.08], so compare against the edges themselves.
    idx = np.searchsorted(_edges(n_bins), conf, side="left") - 1
    return np.clip(idx, 0, n_bins - 1)


def _bin_sums(conf, corr, n_bins):
    """Per-bin count, sum of confidence, sum of correctness."""
    b = _bins(conf, n_bins)
    count = np.bincount(b, minlength=n_bins)
    conf_sum = np.bincount(b, weights=conf, minlength=n_bins)
    corr_sum = np.bincount(b, weights=corr, minlength=n_bins)
    return count, conf_sum, corr_sum


def _ece(conf, corr, n_bins) -> float:
    # |B_m|/N * |acc - conf| == |sum(correct - conf)| / N over B_m; empty bins add 0.
    gap_sum = np.bincount(_bins(conf, n_bins), weights=corr - conf, minlength=n_bins)
    return float(np.abs(gap_sum).sum() / len(conf))


def _mce(conf, corr, n_bins) -> float:
    count, conf_sum, corr_sum = _bin_sums(conf, corr, n_bins)
    full = count > 0
    return float(np.max(np.abs(corr_sum[full] - conf_sum[full]) / count[full]))


def _ace(conf, corr, n_bins) -> float:
    n = len(conf)
    k = min(n_bins, n)
    # Stable sort so tied confidences are split reproducibly.
    order = np.argsort(conf, kind="stable")
    # np.array_split sizes: the first n % k groups get one extra sample.
    sizes = np.full(k, n // k)
    sizes[: n % k] += 1
    group = np.repeat(np.arange(k), sizes)
    conf_sum = np.bincount(group, weights=conf[order], minlength=k)
    corr_sum = np.bincount(group, weights=corr[order], minlength=k)
    return float(np.abs(corr_sum - conf_sum).sum() / n)


def bin_indices(confidence, n_bins: int = 10) -> np.ndarray:
    """Zero-based bin of each confidence: bin m-1 holds (m-1)/M < p <= m/M, p == 0 in bin 0."""
    conf, _ = _validate(confidence, n_bins=n_bins)
    return _bins(conf, n_bins)


def expected_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """ECE = sum_m |B_m|/N * |acc(B_m) - conf(B_m)| over M equal-width bins."""
    conf, corr = _validate(confidence, correct, n_bins)
    return _ece(conf, corr, n_bins)


def maximum_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """Largest |acc(B_m) - conf(B_m)| over the non-empty bins."""
    conf, corr = _validate(confidence, correct, n_bins)
    return _mce(conf, corr, n_bins)


def adaptive_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """ECE over equal-mass bins (sorted by confidence, split as np.array_split does)."""
    conf, corr = _validate(confidence, correct, n_bins)
    return _ace(conf, corr, n_bins)


def equal_mass_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """ECE over equal-mass bins with HELM's boundaries (its `ece_10_bin`): see llmcal.smooth_ece.equal_mass_ece."""
    from llmcal.smooth_ece import equal_mass_ece

    conf, corr = _validate(confidence, correct, n_bins)
    return equal_mass_ece(conf, corr, n_bins)


def candidate_calibration_error(probs, hits, n_bins: int = 10) -> float:
    """ECE over every candidate answer's probability, pooled: the pairs (probs[i, j], hits[i, j]) of all rows i
    and candidates j, in the same equal-width bins as ECE.

    Top-label ECE checks the probability of the prediction only; this checks the probability the model gives
    each candidate, the target's included: among candidates given probability p, a share p should be the
    target. ``probs`` and ``hits`` are (n, K); ``hits[i, j]`` says whether candidate j of row i is its target
    (at most one per row). MMLU's candidates are its four options; causal LM's and facts' the ten most
    probable tokens (their probability of being the target is calibrated alike, the top ten being a function
    of the probabilities).
    """
    p = np.asarray(probs, dtype=np.float64)
    h = np.asarray(hits)
    if p.ndim != 2 or p.shape != h.shape:
        raise ValueError(f"probs and hits must both be (n, K), got shapes {p.shape} and {h.shape}")
    if h.dtype != bool:
        raise ValueError(f"hits must be booleans, got {h.dtype}")
    if (h.sum(axis=1) > 1).any():
        raise ValueError("a row has more than one candidate marked as its target")
    return expected_calibration_error(p.ravel(), h.ravel(), n_bins)


def smooth_calibration_error(confidence, correct) -> float:
    """Smooth ECE (Błasiok & Nakkiran 2023) with its self-chosen bandwidth, as relplot.smECE computes it."""
    from llmcal.smooth_ece import smooth_ece

    conf, corr = _validate(confidence, correct)
    return smooth_ece(conf, corr)


def brier_score(confidence, correct) -> float:
    """Mean squared difference between top-label confidence and correctness."""
    conf, corr = _validate(confidence, correct)
    return float(np.mean((conf - corr) ** 2))


def accuracy(correct) -> float:
    """Fraction of correct predictions."""
    _, corr = _validate(correct=correct)
    return float(corr.mean())


def reliability_table(confidence, correct, n_bins: int = 10) -> pd.DataFrame:
    """One row per bin (empty bins included, with NaN accuracy and confidence)."""
    conf, corr = _validate(confidence, correct, n_bins)
    count, conf_sum, corr_sum = _bin_sums(conf, corr, n_bins)
    edges = _edges(n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(count > 0, corr_sum / count, np.nan)
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": count.astype(int),
            "accuracy": acc,
            "confidence": mean_conf,
            "gap": acc - mean_conf,
        }
    )
