"""SSIM and PSNR between BL and the scored image, volume-wise (Table 3) and slice-wise (Table 2).

Definitions (images are prepared, nominal range [0, 1]; values are *not* clipped, so an output
outside [0, 1] is penalised):

* SSIM: Wang et al. 2004 via ``skimage.metrics.structural_similarity`` with ``data_range=1.0``,
  ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False`` (11-voxel window). The SSIM
  map is computed on the evaluation box grown by the window radius (5 voxels) and averaged over
  the box itself (:mod:`harmbench.metrics.region`).
* PSNR = 10 log10(L² / MSE) with L = 1 over the same box. Identical images (MSE = 0) give the
  cap ``max_db`` (100 dB by default, i.e. MSE 1e-10) rather than infinity, so means stay finite.
* Slice-wise values are means over the kept, non-empty axial slices of the per-slice 2-D values.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from skimage.metrics import structural_similarity

from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.metrics.region import grow, head_box, kept_slices
from harmbench.volume import require_same_grid

DATA_RANGE = 1.0
SSIM_SIGMA = 1.5
#: half-width of skimage's Gaussian SSIM window for sigma 1.5 (win_size = 2 * int(3.5 * 1.5 + 0.5) + 1 = 11)
SSIM_RADIUS = 5
DEFAULT_MAX_DB = 100.0


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Local SSIM map of two equally shaped 2-D or 3-D arrays (Wang et al. settings, L = 1)."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if min(a64.shape) < 2 * SSIM_RADIUS + 1:
        # skimage needs the window to fit; pad with edge values so tiny inputs still work
        pad = [(0, max(2 * SSIM_RADIUS + 1 - n, 0)) for n in a64.shape]
        a64, b64 = np.pad(a64, pad, mode="edge"), np.pad(b64, pad, mode="edge")
        _, full = structural_similarity(a64, b64, data_range=DATA_RANGE, gaussian_weights=True,
                                        sigma=SSIM_SIGMA, use_sample_covariance=False, full=True)
        return full[tuple(slice(0, n) for n in a.shape)]
    _, full = structural_similarity(a64, b64, data_range=DATA_RANGE, gaussian_weights=True,
                                    sigma=SSIM_SIGMA, use_sample_covariance=False, full=True)
    return full


def psnr(a: np.ndarray, b: np.ndarray, *, max_db: float = DEFAULT_MAX_DB) -> float:
    """PSNR in dB with L = 1: ``10 log10(1 / MSE)``, capped at ``max_db`` (also for MSE = 0)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    if math.isnan(mse):
        return math.nan
    if mse <= 0.0:
        return float(max_db)
    return float(min(10.0 * math.log10(DATA_RANGE**2 / mse), max_db))


def volume_scores(bl: np.ndarray, img: np.ndarray, box: tuple[slice, ...], *,
                  max_db: float = DEFAULT_MAX_DB) -> tuple[float, float]:
    """(SSIM, PSNR) of ``img`` vs ``bl`` over ``box`` (3-D arrays on the same grid)."""
    outer, inner = grow(box, SSIM_RADIUS, bl.shape)
    smap = ssim_map(bl[outer], img[outer])
    return float(np.mean(smap[inner])), psnr(bl[box], img[box], max_db=max_db)


def slice_scores(bl: np.ndarray, img: np.ndarray, inner: tuple[slice, slice], *,
                 max_db: float = DEFAULT_MAX_DB) -> tuple[np.ndarray, np.ndarray]:
    """Per-slice (SSIM, PSNR) of (N, H, W) stacks; SSIM maps averaged over ``inner``."""
    n = bl.shape[0]
    ss, pp = np.empty(n), np.empty(n)
    for i in range(n):
        ss[i] = float(np.mean(ssim_map(bl[i], img[i])[inner]))
        pp[i] = psnr(bl[i][inner], img[i][inner], max_db=max_db)
    return ss, pp


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if x.size else math.nan


class VolumeSimilarity(Metric):
    """Volume-wise SSIM and PSNR vs BL (paper Table 3).

    Emits ``ssim`` and ``psnr`` (scored image vs BL) and, when ``ctx.recon`` is set,
    ``recon-ssim`` and ``recon-psnr`` (BL vs BL->FU->BL). Evaluated over the BL head bounding box.

    Args:
        max_db: PSNR cap in dB (value reported for identical images).
    """

    name = "similarity"
    kind = "similarity"
    higher_is_better = True
    description = "volume SSIM / PSNR (dB, L=1) vs BL over the BL head bounding box"
    emits: ClassVar[dict[str, bool | None]] = {"ssim": True, "psnr": True, "recon-ssim": True, "recon-psnr": True}

    def __init__(self, *, max_db: float = DEFAULT_MAX_DB) -> None:
        self.max_db = max_db

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        require_same_grid(ctx.fu, ctx.bl)
        box = head_box(ctx.bl)
        out = []
        pairs = [("", ctx.fu)] + ([("recon-", ctx.recon)] if ctx.recon is not None else [])
        for prefix, vol in pairs:
            require_same_grid(vol, ctx.bl, what_a=prefix + "image")
            s, p = volume_scores(ctx.bl.data, vol.data, box, max_db=self.max_db)
            out += [MetricValue(prefix + "ssim", "", s), MetricValue(prefix + "psnr", "", p)]
        return out


class SliceSimilarity(Metric):
    """Slice-wise SSIM and PSNR vs BL, averaged over the kept axial slices (paper Table 2).

    Emits ``slice-ssim`` and ``slice-psnr`` and, when ``ctx.recon`` is set, ``recon-slice-ssim``
    and ``recon-slice-psnr``. Slices with an empty BL head mask are skipped; each slice is cropped
    to the in-plane head bounding box. NaN if no slice is kept.

    Args:
        max_db: per-slice PSNR cap in dB.
    """

    name = "slice-similarity"
    kind = "slice-similarity"
    higher_is_better = True
    description = "mean over kept axial slices of 2-D SSIM / PSNR vs BL (head bounding box)"
    emits: ClassVar[dict[str, bool | None]] = {"slice-ssim": True, "slice-psnr": True, "recon-slice-ssim": True, "recon-slice-psnr": True}

    def __init__(self, *, max_db: float = DEFAULT_MAX_DB) -> None:
        self.max_db = max_db

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        require_same_grid(ctx.fu, ctx.bl)
        vols = (ctx.fu,) + ((ctx.recon,) if ctx.recon is not None else ())
        for v in vols[1:]:
            require_same_grid(v, ctx.bl, what_a="recon image")
        stacks = kept_slices(ctx.bl, vols, ctx.slice_range, pad=SSIM_RADIUS)
        out = []
        for prefix, img in zip(("", "recon-"), stacks.others):
            s, p = slice_scores(stacks.bl, img, stacks.inner, max_db=self.max_db)
            out += [MetricValue(prefix + "slice-ssim", "", _mean(s)),
                    MetricValue(prefix + "slice-psnr", "", _mean(p))]
        return out
