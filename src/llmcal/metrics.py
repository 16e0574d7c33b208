"""The metrics table: its `metrics:` section, and one row per (model, task) with bootstrap intervals.

The metrics themselves are llmcal.calibration's; the resampling is llmcal.stats', the same as the findings'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from llmcal import stats
from llmcal.calibration import _ace, _ece, _mce, _validate
from llmcal.sections import Section, setting
from llmcal.smooth_ece import equal_mass_ece, smooth_ece, smooth_ece_rows


@dataclass(frozen=True)
class MetricsConfig(Section):
    section: ClassVar[str] = "metrics"

    n_bins: int = setting(10, "equal-width confidence bins of ECE and the reliability diagrams (10 in the paper)")
    n_boot: int = setting(1000, "bootstrap replicates of each 95% interval")

    def __post_init__(self):
        for name in ("n_bins", "n_boot"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def _bootstrap(conf, corr, n_boot, seed, level, n_bins) -> dict:
    level = stats.check_level(level)
    ece, acc = stats.ece_accuracy_replicates(conf, corr, n_boot, seed, n_bins)
    ece_lo, ece_hi = stats.percentile_interval(ece, level)
    acc_lo, acc_hi = stats.percentile_interval(acc, level)
    return {"ece_lo": ece_lo, "ece_hi": ece_hi, "accuracy_lo": acc_lo, "accuracy_hi": acc_hi}


def smooth_ece_interval(conf, corr, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of smECE, on the same replicates as the ECE and accuracy intervals."""
    rng = np.random.default_rng(seed)
    reps = np.concatenate(
        [smooth_ece_rows(conf, corr, counts) for _, counts in stats.resample_chunks(rng, len(conf), n_boot)]
    )
    return stats.percentile_interval(reps, stats.check_level(level))


def bootstrap_interval(
    confidence, correct, n_boot: int = 1000, seed: int = 0, level: float = 0.95, n_bins: int = 10
) -> dict:
    """Percentile bootstrap intervals for ECE and accuracy (llmcal.stats: the resampling of the findings too).

    ECE is biased upwards under resampling, so for a nearly calibrated model the
    interval can lie entirely above the point estimate.
    """
    conf, corr = _validate(confidence, correct, n_bins)
    return _bootstrap(conf, corr, n_boot, seed, level, n_bins)


def summarize(confidence, correct, n_bins: int = 10, n_boot: int = 1000, seed: int = 0) -> dict:
    """All metrics for one (model, task), as plain Python numbers."""
    conf, corr = _validate(confidence, correct, n_bins)
    boot = _bootstrap(conf, corr, n_boot, seed, 0.95, n_bins)
    smece_lo, smece_hi = smooth_ece_interval(conf, corr, n_boot, seed)
    return {
        "n": len(conf),
        "accuracy": float(corr.mean()),
        "accuracy_lo": boot["accuracy_lo"],
        "accuracy_hi": boot["accuracy_hi"],
        "ece": _ece(conf, corr, n_bins),
        "ece_lo": boot["ece_lo"],
        "ece_hi": boot["ece_hi"],
        "mce": _mce(conf, corr, n_bins),
        "adaptive_ece": _ace(conf, corr, n_bins),
        "brier": float(np.mean((conf - corr) ** 2)),
        # Beyond the paper: smooth ECE (relplot's smECE) with its interval, and HELM's equal-mass ECE.
        "smece": smooth_ece(conf, corr),
        "smece_lo": smece_lo,
        "smece_hi": smece_hi,
        "ece_em": equal_mass_ece(conf, corr, n_bins),
    }


PER_SUBJECT_COLUMNS = ["model", "subject", "n", "accuracy", "accuracy_lo", "accuracy_hi", "ece", "ece_lo", "ece_hi"]


def per_group(confidence, correct, groups, n_bins: int = 10, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Accuracy and ECE with their 95% intervals for each group (e.g. MMLU subject), in sorted group order.

    Each group is resampled on its own (the same seed for every group, as summarize resamples each model).
    """
    conf, corr = _validate(confidence, correct, n_bins)
    groups = np.asarray(groups, dtype=object)
    if len(groups) != len(conf):
        raise ValueError(f"length mismatch: {len(conf)} samples, {len(groups)} group labels")
    missing = [i for i, g in enumerate(groups) if not isinstance(g, str) or not g]
    if missing:
        raise ValueError(f"{len(missing)} sample(s) have no group label, e.g. row {missing[0]}")
    rows = []
    for g in sorted(set(groups)):
        sel = groups == g
        c, y = conf[sel], corr[sel]
        boot = _bootstrap(c, y, n_boot, seed, 0.95, n_bins)
        rows.append(
            {
                "subject": g,
                "n": int(sel.sum()),
                "accuracy": float(y.mean()),
                "accuracy_lo": boot["accuracy_lo"],
                "accuracy_hi": boot["accuracy_hi"],
                "ece": _ece(c, y, n_bins),
                "ece_lo": boot["ece_lo"],
                "ece_hi": boot["ece_hi"],
            }
        )
    return rows
