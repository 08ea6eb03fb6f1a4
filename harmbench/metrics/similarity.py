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
from scipy import ndimage
from skimage.metrics import structural_similarity

from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.metrics.region import case_head_region, case_slice_frame, cut_slices, grow, zero_outside
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


#: skimage's SSIM constants (``K1``, ``K2`` defaults) and Gaussian truncation (``truncate``)
_K1, _K2, _TRUNCATE = 0.01, 0.03, 3.5


class SsimReference:
    """The reference (BL) side of SSIM maps, computed once and reused for every compared image.

    :meth:`map` gives exactly :func:`ssim_map` (``skimage.metrics.structural_similarity`` with the
    settings above, ``full=True``): the same Gaussian filters (``scipy.ndimage.gaussian_filter``,
    reflect mode, truncate 3.5) and the same float64 arithmetic in the same order, but the two
    filters of the reference (its mean and its mean square) run once instead of per image.

    Args:
        a: the reference array, 2-D or 3-D; with ``stacked`` an (N, H, W) stack of 2-D images
            whose slices are filtered independently (a zero-width filter along axis 0, which
            ``gaussian_filter`` skips), i.e. the per-slice 2-D SSIM of each slice.
        stacked: treat axis 0 as a stack of 2-D images.
    """

    def __init__(self, a: np.ndarray, *, stacked: bool = False) -> None:
        self.a = np.asarray(a, np.float64)
        self.sigma: float | tuple[float, ...] = (0.0, SSIM_SIGMA, SSIM_SIGMA) if stacked else SSIM_SIGMA
        self.ux = self._filter(self.a)
        uxx = self._filter(self.a * self.a)
        self.vx = 1.0 * (uxx - self.ux * self.ux)

    @staticmethod
    def fits(shape: tuple[int, ...], *, stacked: bool = False) -> bool:
        """True when skimage accepts the shape without the edge padding of :func:`ssim_map`."""
        return min(shape[1:] if stacked else shape) >= 2 * SSIM_RADIUS + 1

    def _filter(self, x: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(x, self.sigma, mode="reflect", cval=0.0, truncate=_TRUNCATE)

    def map(self, b: np.ndarray) -> np.ndarray:
        """The local SSIM map of the reference vs ``b`` (same shape), float64."""
        b64 = np.asarray(b, np.float64)
        ux = self.ux
        uy = self._filter(b64)
        uyy = self._filter(b64 * b64)
        uxy = self._filter(self.a * b64)
        vy = 1.0 * (uyy - uy * uy)
        vxy = 1.0 * (uxy - ux * uy)
        c1, c2 = (_K1 * DATA_RANGE) ** 2, (_K2 * DATA_RANGE) ** 2
        a1, a2, b1, b2 = (2 * ux * uy + c1, 2 * vxy + c2, ux**2 + uy**2 + c1, self.vx + vy + c2)
        return (a1 * a2) / (b1 * b2)


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


def _stack_map(ref: SsimReference | None, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-slice SSIM maps of (N, H, W) stacks: ``ref.map`` when given, else slice by slice."""
    if ref is not None:
        return ref.map(b)
    return np.stack([ssim_map(a[i], b[i]) for i in range(a.shape[0])]) if a.shape[0] else np.zeros(a.shape)


def _case_ssim_ref(ctx: ScoringContext, key: str, make) -> tuple:
    return ctx.shared.for_case(("ssim-ref", key), make)


def _volume_refs(ctx: ScoringContext) -> tuple:
    """BL side of the volume metrics, once per case: the head box, the masked and the box reference."""
    def make() -> tuple:
        mask, box = case_head_region(ctx)
        outer, inner = grow(box, SSIM_RADIUS, ctx.bl.shape)
        m = mask[outer]
        a = zero_outside(ctx.bl.data[outer], m)
        fits = SsimReference.fits(a.shape)
        raw = ctx.bl.data[outer]
        return (box, outer, inner, m, a, a[m], SsimReference(a) if fits else None,
                SsimReference(raw) if fits else None, ctx.bl.data[box])

    return _case_ssim_ref(ctx, "volume", make)


def _volume_pair(ctx: ScoringContext, img: np.ndarray, max_db: float, *,
                 box_too: bool) -> tuple[float, ...]:
    """:func:`volume_scores` of ``img`` with the head mask (and, with ``box_too``, over the box)."""
    box, outer, inner, m, a, a_m, ref_m, ref_b, bl_box = _volume_refs(ctx)
    b = zero_outside(img[outer], m)
    smap = ref_m.map(b) if ref_m is not None else ssim_map(a, b)
    out: tuple[float, ...] = (float(np.mean(smap[m])), psnr(a_m, b[m], max_db=max_db))
    if box_too:
        raw = img[outer]
        smap = ref_b.map(raw) if ref_b is not None else ssim_map(ctx.bl.data[outer], raw)
        out += (float(np.mean(smap[inner])), psnr(bl_box, img[box], max_db=max_db))
    return out


def _slice_refs(ctx: ScoringContext) -> tuple:
    """BL side of the slice metrics, once per case: frame, masked stack and both references."""
    def make() -> tuple:
        frame, bl = case_slice_frame(ctx, SSIM_RADIUS)
        a = zero_outside(bl, frame.mask)
        fits = SsimReference.fits(bl.shape, stacked=True) and bl.shape[0] > 0
        return (frame, bl, a, SsimReference(a, stacked=True) if fits else None,
                SsimReference(bl, stacked=True) if fits else None)

    return _case_ssim_ref(ctx, "slices", make)


def _slice_pair(ctx: ScoringContext, vol, max_db: float, *, box_too: bool) -> tuple[np.ndarray, ...]:
    """:func:`slice_scores` of ``vol`` with the head mask (and, with ``box_too``, over the box)."""
    frame, bl, a, ref_m, ref_b = _slice_refs(ctx)
    img = cut_slices(vol, frame)
    mask, inner = frame.mask, frame.inner
    n = bl.shape[0]
    b = zero_outside(img, mask)
    smap = _stack_map(ref_m, a, b)
    ss, pp = np.empty(n), np.empty(n)
    for i in range(n):
        m = mask[i]
        ss[i] = float(np.mean(smap[i][m]))
        pp[i] = psnr(a[i][m], b[i][m], max_db=max_db)
    if not box_too:
        return ss, pp
    smap = _stack_map(ref_b, bl, img)
    sb, pb = np.empty(n), np.empty(n)
    for i in range(n):
        sb[i] = float(np.mean(smap[i][inner]))
        pb[i] = psnr(bl[i][inner], img[i][inner], max_db=max_db)
    return ss, pp, sb, pb


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
        # = volume_scores with the head mask and over the box; the BL side is shared per case
        s, p, sb, pb = _volume_pair(ctx, ctx.fu.data, self.max_db, box_too=True)
        out = [MetricValue("ssim", "", s), MetricValue("psnr", "", p),
               MetricValue("ssim-box", "", sb), MetricValue("psnr-box", "", pb)]
        if ctx.recon is not None:
            require_same_grid(ctx.recon, ctx.bl, what_a="recon-image")
            s, p = _volume_pair(ctx, ctx.recon.data, self.max_db, box_too=False)
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
        # = slice_scores of kept_slices, with the per-slice maps of all slices at once and the BL
        # side shared per case
        s, p, sb, pb = _slice_pair(ctx, ctx.fu, self.max_db, box_too=True)
        out = [MetricValue("slice-ssim", "", _mean(s)), MetricValue("slice-psnr", "", _mean(p)),
               MetricValue("slice-ssim-box", "", _mean(sb)), MetricValue("slice-psnr-box", "", _mean(pb))]
        if ctx.recon is not None:
            s, p = _slice_pair(ctx, ctx.recon, self.max_db, box_too=False)
            out += [MetricValue("recon-slice-ssim", "", _mean(s)),
                    MetricValue("recon-slice-psnr", "", _mean(p))]
        return out
