"""Smooth ECE (smECE, Błasiok & Nakkiran 2023) and the HELM convention of equal-mass ECE.

smECE kernel-smooths the residuals (confidence - correctness) with a Gaussian reflected at 0 and 1 and
integrates their absolute value against the smoothed density of the confidences; the bandwidth sigma is
the fixed point sigma = smECE_sigma, found by bisection. This module follows the reference implementation
(`relplot.smECE`, relplot 1.0.3, its defaults: reflected Gaussian kernel, a 200-point evaluation mesh,
ten bisection steps, eps 0.001), so its numbers are comparable with papers that report it; a test checks
the two agree to 1e-6. Replicates of a bootstrap are rows of resampling counts (llmcal.stats), computed
together, each with its own bisection.
"""

from __future__ import annotations

import math

import numpy as np

MESH = 200  # relplot's config.smECE_mesh_pts
EPS = 0.001  # below this bandwidth the search stops
REFINE = 10  # bisection steps
DENSITY_EPS = 1e-4  # added to the smoothed density before dividing (relplot's smooth())


def _grid_points(sigma: float) -> int:
    return max(2000, round(20 / sigma)) // 2 + 1


def _to_grid(conf: np.ndarray, values: np.ndarray, n_grid: int) -> np.ndarray:
    """Linear assignment of each row's values at the confidences onto n_grid points: (R, n) -> (R, n_grid).

    Samples are grouped by grid cell once and each row summed per cell (np.add.reduceat), O(R n) in numpy.
    """
    pos = conf * (n_grid - 1)
    lo = pos.astype(int).clip(0, n_grid - 2)
    frac = pos - lo
    order = np.argsort(lo, kind="stable")
    lo, frac, values = lo[order], frac[order], values[:, order]
    starts = np.flatnonzero(np.r_[True, lo[1:] != lo[:-1]])
    cells = lo[starts]
    out = np.zeros((values.shape[0], n_grid))
    out[:, cells] += np.add.reduceat(values * (1 - frac), starts, axis=1)
    out[:, cells + 1] += np.add.reduceat(values * frac, starts, axis=1)
    return out


def _smooth(grid: np.ndarray, sigma: float) -> np.ndarray:
    """Convolve each row with the Gaussian on the same grid, reflecting the row at both ends."""
    n = grid.shape[1]
    t = np.linspace(0, 1, n)
    kernel = np.exp(-(t - 0.5) * (t - 0.5) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    ext = np.concatenate([grid[:, ::-1][:, :-1], grid, grid[:, ::-1][:, 1:]], axis=1)
    size = ext.shape[1] + n - 1
    fft_n = 1 << (size - 1).bit_length()
    full = np.fft.irfft(np.fft.rfft(ext, fft_n, axis=1) * np.fft.rfft(kernel, fft_n), fft_n, axis=1)[:, :size]
    # np.convolve(ext, kernel, "valid") starts at full index n-1; relplot keeps n points from n//2 into it.
    start = n - 1 + n // 2
    return full[:, start : start + n]


def _interpolate(t: np.ndarray, rows: np.ndarray) -> np.ndarray:
    n = rows.shape[1]
    step = 1 / (n - 1)
    idx = (t * (n - 1)).astype(int).clip(0, n - 2)
    frac = (t - idx * step) / step
    return rows[:, idx] * (1 - frac) + rows[:, idx + 1] * frac


class _Grids:
    """Each row's residuals and weights on the grid of a bandwidth, computed once per grid size.

    The grid has 1001 points for every bandwidth >= 0.01, so a whole bisection mostly reuses one.
    """

    def __init__(self, conf: np.ndarray, corr: np.ndarray, weights: np.ndarray):
        self.conf = conf
        self.rows = np.vstack([weights * (conf - corr), weights])
        self.n = weights.shape[0]
        self._cache: dict[int, np.ndarray] = {}

    def at(self, n_grid: int) -> np.ndarray:
        if n_grid not in self._cache:
            self._cache[n_grid] = _to_grid(self.conf, self.rows, n_grid)
        return self._cache[n_grid]


def _at_sigma(grids: _Grids, sel: np.ndarray, sigma: float) -> np.ndarray:
    """smECE at a fixed bandwidth of the rows sel."""
    grid = grids.at(_grid_points(sigma))
    t = np.linspace(0, 1, max(round(10 / sigma), MESH))
    both = _smooth(np.vstack([grid[sel], grid[grids.n + sel]]), sigma)
    ys = _interpolate(t, both[: len(sel)])
    dens = _interpolate(t, both[len(sel) :]) + DENSITY_EPS
    return np.sum(np.abs(ys / dens) * dens, axis=1) / np.sum(dens, axis=1)


def smooth_ece_rows(
    conf: np.ndarray, corr: np.ndarray, weights: np.ndarray, *, return_sigma: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """smECE of each row of sample weights (R, n) (ones for the point estimate, counts for bootstrap);
    with return_sigma, also each row's bandwidth."""
    weights = np.asarray(weights, dtype=np.float64)
    grids = _Grids(conf, corr, weights)
    rows = weights.shape[0]
    value = np.full(rows, np.nan)
    # search_param: sigma = 1 if it already satisfies sigma < smECE_sigma, else bisect (start, end) = (1, 0).
    at_one = _at_sigma(grids, np.arange(rows), 1.0)
    done = (1.0 < EPS) | (1.0 < at_one)
    value[done] = at_one[done]
    start = np.ones(rows)
    end = np.zeros(rows)
    start_value = at_one.copy()
    todo = np.flatnonzero(~done)
    for _ in range(REFINE):
        if len(todo) == 0:
            break
        mid = (start[todo] + end[todo]) / 2
        for m in np.unique(mid):
            sel = todo[mid == m]
            v = _at_sigma(grids, sel, float(m))
            ok = (m < EPS) | (m < v)
            end[sel[ok]] = m
            start[sel[~ok]] = m
            start_value[sel[~ok]] = v[~ok]
    value[todo] = start_value[todo]
    return (value, start) if return_sigma else value


def smooth_ece(conf: np.ndarray, corr: np.ndarray) -> float:
    """smECE of validated float arrays (see llmcal.calibration.smooth_calibration_error)."""
    return float(smooth_ece_rows(conf, corr, np.ones((1, len(conf))))[0])


def smooth_reliability_curve(
    conf: np.ndarray, corr: np.ndarray, mesh: int = MESH
) -> tuple[np.ndarray, np.ndarray, float]:
    """(t, E[correct | confidence = t], sigma): correctness kernel-smoothed at smECE's own bandwidth, on a mesh.

    The curve relplot's reliability diagrams draw (its KernelSmoother with the reflected Gaussian, no bagging).
    """
    ones = np.ones((1, len(conf)))
    _, sigma = smooth_ece_rows(conf, corr, ones, return_sigma=True)
    sigma = float(sigma[0])
    t = np.linspace(0, 1, mesh)
    # The residual slot of the grids carries correctness itself here: conf - (conf - corr) = corr.
    grids = _Grids(conf, conf - corr, ones)
    both = _smooth(grids.at(_grid_points(sigma)), sigma)
    ys = _interpolate(t, both[:1])[0]
    dens = _interpolate(t, both[1:])[0] + DENSITY_EPS
    return t, ys / dens, sigma


def equal_mass_ece(conf: np.ndarray, corr: np.ndarray, n_bins: int) -> float:
    """ECE over equal-mass bins as HELM computes `ece_10_bin` (verified_calibration's get_ece_em).

    The sorted confidences are split into n_bins runs as np.array_split does; a bin's upper boundary is
    the midpoint between its last confidence and the next run's first, the last is 1.0, duplicate
    boundaries are merged, and each confidence goes to the first bin whose boundary is >= it. Tied
    confidences therefore always share a bin (unlike adaptive_ece, which splits ties by position).
    """
    srt = np.sort(conf)
    parts = np.array_split(srt, min(n_bins, len(srt)))
    bounds = sorted({(a[-1] + b[0]) / 2.0 for a, b in zip(parts[:-1], parts[1:])} | {1.0})
    idx = np.searchsorted(np.asarray(bounds), conf, side="left")
    count = np.bincount(idx, minlength=len(bounds))
    gap = np.bincount(idx, weights=conf - corr, minlength=len(bounds))
    full = count > 0
    return float(np.sum(count[full] / len(conf) * np.abs(gap[full] / count[full])))
