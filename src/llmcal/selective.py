"""Calibration beyond ECE: selective prediction and temperature scaling, per (model, task).

Beside the binned metrics of llmcal.calibration: how well confidence ranks the answers (the accuracy-coverage
curve and its area) and how much of the miscalibration a single temperature removes (fitted on a hashed half of
the samples, judged on the other). `calibration_extras` gives both for every row of the metrics table; the
findings report shows them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from llmcal.calibration import expected_calibration_error
from llmcal.data.mmlu_prompt import LETTERS

__all__ = [
    "EXTRA_COLUMNS",
    "calibration_extras",
    "fit_temperature",
    "fit_temperature_choices",
    "fit_temperature_grid",
    "holdout_mask",
    "selective_auc",
    "selective_curve",
]

# The bracket of the exact (MMLU) temperature search, on log T.
_LOG_T_RANGE = (math.log(0.05), math.log(20.0))


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
        dtype=bool,
        count=len(ids),
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


def fit_temperature(
    scores: pd.DataFrame,
    seed: int,
    n_bins: int = 10,
    grid=None,
    fit_fraction: float = 0.5,
    mask: np.ndarray | None = None,
) -> dict:
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
        raise ValueError(
            f"temperature scaling needs samples on both sides of the split, got {int(fit.sum())} "
            f"to fit and {int(held.sum())} held out"
        )
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

EXTRA_COLUMNS = [
    "model",
    "task",
    "n",
    "ece",
    "adaptive_ece",
    "ece_em",
    "smece",
    "smece_lo",
    "smece_hi",
    "ece_candidates",
    "brier",
    "selective_auc",
    "temperature",
    "ts_ece_before",
    "ts_ece_after",
    "note",
]


def calibration_extras(
    metrics: pd.DataFrame, load_scores: Callable[[str, str], pd.DataFrame], seed: int, n_bins: int = 10
) -> pd.DataFrame:
    """Per (model, task) of metrics: adaptive ECE, equal-mass ECE, smECE and Brier (from metrics), selective-prediction area
    (`selective_auc`) and temperature scaling (`fit_temperature`: T, held-out ECE before and after).

    Where scores cannot be read, or carry no temperature inputs, those columns
    are NaN and `note` says why.
    """
    masks: dict[tuple, np.ndarray] = {}
    records = []
    for row in metrics.itertuples(index=False):
        rec = {
            "model": row.model,
            "task": row.task,
            "n": row.n,
            "ece": row.ece,
            "adaptive_ece": getattr(row, "adaptive_ece", math.nan),
            **{k: getattr(row, k, math.nan) for k in ("ece_em", "smece", "smece_lo", "smece_hi", "ece_candidates")},
            "brier": getattr(row, "brier", math.nan),
            "selective_auc": math.nan,
            "temperature": math.nan,
            "ts_ece_before": math.nan,
            "ts_ece_after": math.nan,
            "note": "",
        }
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
