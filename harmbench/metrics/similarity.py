"""SSIM and PSNR between BL and the scored image, volume-wise (Table 3) and slice-wise (Table 2).

Definitions (images are prepared, nominal range [0, 1]; values are *not* clipped, so an output
outside [0, 1] is penalised; region policy in :mod:`harmbench.metrics.region`):

* SSIM: Wang et al. 2004 via ``skimage.metrics.structural_similarity`` with ``data_range=1.0``,
  ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False`` (11-voxel window).
* Head-mask metrics (primary names ``ssim``, ``psnr``, ``slice-*``, ``recon-*``): voxels outside
  the BL head mask are set to 0 in both images; the SSIM map is computed on the mask's bounding
  box grown by the window radius (5 voxels) and averaged over the mask voxels; PSNR =
  10 log10(L² / MSE) with L = 1 and the MSE over the mask voxels. Images that differ only outside
  the BL head mask get identical values.
* Box metrics (secondary, paper-style ``ssim-box``, ``psnr-box``, ``slice-ssim-box``,
  ``slice-psnr-box``; no ``recon-`` variants): the unmasked images, SSIM map averaged and MSE taken
  over the whole bounding box of the BL head mask, air included.
* Identical images (MSE = 0) give the PSNR cap ``max_db`` (100 dB by default, i.e. MSE 1e-10)
  rather than infinity, so means stay finite.
* Slice-wise values are means over the kept, non-empty axial slices of the per-slice 2-D values
  (each slice with its own slice of the 3-D BL head mask).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from skimage.metrics import structural_similarity

from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.metrics.region import grow, head_region, kept_slices, zero_outside
from harmbench.volume import require_same_grid

DATA_RANGE = 1.0
SSIM_SIGMA = 1.5
#: half-width of skimage's Gaussian SSIM window for sigma 1.5 (win_size = 2 * int(3.5 * 1.5 + 0.5) + 1 = 11)
SSIM_RADIUS = 5
DEFAULT_MAX_DB = 100.0
#: region policies recorded in ``policy()`` (hence in the score cache key and runs.json)
HEAD_MASK_POLICY = "bl-head-mask"  # air outside the BL head mask zeroed in both images, mean over mask voxels
BOX_POLICY = "bl-head-box"  # *-box names: unmasked images over the BL head mask's bounding box


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
                  mask: np.ndarray | None = None, max_db: float = DEFAULT_MAX_DB) -> tuple[float, float]:
    """(SSIM, PSNR) of ``img`` vs ``bl`` (3-D arrays on the same grid).

    Args:
        bl: reference (BL) array.
        img: scored array, same shape.
        box: evaluation box (the bounding box of ``mask`` when a mask is given).
        mask: head mask (bool, same shape, all inside ``box``). Given: air outside it is zeroed in
            both arrays and SSIM / MSE are averaged over its voxels. None: over the whole box.
        max_db: PSNR cap in dB.
    """
    outer, inner = grow(box, SSIM_RADIUS, bl.shape)
    if mask is None:
        smap = ssim_map(bl[outer], img[outer])
        return float(np.mean(smap[inner])), psnr(bl[box], img[box], max_db=max_db)
    m = mask[outer]
    a, b = zero_outside(bl[outer], m), zero_outside(img[outer], m)
    return float(np.mean(ssim_map(a, b)[m])), psnr(a[m], b[m], max_db=max_db)


def slice_scores(bl: np.ndarray, img: np.ndarray, inner: tuple[slice, slice], *,
                 mask: np.ndarray | None = None,
                 max_db: float = DEFAULT_MAX_DB) -> tuple[np.ndarray, np.ndarray]:
    """Per-slice (SSIM, PSNR) of (N, H, W) stacks.

    Args:
        bl: reference (BL) slices, cropped with a margin around the box.
        img: scored slices, same shape.
        inner: in-plane box inside the crop (:class:`~harmbench.metrics.region.SliceStacks`).
        mask: (N, H, W) bool head mask (non-empty per slice, inside ``inner``). Given: air is
            zeroed in both stacks and each slice's SSIM / MSE are averaged over its mask pixels.
            None: over ``inner``.
        max_db: per-slice PSNR cap in dB.
    """
    n = bl.shape[0]
    ss, pp = np.empty(n), np.empty(n)
    for i in range(n):
        if mask is None:
            ss[i] = float(np.mean(ssim_map(bl[i], img[i])[inner]))
            pp[i] = psnr(bl[i][inner], img[i][inner], max_db=max_db)
            continue
        m = mask[i]
        a, b = zero_outside(bl[i], m), zero_outside(img[i], m)
        ss[i] = float(np.mean(ssim_map(a, b)[m]))
        pp[i] = psnr(a[m], b[m], max_db=max_db)
    return ss, pp


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if x.size else math.nan


class VolumeSimilarity(Metric):
    """Volume-wise SSIM and PSNR vs BL (paper Table 3), inside the BL head mask.

    Emits ``ssim`` and ``psnr`` (scored image vs BL, head-mask policy), the paper-style
    ``ssim-box`` and ``psnr-box`` (over the BL head bounding box, air included) and, when
    ``ctx.recon`` is set, ``recon-ssim`` and ``recon-psnr`` (BL vs BL->FU->BL, head mask).
    The region policies are recorded in :meth:`policy` (attributes ``region`` and ``box_region``).

    Args:
        max_db: PSNR cap in dB (value reported for identical images).
    """

    name = "similarity"
    kind = "similarity"
    higher_is_better = True
    description = ("volume SSIM / PSNR (dB, L=1) vs BL inside the BL head mask (air zeroed); "
                   "*-box: over the BL head bounding box")
    emits: ClassVar[dict[str, bool | None]] = {"ssim": True, "psnr": True, "ssim-box": True, "psnr-box": True,
                                               "recon-ssim": True, "recon-psnr": True}

    def __init__(self, *, max_db: float = DEFAULT_MAX_DB) -> None:
        self.max_db = max_db
        self.region = HEAD_MASK_POLICY
        self.box_region = BOX_POLICY

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        require_same_grid(ctx.fu, ctx.bl)
        mask, box = head_region(ctx.bl)
        s, p = volume_scores(ctx.bl.data, ctx.fu.data, box, mask=mask, max_db=self.max_db)
        sb, pb = volume_scores(ctx.bl.data, ctx.fu.data, box, max_db=self.max_db)
        out = [MetricValue("ssim", "", s), MetricValue("psnr", "", p),
               MetricValue("ssim-box", "", sb), MetricValue("psnr-box", "", pb)]
        if ctx.recon is not None:
            require_same_grid(ctx.recon, ctx.bl, what_a="recon-image")
            s, p = volume_scores(ctx.bl.data, ctx.recon.data, box, mask=mask, max_db=self.max_db)
            out += [MetricValue("recon-ssim", "", s), MetricValue("recon-psnr", "", p)]
        return out


class SliceSimilarity(Metric):
    """Slice-wise SSIM and PSNR vs BL, averaged over the kept axial slices (paper Table 2).

    Emits ``slice-ssim`` and ``slice-psnr`` (inside each slice's BL head mask), the paper-style
    ``slice-ssim-box`` and ``slice-psnr-box`` (over the in-plane head bounding box, air included)
    and, when ``ctx.recon`` is set, ``recon-slice-ssim`` and ``recon-slice-psnr`` (head mask).
    Slices with an empty BL head mask are skipped; NaN if no slice is kept. The region policies
    are recorded in :meth:`policy` (attributes ``region`` and ``box_region``).

    Args:
        max_db: per-slice PSNR cap in dB.
    """

    name = "slice-similarity"
    kind = "slice-similarity"
    higher_is_better = True
    description = ("mean over kept axial slices of 2-D SSIM / PSNR vs BL inside the BL head mask "
                   "(air zeroed); "
                   "*-box: over the head bounding box")
    emits: ClassVar[dict[str, bool | None]] = {"slice-ssim": True, "slice-psnr": True, "slice-ssim-box": True,
                                               "slice-psnr-box": True, "recon-slice-ssim": True,
                                               "recon-slice-psnr": True}

    def __init__(self, *, max_db: float = DEFAULT_MAX_DB) -> None:
        self.max_db = max_db
        self.region = HEAD_MASK_POLICY
        self.box_region = BOX_POLICY

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        require_same_grid(ctx.fu, ctx.bl)
        vols = (ctx.fu,) + ((ctx.recon,) if ctx.recon is not None else ())
        for v in vols[1:]:
            require_same_grid(v, ctx.bl, what_a="recon image")
        st = kept_slices(ctx.bl, vols, ctx.slice_range, pad=SSIM_RADIUS)
        s, p = slice_scores(st.bl, st.others[0], st.inner, mask=st.mask, max_db=self.max_db)
        sb, pb = slice_scores(st.bl, st.others[0], st.inner, max_db=self.max_db)
        out = [MetricValue("slice-ssim", "", _mean(s)), MetricValue("slice-psnr", "", _mean(p)),
               MetricValue("slice-ssim-box", "", _mean(sb)), MetricValue("slice-psnr-box", "", _mean(pb))]
        if ctx.recon is not None:
            s, p = slice_scores(st.bl, st.others[1], st.inner, mask=st.mask, max_db=self.max_db)
            out += [MetricValue("recon-slice-ssim", "", _mean(s)),
                    MetricValue("recon-slice-psnr", "", _mean(p))]
        return out
