"""The paper's findings (Zhu et al. 2023, section 1) as tests on this run's data, and the report.

Every finding is a claimed direction of a statistic (a rank correlation, a
difference of ECEs, a difference of ECE gains) whose uncertainty comes from a
bootstrap over the evaluation samples. The verdict is read off the interval:

* a comparison is *supported* when its 95% interval lies entirely on the
  claimed side of its threshold (0, or the non-inferiority margin for RLHF),
  *contradicted* when it lies entirely on the other side, *inconclusive*
  otherwise;
* a finding is *supported* when every primary comparison is supported,
  *contradicted* when any primary comparison is contradicted (the paper states
  its findings for every task), and *inconclusive* otherwise. Supplementary
  comparisons (other model families for F1, LoRA runs for F3, non-final RLHF
  epochs for F6) are reported but do not vote;
* a finding whose inputs the config does not describe, or whose scores or
  metrics rows are missing, is *not evaluated*, with the reason.

Bootstrap resampling is over samples, never over models: every model of a
comparison is scored on the same items, so one draw of sample indices is
applied to all of them (a paired bootstrap), which removes the item difficulty
shared by the models from the comparison. Different tasks have different
items and are resampled independently.

The alignment findings (F3-F6, F8) read the plan of the config's `alignment`
section (llmcal.alignment): the base model, each instruction-tuning run's
epochs, PPO's epochs and the model it starts from, and `rlhf_margin`, F6's
non-inferiority margin on ECE. A run counts as synthetic data for F4 when it
tunes on Alpaca. `_alignment_plan` is the one place that reads it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from llmcal.calibration import bin_indices, expected_calibration_error
from llmcal.data.mmlu_prompt import LETTERS

__all__ = [
    "FINDING_IDS",
    "Finding",
    "VERDICTS",
    "align",
    "align_many",
    "bootstrap_eces",
    "calibration_extras",
    "evaluate_findings",
    "fit_temperature",
    "fit_temperature_choices",
    "fit_temperature_grid",
    "holdout_mask",
    "judge",
    "paired_bootstrap_ece_diff",
    "render_markdown",
    "score_loader",
    "selective_auc",
    "selective_curve",
    "spearman",
    "trend_test",
    "write_report",
]

VERDICTS = ("supported", "contradicted", "inconclusive", "not evaluated")
FINDING_IDS = ("F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8")
LEVEL = 0.95
RLHF_MARGIN = 0.01
# A bootstrap statistic must clear its threshold by more than floating-point noise:
# two identical models must never "differ" by 1e-17 in every replicate.
_TOL = 1e-12
# Replicates x samples per chunk of resampling counts: 64 MB of float64 at a time.
_CHUNK_ELEMENTS = 1 << 23
# Above this, per-model bin matrices are rebuilt per chunk instead of kept.
_BIN_MATRIX_BUDGET = 1 << 28
# Resampled elements per chunk from which per-bin sums go through BLAS rather than bincount.
_BLAS_MIN_ELEMENTS = 1 << 21
# The bracket of the exact (MMLU) temperature search, on log T.
_LOG_T_RANGE = (math.log(0.05), math.log(20.0))

ROW_COLUMNS = [
    "comparison", "role", "task", "model",
    "ece", "ece_lo", "ece_hi", "accuracy", "accuracy_lo", "accuracy_hi",
    "statistic", "value", "lo", "hi", "p_value", "claim", "n_paired", "outcome",
]


# aligning samples ---------------------------------------------------------------------------------------------


def _check_ids(df: pd.DataFrame, name: str) -> None:
    if "id" not in df.columns:
        raise ValueError(f"{name}: no 'id' column to align samples on")
    dup = df["id"].duplicated()
    if dup.any():
        raise ValueError(f"{name}: sample id {df['id'][dup].iloc[0]!r} occurs more than once")


def align_many(frames: Sequence[pd.DataFrame], names: Sequence[str] | None = None) -> list[pd.DataFrame]:
    """The frames restricted to the ids they all share, rows in the same id order (the first frame's)."""
    if not frames:
        raise ValueError("align_many: no frames")
    names = list(names) if names is not None else [f"frame {i}" for i in range(len(frames))]
    for df, name in zip(frames, names):
        _check_ids(df, name)
    first = frames[0]["id"].to_numpy()
    if all(len(df) == len(first) and np.array_equal(df["id"].to_numpy(), first) for df in frames[1:]):
        return [df.reset_index(drop=True) for df in frames]
    common = pd.Index(first)
    for df in frames[1:]:
        common = common[common.isin(df["id"])]
    if len(common) == 0:
        raise ValueError(f"no sample id is shared by {', '.join(names)}: they were not scored on the same items")
    return [df.iloc[pd.Index(df["id"]).get_indexer(common)].reset_index(drop=True) for df in frames]


def align(df_a: pd.DataFrame, df_b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames on their shared ids, row i of each being the same sample."""
    a, b = align_many([df_a, df_b], ["df_a", "df_b"])
    return a, b


# the bootstrap ------------------------------------------------------------------------------------------------


def _check_n_boot(n_boot) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    return int(n_boot)


def _resample_counts(rng: np.random.Generator, n: int, r: int) -> np.ndarray:
    """How often each of n samples is drawn in each of r bootstrap replicates, as float64 (r, n)."""
    idx = rng.integers(0, n, size=(r, n))
    idx += (np.arange(r) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=r * n).reshape(r, n).astype(np.float64)


def _bin_gap_matrix(bins: np.ndarray, gap: np.ndarray, n_bins: int) -> np.ndarray:
    """(n_bins, n): gap (correct - confidence) of sample i in the row of its bin, zero elsewhere."""
    out = np.zeros((n_bins, len(bins)))
    out[bins, np.arange(len(bins))] = gap
    return out


def _bin_sums_bincount(counts: np.ndarray, bins: np.ndarray, gap: np.ndarray, n_bins: int) -> np.ndarray:
    """(n_bins, r) per-bin sums of count * gap, without BLAS."""
    r, n = counts.shape
    keys = bins[None, :] + (np.arange(r) * n_bins)[:, None]
    sums = np.bincount(keys.ravel(), weights=(counts * gap).ravel(), minlength=r * n_bins)
    return sums.reshape(r, n_bins).T


def _boot_paired(confs: np.ndarray, corrs: np.ndarray, n_boot: int, rng: np.random.Generator,
                 n_bins: int) -> np.ndarray:
    """(n_boot, K) ECEs of K models on the same resampled indices. confs, corrs: (K, n)."""
    k, n = confs.shape
    bins = [bin_indices(c, n_bins) for c in confs]
    gaps = corrs - confs
    chunk = max(1, _CHUNK_ELEMENTS // n)
    # Below this size BLAS thread start-up (and, on a busy machine, thread contention) costs more
    # than the product saves; the choice depends on n and n_boot only, never on the other models.
    use_blas = n * min(chunk, n_boot) >= _BLAS_MIN_ELEMENTS
    keep = use_blas and k * n_bins * n * 8 <= _BIN_MATRIX_BUDGET
    mats = [_bin_gap_matrix(bins[j], gaps[j], n_bins) for j in range(k)] if keep else None
    out = np.empty((n_boot, k))
    for start in range(0, n_boot, chunk):
        r = min(chunk, n_boot - start)
        counts = _resample_counts(rng, n, r)
        for j in range(k):
            if use_blas:
                mat = mats[j] if keep else _bin_gap_matrix(bins[j], gaps[j], n_bins)
                # (bins, n) @ (n, r) is OpenBLAS's fast layout here (the transposed product is ~40x slower),
                # and one call per model keeps a model's replicates independent of its company.
                per_bin = mat @ counts.T
            else:
                per_bin = _bin_sums_bincount(counts, bins[j], gaps[j], n_bins)
            out[start : start + r, j] = np.abs(per_bin).sum(axis=0) / n
    return out


def _as_models(confidences, corrects) -> tuple[list[np.ndarray], list[np.ndarray]]:
    confs = [np.asarray(c, dtype=np.float64) for c in confidences]
    corrs = [np.asarray(c).astype(np.float64) for c in corrects]
    if len(confs) != len(corrs) or not confs:
        raise ValueError(f"need one correctness array per confidence array, got {len(confs)} and {len(corrs)}")
    for i, (c, y) in enumerate(zip(confs, corrs)):
        if c.ndim != 1 or c.shape != y.shape or len(c) == 0:
            raise ValueError(f"model {i}: confidence and correct must be non-empty 1-D arrays of equal length")
    return confs, corrs


def bootstrap_eces(confidences, corrects, n_boot: int = 1000, seed: int = 0, n_bins: int = 10,
                   paired: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Point ECEs (K,) and bootstrap ECEs (n_boot, K) of K models.

    paired: the arrays are aligned by sample (row i is the same item for every
    model) and each replicate draws one set of indices for all models; otherwise
    each model is resampled on its own stream.
    """
    n_boot = _check_n_boot(n_boot)
    confs, corrs = _as_models(confidences, corrects)
    point = np.array([expected_calibration_error(c, y, n_bins) for c, y in zip(confs, corrs)])
    if paired:
        lengths = {len(c) for c in confs}
        if len(lengths) != 1:
            raise ValueError(f"paired bootstrap needs aligned samples, got lengths {sorted(lengths)}; use align_many")
        boot = _boot_paired(np.vstack(confs), np.vstack(corrs), n_boot, np.random.default_rng(seed), n_bins)
    else:
        streams = np.random.SeedSequence(seed).spawn(len(confs))
        boot = np.column_stack([
            _boot_paired(c[None], y[None], n_boot, np.random.default_rng(s), n_bins)[:, 0]
            for c, y, s in zip(confs, corrs, streams)
        ])
    return point, boot


def _interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if len(samples) == 0:
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def _bootstrap_p(samples: np.ndarray, null: float = 0.0) -> float:
    """Two-sided bootstrap p-value: twice the smaller share of replicates on either side of the null.

    It is the level at which the percentile interval would just touch the null,
    with +1 in numerator and denominator so that it is never exactly 0.
    """
    samples = samples[np.isfinite(samples)]
    if len(samples) == 0:
        return math.nan
    side = min(np.sum(samples <= null + _TOL), np.sum(samples >= null - _TOL))
    return float(min(1.0, 2 * (side + 1) / (len(samples) + 1)))


def paired_bootstrap_ece_diff(conf_a, corr_a, conf_b, corr_b, n_boot: int = 1000, seed: int = 0,
                              n_bins: int = 10, level: float = LEVEL) -> dict:
    """ECE(b) - ECE(a) on aligned samples, with a paired percentile bootstrap interval and p-value.

    The caller aligns the samples (see `align`). p_value is `_bootstrap_p`'s
    two-sided value; verdicts in this module use the interval only.
    """
    point, boot = bootstrap_eces([conf_a, conf_b], [corr_a, corr_b], n_boot, seed, n_bins, paired=True)
    diffs = boot[:, 1] - boot[:, 0]
    lo, hi = _interval(diffs, level)
    return {"diff": float(point[1] - point[0]), "lo": lo, "hi": hi, "p_value": _bootstrap_p(diffs),
            "ece_a": float(point[0]), "ece_b": float(point[1]), "n": len(np.asarray(conf_a))}


# rank correlation ---------------------------------------------------------------------------------------------


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks along the last axis, ties sharing their average rank (K x K comparisons: short series)."""
    v = np.asarray(values, dtype=np.float64)
    less = (v[..., None, :] < v[..., :, None]).sum(axis=-1)
    equal = (v[..., None, :] == v[..., :, None]).sum(axis=-1)
    return less + (equal + 1) / 2


def _rank_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
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
    return float(_rank_corr(x, y))


def trend_test(x, confidences, corrects, n_boot: int = 1000, seed: int = 0, n_bins: int = 10,
               paired: bool = True, level: float = LEVEL) -> dict:
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
    return _trend_from_boot(x, point, boot, level)


def _trend_from_boot(x: np.ndarray, point: np.ndarray, boot: np.ndarray, level: float = LEVEL) -> dict:
    rhos = _rank_corr(x, boot)
    lo, hi = _interval(rhos, level)
    return {"rho": float(_rank_corr(x, point)), "lo": lo, "hi": hi, "p_value": _bootstrap_p(rhos),
            "ece": point.tolist()}


# selective prediction -----------------------------------------------------------------------------------------


def _ranked_correct(confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    """Expected number correct among the k most confident, k = 1..n, and where tie groups end.

    Samples with equal confidence cannot be ordered by the model, so within a
    tie group the correct ones are spread evenly (the expectation over random
    tie-breaking); the curve does not depend on the input order.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    corr = np.asarray(correct).astype(np.float64)
    if conf.ndim != 1 or conf.shape != corr.shape or len(conf) == 0:
        raise ValueError("confidence and correct must be non-empty 1-D arrays of equal length")
    order = np.argsort(-conf, kind="stable")
    c, y = conf[order], corr[order]
    starts = np.r_[True, c[1:] != c[:-1]]
    group = np.cumsum(starts) - 1
    size = np.bincount(group)
    hits = np.bincount(group, weights=y)
    before = np.r_[0.0, np.cumsum(hits)[:-1]]
    k = np.arange(1, len(c) + 1)
    into_group = k - np.flatnonzero(starts)[group]
    expected = before[group] + into_group * (hits / size)[group]
    ends = np.r_[starts[1:], True]
    return expected, ends


def selective_curve(confidence, correct) -> pd.DataFrame:
    """Accuracy against coverage when the least confident samples are withheld first.

    One point per distinct confidence value: coverage is the fraction of
    samples at or above it, accuracy is theirs. The last point is coverage 1.
    """
    expected, ends = _ranked_correct(confidence, correct)
    k = np.arange(1, len(expected) + 1)[ends]
    return pd.DataFrame({"coverage": k / len(expected), "accuracy": expected[ends] / k})


def selective_auc(confidence, correct) -> float:
    """Area under the accuracy-coverage curve, higher is better.

    Defined as mean over k = 1..n of the accuracy of the k most confident
    samples (ties broken at random, in expectation): each sample adds a coverage
    step of 1/n. It is 1 - AURC (area under the risk-coverage curve); a
    confidence unrelated to correctness gives about the accuracy, a perfect
    ranking gives the most possible for that accuracy.
    """
    expected, _ = _ranked_correct(confidence, correct)
    return float(np.mean(expected / np.arange(1, len(expected) + 1)))


# temperature scaling ------------------------------------------------------------------------------------------


def holdout_mask(ids, seed: int, fit_fraction: float = 0.5) -> np.ndarray:
    """True for the samples temperature is fitted on: a hash of (seed, id), so every model gets the same split."""
    if not 0 < fit_fraction < 1:
        raise ValueError(f"fit_fraction must lie strictly between 0 and 1, got {fit_fraction!r}")
    cut = int(fit_fraction * 2**64)
    prefix = f"{seed}:".encode()
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(prefix + str(i).encode(), digest_size=8).digest(), "big") < cut for i in ids),
        dtype=bool, count=len(ids),
    )


def _nll(prob_of_target: np.ndarray) -> np.ndarray:
    return -np.log(np.maximum(prob_of_target, np.finfo(np.float64).tiny)).mean(axis=0)


def fit_temperature_grid(target_prob_t, grid) -> tuple[float, int, np.ndarray]:
    """The grid temperature minimising the target's NLL: (T, its index, NLL per grid point).

    target_prob_t: (n, G), the target token's probability at each temperature.
    """
    probs = np.asarray(target_prob_t, dtype=np.float64)
    grid = np.asarray(grid, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(grid):
        raise ValueError(f"target_prob_t must be (n, {len(grid)}) for the grid, got {probs.shape}")
    nll = _nll(probs)
    best = int(np.argmin(nll))
    return float(grid[best]), best, nll


def _choice_nll(log_p: np.ndarray, target: np.ndarray, temperature: float) -> float:
    z = log_p / temperature
    zmax = z.max(axis=1, keepdims=True)
    log_norm = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(z)), target]))


def _choice_softmax(log_p: np.ndarray, temperature: float) -> np.ndarray:
    z = log_p / temperature
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature_choices(probs, target, tol: float = 1e-6) -> float:
    """The temperature minimising the NLL of softmax(log p / T) at the target option.

    The NLL is convex in 1/T, hence unimodal in log T, so golden-section search
    on log T over [0.05, 20] finds the minimum to within tol (in log T).
    """
    log_p = np.log(np.maximum(np.asarray(probs, dtype=np.float64), np.finfo(np.float64).tiny))
    target = np.asarray(target, dtype=np.int64)
    if log_p.ndim != 2 or len(target) != len(log_p):
        raise ValueError(f"probs must be (n, options) with one target per row, got {log_p.shape}, {target.shape}")
    a, b = _LOG_T_RANGE
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _choice_nll(log_p, target, math.exp(c)), _choice_nll(log_p, target, math.exp(d))
    while b - a > tol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = _choice_nll(log_p, target, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = _choice_nll(log_p, target, math.exp(d))
    return float(math.exp((a + b) / 2))


def _temperature_grid() -> np.ndarray:
    from llmcal.scoring.engine import TEMPERATURE_GRID

    return np.asarray(TEMPERATURE_GRID, dtype=np.float64)


def _stack(column: pd.Series) -> np.ndarray:
    return np.stack([np.asarray(v, dtype=np.float64) for v in column])


def fit_temperature(scores: pd.DataFrame, seed: int, n_bins: int = 10, grid=None, fit_fraction: float = 0.5,
                    mask: np.ndarray | None = None) -> dict:
    """Temperature scaling fitted on one part of the samples, judged on the other.

    The split is `holdout_mask(scores.id, seed)` (or `mask`, True = fit). T
    minimises the NLL of the correct answer on the fit part: over the stored grid
    for clm/facts (columns conf_t, target_prob_t; grid defaults to the engine's
    TEMPERATURE_GRID), exactly for multiple choice (p_A..p_D and target, searched
    continuously). ECE before is that of the `confidence` column on the held-out
    part, ECE after that of the rescaled top-1 probability (the prediction is
    unchanged by T); at_bound says T is the edge of the grid or search bracket.
    With full-vocabulary MMLU confidences, "after" is also renormalised over
    the four options.
    """
    m = holdout_mask(scores["id"], seed, fit_fraction) if mask is None else np.asarray(mask, dtype=bool)
    fit, held = m, ~m
    if not fit.any() or not held.any():
        raise ValueError(f"temperature scaling needs samples on both sides of the split, got {int(fit.sum())} "
                         f"to fit and {int(held.sum())} held out")
    conf = scores["confidence"].to_numpy(dtype=np.float64)
    corr = scores["correct"].to_numpy().astype(np.float64)
    letters = [f"p_{x}" for x in LETTERS]
    if set(letters) <= set(scores.columns) and "target" in scores.columns:
        probs = scores[letters].to_numpy(dtype=np.float64)
        target = scores["target"].map({x: i for i, x in enumerate(LETTERS)})
        if target.isna().any():
            raise ValueError(f"target must be one of {LETTERS}")
        target = target.to_numpy(dtype=np.int64)
        t = fit_temperature_choices(probs[fit], target[fit])
        log_p = np.log(np.maximum(probs[held], np.finfo(np.float64).tiny))
        conf_after = _choice_softmax(log_p, t).max(axis=1)
        nll_before, nll_after = _choice_nll(log_p, target[held], 1.0), _choice_nll(log_p, target[held], t)
        at_bound = min(abs(math.log(t) - b) for b in _LOG_T_RANGE) < 1e-3
        method = "exact (golden-section on log T)"
    elif {"conf_t", "target_prob_t"} <= set(scores.columns):
        grid = _temperature_grid() if grid is None else np.asarray(grid, dtype=np.float64)
        tgt = _stack(scores["target_prob_t"])
        top = _stack(scores["conf_t"])
        t, best, _ = fit_temperature_grid(tgt[fit], grid)
        conf_after = top[held, best]
        one = int(np.argmin(np.abs(np.log(grid))))
        nll_held = _nll(tgt[held])
        nll_before, nll_after = float(nll_held[one]), float(nll_held[best])
        at_bound = best in (0, len(grid) - 1)
        method = f"grid ({len(grid)} temperatures, {grid[0]:g}-{grid[-1]:g})"
    else:
        raise ValueError("the scores have neither p_A..p_D and target nor conf_t and target_prob_t")
    return {
        "temperature": t,
        "ece_before": expected_calibration_error(conf[held], corr[held], n_bins),
        "ece_after": expected_calibration_error(np.clip(conf_after, 0, 1), corr[held], n_bins),
        "nll_before": nll_before,
        "nll_after": nll_after,
        "n_fit": int(fit.sum()),
        "n_eval": int(held.sum()),
        "at_bound": at_bound,
        "method": method,
    }


# beyond ECE ---------------------------------------------------------------------------------------------------

EXTRA_COLUMNS = ["model", "task", "n", "ece", "adaptive_ece", "brier", "selective_auc",
                 "temperature", "ts_ece_before", "ts_ece_after", "note"]


def calibration_extras(metrics: pd.DataFrame, load_scores: Callable[[str, str], pd.DataFrame], seed: int,
                       n_bins: int = 10) -> pd.DataFrame:
    """Per (model, task) of metrics: adaptive ECE and Brier (from metrics), selective-prediction area
    (`selective_auc`) and temperature scaling (`fit_temperature`: T, held-out ECE before and after).

    Where scores cannot be read, or carry no temperature inputs, those columns
    are NaN and `note` says why.
    """
    masks: dict[tuple, np.ndarray] = {}
    records = []
    for row in metrics.itertuples(index=False):
        rec = {"model": row.model, "task": row.task, "n": row.n, "ece": row.ece,
               "adaptive_ece": getattr(row, "adaptive_ece", math.nan), "brier": getattr(row, "brier", math.nan),
               "selective_auc": math.nan, "temperature": math.nan, "ts_ece_before": math.nan,
               "ts_ece_after": math.nan, "note": ""}
        try:
            scores = load_scores(row.model, row.task)
        except (OSError, KeyError, ValueError) as exc:
            rec["note"] = f"scores unavailable: {exc}"
            records.append(rec)
            continue
        rec["selective_auc"] = selective_auc(scores["confidence"].to_numpy(), scores["correct"].to_numpy())
        # Every model of a task shares the items, so the split is hashed once per task.
        key = (row.task, len(scores), str(scores["id"].iloc[0]), str(scores["id"].iloc[-1]))
        if key not in masks:
            masks[key] = holdout_mask(scores["id"], seed)
        try:
            ts = fit_temperature(scores, seed, n_bins, mask=masks[key])
            rec.update(temperature=ts["temperature"], ts_ece_before=ts["ece_before"], ts_ece_after=ts["ece_after"])
            if ts["at_bound"]:
                # A model near chance is best served by flattening its distribution without limit.
                rec["note"] = f"T at the edge of its search range ({ts['method']}): the optimum may lie beyond"
        except ValueError as exc:
            rec["note"] = f"no temperature scaling: {exc}"
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=EXTRA_COLUMNS)


# findings -----------------------------------------------------------------------------------------------------


@dataclass
class Finding:
    id: str
    claim: str
    comparison: str
    rows: pd.DataFrame
    test: str
    verdict: str
    reason: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"{self.id}: verdict {self.verdict!r} is not one of {VERDICTS}")


class _Missing(Exception):
    """An input a finding needs is absent: the finding is not evaluated."""


@dataclass
class _Stat:
    """One statistical comparison and the (task, model) pairs whose numbers it rests on."""

    label: str
    role: str  # "primary" votes on the verdict, "supplementary" is reported only
    statistic: str
    value: float
    lo: float
    hi: float
    p_value: float
    direction: int  # +1: the claim is statistic > threshold; -1: statistic < threshold
    members: list[tuple[str, str]]
    n_paired: int
    threshold: float = 0.0

    @property
    def claim(self) -> str:
        return f"{'>' if self.direction > 0 else '<'} {self.threshold:g}"

    @property
    def outcome(self) -> str:
        return judge(self.lo, self.hi, self.direction, self.threshold)


def judge(lo: float, hi: float, direction: int, threshold: float = 0.0) -> str:
    """supported / contradicted / inconclusive from an interval and the claimed side of a threshold."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive"
    above, below = lo > threshold + _TOL, hi < threshold - _TOL
    if (direction > 0 and above) or (direction < 0 and below):
        return "supported"
    if (direction > 0 and below) or (direction < 0 and above):
        return "contradicted"
    return "inconclusive"


def _derive_seed(seed: int, *labels) -> list[int]:
    """A seed per comparison that depends on what is compared, not on evaluation order."""
    digest = hashlib.blake2b(repr(labels).encode(), digest_size=8).digest()
    return [int(seed) & 0xFFFFFFFFFFFFFFFF, int.from_bytes(digest, "big")]


class _Inputs:
    """What the findings read, loaded once: metrics rows, aligned scores, bootstrap ECE series."""

    def __init__(self, study, metrics: pd.DataFrame, load_scores, n_boot: int, seed: int, n_bins: int):
        self.study = study
        self.load_scores = load_scores
        self.n_boot = _check_n_boot(n_boot)
        self.seed = seed
        self.n_bins = n_bins
        self.metrics = {(str(r["model"]), str(r["task"])): r for r in metrics.to_dict("records")}
        self._scores: dict[tuple[str, str], pd.DataFrame] = {}
        self._boot: dict[tuple, tuple[np.ndarray, np.ndarray, int]] = {}

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.study.tasks

    def metric(self, model: str, task: str) -> dict:
        try:
            return self.metrics[(model, task)]
        except KeyError:
            raise _Missing(f"metrics.csv has no row for {model} on {task}") from None

    def scores(self, model: str, task: str) -> pd.DataFrame:
        if (model, task) not in self._scores:
            try:
                df = self.load_scores(model, task)
            except (OSError, KeyError, ValueError) as exc:
                raise _Missing(f"no scores for {model} on {task}: {exc}") from None
            missing = {"id", "confidence", "correct"} - set(df.columns)
            if missing:
                raise _Missing(f"scores of {model} on {task} lack {sorted(missing)}")
            self._scores[(model, task)] = df[["id", "confidence", "correct"]]
        return self._scores[(model, task)]

    def boot(self, models: Sequence[str], task: str) -> tuple[np.ndarray, np.ndarray, int]:
        """Point and paired-bootstrap ECEs of models on task, and the number of shared samples."""
        key = (tuple(models), task)
        if key not in self._boot:
            for m in models:
                self.metric(m, task)
            frames = [self.scores(m, task) for m in models]
            try:
                aligned = align_many(frames, [f"{m} on {task}" for m in models])
            except ValueError as exc:
                raise _Missing(str(exc)) from None
            point, boot = bootstrap_eces([f["confidence"].to_numpy() for f in aligned],
                                         [f["correct"].to_numpy() for f in aligned], self.n_boot,
                                         _derive_seed(self.seed, "ece", task, *models), self.n_bins, paired=True)
            self._boot[key] = (point, boot, len(aligned[0]))
        return self._boot[key]

    def diff(self, a: str, b: str, task: str, label: str, role: str, direction: int,
             threshold: float = 0.0) -> _Stat:
        """ECE(b) - ECE(a), paired."""
        point, boot, n = self.boot((a, b), task)
        d = boot[:, 1] - boot[:, 0]
        lo, hi = _interval(d)
        return _Stat(label, role, "ECE difference", float(point[1] - point[0]), lo, hi, _bootstrap_p(d, threshold),
                     direction, [(task, a), (task, b)], n, threshold)

    def trend(self, x: Sequence[float], models: Sequence[str], task: str, label: str, role: str) -> _Stat:
        if len(models) < 3:
            raise _Missing(f"{label}: a trend needs at least 3 models, got {len(models)}")
        point, boot, n = self.boot(models, task)
        t = _trend_from_boot(np.asarray(x, dtype=np.float64), point, boot)
        return _Stat(label, role, "Spearman rho", t["rho"], t["lo"], t["hi"], t["p_value"], -1,
                     [(task, m) for m in models], n)


_EMPTY_ROWS = pd.DataFrame(columns=ROW_COLUMNS)
_METRIC_COLUMNS = ("ece", "ece_lo", "ece_hi", "accuracy", "accuracy_lo", "accuracy_hi")


def _rows(inputs: _Inputs, stats: list[_Stat]) -> pd.DataFrame:
    records = []
    for s in stats:
        for task, model in s.members:
            m = inputs.metric(model, task)
            records.append({
                "comparison": s.label, "role": s.role, "task": task, "model": model,
                **{k: m.get(k, math.nan) for k in _METRIC_COLUMNS},
                "statistic": s.statistic, "value": s.value, "lo": s.lo, "hi": s.hi, "p_value": s.p_value,
                "claim": s.claim, "n_paired": s.n_paired, "outcome": s.outcome,
            })
    return pd.DataFrame.from_records(records, columns=ROW_COLUMNS)


def _fmt_stat(s: _Stat) -> str:
    return f"{s.label} ({s.statistic} {s.value:+.4f} [{s.lo:+.4f}, {s.hi:+.4f}])"


def _verdict(stats: list[_Stat]) -> tuple[str, str]:
    primary = [s for s in stats if s.role == "primary"]
    if not primary:
        raise _Missing("no primary comparison could be formed")
    outcomes = [s.outcome for s in primary]
    n, n_sup = len(primary), outcomes.count("supported")
    against = [s for s in primary if s.outcome == "contradicted"]
    if against:
        return "contradicted", (f"contradicted by {len(against)} of {n} primary comparisons: "
                                + "; ".join(_fmt_stat(s) for s in against) + f"; {n_sup} supported")
    if n_sup == n:
        return "supported", f"all {n} primary comparisons supported"
    open_ = [s for s in primary if s.outcome == "inconclusive"]
    return "inconclusive", (f"{n_sup} of {n} primary comparisons supported, none contradicted; the interval "
                            "includes the threshold for: " + "; ".join(_fmt_stat(s) for s in open_))


@dataclass
class _Spec:
    id: str
    claim: str
    test: str
    build: Callable  # _Inputs -> (comparison text, list[_Stat], notes)


# pretraining (F1, F2, F7) -------------------------------------------------------------------------------------


def _scale_figures(study):
    scale = [f for f in study.figures if f.kind == "scale"]
    if not scale:
        raise _Missing("the config has no figure of kind 'scale'")
    main = next((f for f in scale if f.name == "fig3"), scale[0])
    return main, [f for f in scale if f is not main]


def _steps_figure(study):
    steps = [f for f in study.figures if f.kind == "steps"]
    if not steps:
        raise _Missing("the config has no figure of kind 'steps'")
    return steps[0]


def _steps_of(study, models) -> list[int]:
    return [study.models[m].step for m in models]


def _series_text(fig) -> str:
    return f"{fig.name} ({len(fig.models)} models, {fig.models[0]} to {fig.models[-1]})"


def _build_f1(inp: _Inputs):
    main, others = _scale_figures(inp.study)
    stats = [inp.trend(range(len(main.models)), main.models, t, f"{main.name} / {t}", "primary") for t in inp.tasks]
    notes = []
    for fig in others:
        for t in inp.tasks:
            try:
                stats.append(inp.trend(range(len(fig.models)), fig.models, t,
                                       f"{fig.name} {fig.title or ''} / {t}".replace("  ", " "), "supplementary"))
            except _Missing as exc:
                notes.append(f"{fig.name} / {t} skipped: {exc}")
    text = (f"ECE against scale rank over {_series_text(main)}, per task"
            + (f"; other families as supplementary rows ({', '.join(f.name for f in others)})" if others else ""))
    return text, stats, notes


def _build_f2(inp: _Inputs):
    fig = _steps_figure(inp.study)
    steps = _steps_of(inp.study, fig.models)
    stats = [inp.trend(steps, fig.models, t, f"{fig.name} / {t}", "primary") for t in inp.tasks]
    return f"ECE against training step over {_series_text(fig)}, steps {steps[0]} to {steps[-1]}, per task", stats, []


def _gain_stat(inp: _Inputs, fig, task: str, base_task: str) -> _Stat:
    """(ECE drop first -> last model on task) - (the same on base_task); tasks resampled independently."""
    ends = (fig.models[0], fig.models[-1])
    gains = {}
    for t in (task, base_task):
        point, boot, _ = inp.boot(fig.models, t)
        gains[t] = (point[0] - point[-1], boot[:, 0] - boot[:, -1])
    d = gains[task][1] - gains[base_task][1]
    lo, hi = _interval(d)
    n = min(inp.boot(fig.models, t)[2] for t in (task, base_task))
    return _Stat(f"{fig.name} / {task} vs {base_task}", "primary", "ECE-gain difference",
                 float(gains[task][0] - gains[base_task][0]), lo, hi, _bootstrap_p(d), +1,
                 [(t, m) for t in (base_task, task) for m in ends], n)


def _build_f7(inp: _Inputs):
    # Which task is the causal-LM reference and which ask for knowledge is each task's findings_role.
    study = inp.study
    roles = {role: [t for t in study.task_names if study.task(t).findings_role == role] for role in ("lm", "knowledge")}
    lm, knowledge = ([t for t in roles[r] if t in inp.tasks] for r in ("lm", "knowledge"))
    if not lm or not knowledge:
        raise _Missing(f"needs {' or '.join(roles['lm'])} and {' or '.join(roles['knowledge'])} among the tasks, "
                       f"got {list(inp.tasks)}")
    series = []
    for getter in (lambda s: _scale_figures(s)[0], _steps_figure):
        try:
            series.append(getter(inp.study))
        except _Missing:
            pass
    if not series:
        raise _Missing("the config has no scale or steps figure")
    stats = [_gain_stat(inp, fig, t, lm[0]) for fig in series for t in knowledge]
    text = ("ECE gain = ECE(first model) - ECE(last model) of " + " and ".join(_series_text(f) for f in series)
            + "; gain on facts / MMLU minus gain on CLM")
    return text, stats, []


# alignment (F3-F6, F8) ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    data: str
    method: str
    synthetic: bool
    models: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.data}/{self.method}"


@dataclass(frozen=True)
class _Rlhf:
    start: str
    models: tuple[str, ...]


@dataclass(frozen=True)
class _Alignment:
    base: str | None
    runs: tuple[_Run, ...]
    rlhf: tuple[_Rlhf, ...]
    margin: float
    models: tuple[str, ...] = field(default=())


def _alignment_plan(study) -> _Alignment:
    plan = study.alignment
    if plan is None:
        raise _Missing("the config has no `alignment` section (alignment-stage models are not in this run)")
    runs = tuple(_Run(r.data, r.method, r.synthetic, r.models) for r in plan.sft_runs)
    rlhf = (_Rlhf(plan.ppo_start_model(), plan.ppo.models),) if plan.ppo else ()
    ordered = (plan.base,) + tuple(m for r in plan.runs for m in r.models)
    return _Alignment(plan.base, runs, rlhf, plan.rlhf_margin, ordered)


def _build_f3(inp: _Inputs):
    plan = _alignment_plan(inp.study)
    if plan.base is None or not plan.runs:
        raise _Missing("alignment: needs base and at least one instruction_tuning run")
    # The paper's claim is about direct fine-tuning; LoRA runs are F5's subject and are reported alongside.
    full = [r for r in plan.runs if r.method == "full"] or list(plan.runs)
    stats = [inp.diff(plan.base, r.models[-1], t, f"{r.name} vs base / {t}",
                      "primary" if r in full else "supplementary", +1)
             for r in plan.runs for t in inp.tasks]
    return (f"ECE(instruction-tuned, final epoch) - ECE({plan.base}) per run and task; "
            f"primary: {', '.join(r.name for r in full)}"), stats, []


def _build_f4(inp: _Inputs):
    plan = _alignment_plan(inp.study)
    pairs = [(h, s) for s in plan.runs if s.synthetic for h in plan.runs
             if not h.synthetic and h.method == s.method]
    if not pairs:
        raise _Missing("alignment: needs a synthetic-data run (e.g. alpaca) and a human-data run (e.g. oa) "
                       "with the same method")
    stats = [inp.diff(h.models[-1], s.models[-1], t, f"{s.data} vs {h.data} ({s.method}) / {t}", "primary", +1)
             for h, s in pairs for t in inp.tasks]
    return "ECE(synthetic-data run) - ECE(human-data run), same method, final epochs, per task", stats, []


def _build_f5(inp: _Inputs):
    plan = _alignment_plan(inp.study)
    pairs = [(lo, fu) for fu in plan.runs if fu.method == "full" for lo in plan.runs
             if lo.method == "lora" and lo.data == fu.data]
    if not pairs:
        raise _Missing("alignment: needs a full and a lora instruction_tuning run on the same data")
    stats = [inp.diff(lo.models[-1], fu.models[-1], t, f"full vs lora ({fu.data}) / {t}", "primary", +1)
             for lo, fu in pairs for t in inp.tasks]
    return "ECE(full fine-tuning) - ECE(LoRA), same data, final epochs, per task", stats, []


def _build_f6(inp: _Inputs):
    plan = _alignment_plan(inp.study)
    if not plan.rlhf:
        raise _Missing("alignment: no rlhf run")
    stats = [inp.diff(r.start, m, t, f"{m} vs {r.start} / {t}", "primary" if m == r.models[-1] else "supplementary",
                      -1, plan.margin)
             for r in plan.rlhf for m in r.models for t in inp.tasks]
    return (f"ECE(after PPO) - ECE(its instruction-tuned start), per task; non-inferiority margin "
            f"{plan.margin:g}; primary: the final RLHF epoch"), stats, []


def _build_f8(inp: _Inputs):
    plan = _alignment_plan(inp.study)
    if len(plan.models) < 3 or len(inp.tasks) < 2:
        raise _Missing(f"needs >= 3 alignment models and >= 2 tasks, got {len(plan.models)} and {len(inp.tasks)}")
    stats = []
    for i, a in enumerate(inp.tasks):
        for b in inp.tasks[i + 1 :]:
            pa, ba, na = inp.boot(plan.models, a)
            pb, bb, nb = inp.boot(plan.models, b)
            rhos = _rank_corr(ba, bb)
            lo, hi = _interval(rhos)
            stats.append(_Stat(f"{a} ~ {b}", "primary", "Spearman rho", spearman(pa, pb), lo, hi,
                               _bootstrap_p(rhos), +1, [(t, m) for t in (a, b) for m in plan.models], min(na, nb)))
    return (f"rank correlation, across the {len(plan.models)} models of the alignment study (base, every "
            "instruction-tuning epoch, every RLHF epoch), between two tasks' ECEs"), stats, []


def _boot_text(what: str, n_boot: int) -> str:
    return f"{what}; 95% percentile interval from {n_boot} bootstrap resamples of the samples"


_SPECS = [
    _Spec("F1", "Larger parameter scales improve calibration (ECE falls as models grow).",
          "Spearman rho (scale rank vs ECE), paired over models", _build_f1),
    _Spec("F2", "Longer pretraining improves calibration (ECE falls over training steps).",
          "Spearman rho (training step vs ECE), paired over checkpoints", _build_f2),
    _Spec("F3", "Instruction tuning deteriorates calibration.", "paired ECE difference (tuned - base)", _build_f3),
    _Spec("F4", "Synthetic instruction data (Alpaca) harms calibration more than human-written data (OA).",
          "paired ECE difference (synthetic - human)", _build_f4),
    _Spec("F5", "Parameter-efficient tuning (LoRA) restrains the deterioration compared with full fine-tuning.",
          "paired ECE difference (full - LoRA)", _build_f5),
    _Spec("F6", "RLHF maintains calibration: no deterioration after PPO beyond a small margin.",
          "paired ECE difference (RLHF - start), non-inferiority", _build_f6),
    _Spec("F7", "In pretraining, calibration improves more on facts generation and MMLU than on causal LM.",
          "difference of ECE gains (first - last model), tasks resampled independently", _build_f7),
    _Spec("F8", "In alignment, calibration evolves consistently across tasks.",
          "Spearman rho between two tasks' ECE over the alignment models, tasks resampled independently",
          _build_f8),
]


def evaluate_findings(study_config: dict, metrics: pd.DataFrame, load_scores: Callable[[str, str], pd.DataFrame],
                      n_boot: int = 1000, seed: int = 0) -> list[Finding]:
    """The eight findings of section 1, in order, each with its numbers, test and verdict (see module doc).

    Missing inputs give "not evaluated" findings; a config that `Study` rejects raises its ConfigError.
    """
    from llmcal.study import Study

    study = Study(study_config)
    n_bins = int((study_config.get("metrics") or {}).get("n_bins", 10))
    inputs = _Inputs(study, metrics, load_scores, n_boot, seed, n_bins)
    findings = []
    for spec in _SPECS:
        test = _boot_text(spec.test, inputs.n_boot)
        try:
            comparison, stats, notes = spec.build(inputs)
            verdict, reason = _verdict(stats)
            rows = _rows(inputs, stats)
        except _Missing as exc:
            findings.append(Finding(spec.id, spec.claim, "", _EMPTY_ROWS.copy(), test, "not evaluated", str(exc)))
            continue
        if notes:
            reason += ". Not shown: " + "; ".join(notes)
        findings.append(Finding(spec.id, spec.claim, comparison, rows, test, verdict, reason))
    return findings


def score_loader(study_config: dict, columns: Sequence[str] | None = None) -> Callable[[str, str], pd.DataFrame]:
    """load_scores for a run on disk: the per-sample parquet file of (model, task)."""
    from llmcal.study import Study

    study = Study(study_config)

    def load(model: str, task: str) -> pd.DataFrame:
        return pd.read_parquet(study.score_file(task, model), columns=list(columns) if columns else None)

    return load


# the report ---------------------------------------------------------------------------------------------------


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _num(x, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _with_ci(value, lo, hi, digits: int = 4) -> str:
    return f"{_num(value, digits)} [{_num(lo, digits)}, {_num(hi, digits)}]"


def _model_table(rows: pd.DataFrame, metrics_index: dict) -> str:
    """Models down, tasks across: ECE and accuracy with their 95% intervals, taken from metrics."""
    tasks = list(dict.fromkeys(rows["task"]))
    models = list(dict.fromkeys(rows["model"]))
    present = set(zip(rows["model"], rows["task"]))
    fallback = {(r.model, r.task): r._asdict() for r in rows.itertuples(index=False)}
    body = []
    for m in models:
        line = [m]
        for t in tasks:
            if (m, t) not in present:
                line += ["", ""]
                continue
            r = metrics_index.get((m, t), fallback[(m, t)])
            line += [_with_ci(r["ece"], r["ece_lo"], r["ece_hi"]),
                     _with_ci(r["accuracy"], r["accuracy_lo"], r["accuracy_hi"])]
        body.append(line)
    header = ["model"] + [f"{h} {t}" for t in tasks for h in ("ECE", "accuracy")]
    return _table(header, body)


def _stat_table(rows: pd.DataFrame) -> str:
    stats = rows.drop_duplicates("comparison")
    body = [[r.comparison, r.role, r.statistic, _with_ci(r.value, r.lo, r.hi), _num(r.p_value, 3), r.claim,
             r.n_paired, r.outcome] for r in stats.itertuples(index=False)]
    return _table(["comparison", "role", "statistic", "value [95% CI]", "p (vs threshold)", "claim", "n paired",
                   "outcome"], body)


def _extras_table(extras: pd.DataFrame) -> str:
    body = [[r.model, r.task, r.n, _num(r.ece), _num(r.adaptive_ece), _num(r.brier), _num(r.selective_auc),
             _num(r.temperature, 3), _num(r.ts_ece_before), _num(r.ts_ece_after), r.note]
            for r in extras.itertuples(index=False)]
    return _table(["model", "task", "n", "ECE", "adaptive ECE", "Brier", "selective AUC", "T",
                   "ECE held-out before TS", "ECE after TS", "note"], body)


def render_markdown(findings: Sequence[Finding], extras: pd.DataFrame | None, metrics: pd.DataFrame) -> str:
    """The findings report: verdict summary, one section per finding, the extras table.

    ECE and accuracy (with intervals) are the metrics table's own numbers.
    """
    index = {(str(r["model"]), str(r["task"])): r for r in metrics.to_dict("records")}
    out = ["# Findings of Zhu et al. (2023) on this run", "",
           "Verdicts: a comparison is supported when its 95% bootstrap interval lies on the claimed side of its "
           "threshold, contradicted when it lies on the other side, inconclusive otherwise. A finding is supported "
           "when all its primary comparisons are, contradicted when any is; supplementary rows do not vote.", "",
           _table(["finding", "claim", "verdict", "reason"],
                  [[f.id, f.claim, f.verdict, f.reason] for f in findings]), ""]
    for f in findings:
        out += [f"## {f.id}: {f.claim}", "", f"**Verdict: {f.verdict}.** {f.reason}", ""]
        if f.comparison:
            out += [f"**Comparison.** {f.comparison}", ""]
        out += [f"**Test.** {f.test}", ""]
        if len(f.rows):
            out += [_model_table(f.rows, index), "", _stat_table(f.rows), ""]
    if extras is not None and len(extras):
        out += ["## Calibration beyond ECE", "",
                "Adaptive ECE and Brier from the metrics table. Selective AUC: mean accuracy of the k most "
                "confident samples over k = 1..n (1 - AURC). Temperature scaling: T minimises the NLL of the "
                "correct answer on a hashed half of the samples; ECE before and after on the other half.", "",
                _extras_table(extras), ""]
    return "\n".join(out)


def write_report(text: str, out_md) -> None:
    """Write the report whole or not at all."""
    from llmcal.fsio import atomic_text

    atomic_text(out_md, text)


def render_html(markdown_text: str, figures: Sequence[tuple[str, str]] = ()) -> str:
    """The report as one HTML page, each figure embedded from its PDF (paths relative to the page)."""
    import html

    import markdown as md

    body = md.markdown(markdown_text, extensions=["tables"])
    figs = "".join(
        f'<figure><object data="{html.escape(path)}" type="application/pdf" width="100%" height="640">'
        f'<a href="{html.escape(path)}">{html.escape(name)}</a></object>'
        f"<figcaption>{html.escape(name)}</figcaption></figure>"
        for name, path in figures
    )
    style = ("body{font-family:sans-serif;max-width:80em;margin:auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Findings</title><style>{style}</style>"
            f"</head><body>{body}<h2>Figures</h2>{figs}</body></html>")
