"""The statistics every table and report of the study shares: one bootstrap, one interval, one rank correlation.

The metrics table (llmcal.metrics.summarize), the findings (llmcal.findings) and the diversity numbers
(llmcal.diversity) all resample the same way: `resample_chunks` draws, per replicate, how often each sample is
taken (a seeded numpy Generator, chunked so that memory does not grow with the number of replicates), and
`percentile_interval` reads the interval off the replicates. Models scored on the same items are resampled
together (a paired bootstrap: one draw of indices per replicate for all of them), which removes the item
difficulty they share from their comparison.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from llmcal.calibration import bin_indices, expected_calibration_error

__all__ = [
    "LEVEL",
    "TOL",
    "bootstrap_eces",
    "bootstrap_p",
    "check_level",
    "check_n_boot",
    "ece_accuracy_replicates",
    "paired_bootstrap_ece_diff",
    "percentile_interval",
    "rank_corr",
    "resample_chunks",
    "resample_counts",
    "spearman",
    "trend_from_replicates",
    "trend_test",
]

LEVEL = 0.95
# A bootstrap statistic must clear its threshold by more than floating-point noise:
# two identical models must never "differ" by 1e-17 in every replicate.
TOL = 1e-12
# Replicates x samples per chunk of resampling counts: 64 MB of float64 at a time.
_CHUNK_ELEMENTS = 1 << 23
# Above this, per-model bin matrices are rebuilt per chunk instead of kept.
_BIN_MATRIX_BUDGET = 1 << 28
# Resampled elements per chunk from which per-bin sums go through BLAS rather than bincount.
_BLAS_MIN_ELEMENTS = 1 << 21


def check_n_boot(n_boot) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    return int(n_boot)


def check_level(level) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    return float(level)


# resampling ---------------------------------------------------------------------------------------------------


def resample_counts(rng: np.random.Generator, n: int, r: int) -> np.ndarray:
    """How often each of n samples is drawn in each of r bootstrap replicates, as float64 (r, n)."""
    idx = rng.integers(0, n, size=(r, n))
    idx += (np.arange(r) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=r * n).reshape(r, n).astype(np.float64)


def _chunk(n: int) -> int:
    return max(1, _CHUNK_ELEMENTS // n)


def resample_chunks(rng: np.random.Generator, n: int, n_boot: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first replicate, resampling counts (r, n)) for n_boot replicates of n samples, a bounded chunk at a time.

    The replicates are the same whatever consumes them: one stream, drawn in the same chunks.
    """
    n_boot = check_n_boot(n_boot)
    chunk = _chunk(n)
    for start in range(0, n_boot, chunk):
        yield start, resample_counts(rng, n, min(chunk, n_boot - start))


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of the finite replicates (NaN, NaN when there are none)."""
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[np.isfinite(samples)]
    if len(samples) == 0:
        return math.nan, math.nan
    tail = (1 - check_level(level)) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_p(samples: np.ndarray, null: float = 0.0) -> float:
    """Two-sided bootstrap p-value: twice the smaller share of replicates on either side of the null.

    It is the level at which the percentile interval would just touch the null,
    with +1 in numerator and denominator so that it is never exactly 0.
    """
    samples = samples[np.isfinite(samples)]
    if len(samples) == 0:
        return math.nan
    side = min(np.sum(samples <= null + TOL), np.sum(samples >= null - TOL))
    return float(min(1.0, 2 * (side + 1) / (len(samples) + 1)))


# ECE and accuracy under resampling ----------------------------------------------------------------------------


def _bin_gap_matrix(bins: np.ndarray, gap: np.ndarray, n_bins: int) -> np.ndarray:
    """(n_bins, n): gap (correct - confidence) of sample i in the row of its bin, zero elsewhere."""
    out = np.zeros((n_bins, len(bins)))
    out[bins, np.arange(len(bins))] = gap
    return out


def _bin_sums_bincount(counts: np.ndarray, bins: np.ndarray, gap: np.ndarray, n_bins: int) -> np.ndarray:
    """(n_bins, r) per-bin sums of count * gap, without BLAS."""
    r = len(counts)
    keys = bins[None, :] + (np.arange(r) * n_bins)[:, None]
    sums = np.bincount(keys.ravel(), weights=(counts * gap).ravel(), minlength=r * n_bins)
    return sums.reshape(r, n_bins).T


def _replicates(
    confs: np.ndarray, corrs: np.ndarray, n_boot: int, rng: np.random.Generator, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """(n_boot, K) ECEs and accuracies of K models on the same resampled indices. confs, corrs: (K, n)."""
    k, n = confs.shape
    bins = [bin_indices(c, n_bins) for c in confs]
    gaps = corrs - confs
    # Below this size BLAS thread start-up (and, on a busy machine, thread contention) costs more
    # than the product saves; the choice depends on n and n_boot only, never on the other models.
    use_blas = n * min(_chunk(n), n_boot) >= _BLAS_MIN_ELEMENTS
    keep = use_blas and k * n_bins * n * 8 <= _BIN_MATRIX_BUDGET
    mats = [_bin_gap_matrix(bins[j], gaps[j], n_bins) for j in range(k)] if keep else None
    ece = np.empty((n_boot, k))
    acc = np.empty((n_boot, k))
    for start, counts in resample_chunks(rng, n, n_boot):
        r = len(counts)
        for j in range(k):
            if use_blas:
                mat = mats[j] if keep else _bin_gap_matrix(bins[j], gaps[j], n_bins)
                # (bins, n) @ (n, r) is OpenBLAS's fast layout here (the transposed product is ~40x slower),
                # and one call per model keeps a model's replicates independent of its company.
                per_bin = mat @ counts.T
            else:
                per_bin = _bin_sums_bincount(counts, bins[j], gaps[j], n_bins)
            ece[start : start + r, j] = np.abs(per_bin).sum(axis=0) / n
            acc[start : start + r, j] = counts @ corrs[j] / n
    return ece, acc


def _as_models(confidences, corrects) -> tuple[list[np.ndarray], list[np.ndarray]]:
    confs = [np.asarray(c, dtype=np.float64) for c in confidences]
    corrs = [np.asarray(c).astype(np.float64) for c in corrects]
    if len(confs) != len(corrs) or not confs:
        raise ValueError(f"need one correctness array per confidence array, got {len(confs)} and {len(corrs)}")
    for i, (c, y) in enumerate(zip(confs, corrs)):
        if c.ndim != 1 or c.shape != y.shape or len(c) == 0:
            raise ValueError(f"model {i}: confidence and correct must be non-empty 1-D arrays of equal length")
    return confs, corrs


def ece_accuracy_replicates(confidence, correct, n_boot: int, seed, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_boot,) bootstrap ECEs and accuracies of one model (the metrics table's intervals)."""
    confs, corrs = _as_models([confidence], [correct])
    ece, acc = _replicates(confs[0][None], corrs[0][None], check_n_boot(n_boot), np.random.default_rng(seed), n_bins)
    return ece[:, 0], acc[:, 0]


def bootstrap_eces(
    confidences, corrects, n_boot: int = 1000, seed=0, n_bins: int = 10, paired: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Point ECEs (K,) and bootstrap ECEs (n_boot, K) of K models.

    paired: the arrays are aligned by sample (row i is the same item for every
    model) and each replicate draws one set of indices for all models; otherwise
    each model is resampled on its own stream.
    """
    n_boot = check_n_boot(n_boot)
    confs, corrs = _as_models(confidences, corrects)
    point = np.array([expected_calibration_error(c, y, n_bins) for c, y in zip(confs, corrs)])
    if paired:
        lengths = {len(c) for c in confs}
        if len(lengths) != 1:
            raise ValueError(
                f"paired bootstrap needs aligned samples, got lengths {sorted(lengths)}; use llmcal.findings.align_many"
            )
        boot, _ = _replicates(np.vstack(confs), np.vstack(corrs), n_boot, np.random.default_rng(seed), n_bins)
    else:
        streams = np.random.SeedSequence(seed).spawn(len(confs))
        boot = np.column_stack(
            [
                _replicates(c[None], y[None], n_boot, np.random.default_rng(s), n_bins)[0][:, 0]
                for c, y, s in zip(confs, corrs, streams)
            ]
        )
    return point, boot


def paired_bootstrap_ece_diff(
    conf_a, corr_a, conf_b, corr_b, n_boot: int = 1000, seed=0, n_bins: int = 10, level: float = LEVEL
) -> dict:
    """ECE(b) - ECE(a) on aligned samples, with a paired percentile bootstrap interval and p-value.

    The caller aligns the samples (see `llmcal.findings.align`). p_value is `bootstrap_p`'s
    two-sided value; verdicts use the interval only.
    """
    point, boot = bootstrap_eces([conf_a, conf_b], [corr_a, corr_b], n_boot, seed, n_bins, paired=True)
    diffs = boot[:, 1] - boot[:, 0]
    lo, hi = percentile_interval(diffs, level)
    return {
        "diff": float(point[1] - point[0]),
        "lo": lo,
        "hi": hi,
        "p_value": bootstrap_p(diffs),
        "ece_a": float(point[0]),
        "ece_b": float(point[1]),
        "n": len(np.asarray(conf_a)),
    }


# rank correlation ---------------------------------------------------------------------------------------------


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks along the last axis, ties sharing their average rank (K x K comparisons: short series)."""
    v = np.asarray(values, dtype=np.float64)
    less = (v[..., None, :] < v[..., :, None]).sum(axis=-1)
    equal = (v[..., None, :] == v[..., :, None]).sum(axis=-1)
    return less + (equal + 1) / 2


def rank_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rho between matching rows of a and b (broadcast, last axis); NaN where a side is constant."""
    ra, rb = _average_ranks(a), _average_ranks(b)
    # Ranks are multiples of 1/2 and their mean is exactly (K+1)/2, so these sums are exact
    # and a perfectly monotonic series gives rho of exactly +1 or -1.
    mid = (ra.shape[-1] + 1) / 2
    da, db = ra - mid, rb - mid
    num = (da * db).sum(axis=-1)
    den = np.sqrt((da * da).sum(axis=-1) * (db * db).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def spearman(x, y) -> float:
    """Spearman's rank correlation with average ranks for ties (NaN if either series is constant)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
        raise ValueError(f"spearman needs two 1-D series of equal length >= 2, got {x.shape} and {y.shape}")
    return float(rank_corr(x, y))


def trend_test(
    x, confidences, corrects, n_boot: int = 1000, seed=0, n_bins: int = 10, paired: bool = True, level: float = LEVEL
) -> dict:
    """Spearman's rho between an ordered series x (scale rank, step, epoch) and the ECE of its models.

    The interval comes from resampling every model's samples (the same indices
    for all models when paired, see `bootstrap_eces`), recomputing the ECE
    series and its rho. Returns rho, lo, hi, p_value, and the ECE series.
    """
    x = np.asarray(x, dtype=np.float64)
    confs, corrs = _as_models(confidences, corrects)
    if x.ndim != 1 or len(x) != len(confs) or len(x) < 2:
        raise ValueError(f"trend_test needs one x per model and >= 2 models, got {len(x)} x for {len(confs)} models")
    point, boot = bootstrap_eces(confs, corrs, n_boot, seed, n_bins, paired)
    return trend_from_replicates(x, point, boot, level)


def trend_from_replicates(x: np.ndarray, point: np.ndarray, boot: np.ndarray, level: float = LEVEL) -> dict:
    """rho of x against the point series, with the interval and p-value of rho over the replicate series."""
    rhos = rank_corr(x, boot)
    lo, hi = percentile_interval(rhos, level)
    return {"rho": float(rank_corr(x, point)), "lo": lo, "hi": hi, "p_value": bootstrap_p(rhos), "ece": point.tolist()}
