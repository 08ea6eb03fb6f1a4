"""Where similarity metrics are evaluated: the BL head mask, its bounding box and the kept slices.

Mask policy (the same for every similarity metric, volume- and slice-wise, SSIM, PSNR and LPIPS):

* The evaluation region is the **BL head mask** (:func:`harmbench.masking.head_mask` of the
  prepared BL image, :func:`head_region`). It depends on BL only, so every method of a case is
  scored on exactly the same voxels. Voxels outside it (air) are set to 0 in *both* images before
  scoring (:func:`zero_outside`) and the SSIM map / squared error is averaged over mask voxels
  only, so two scored images that differ only in air get identical scores, and air (about half of
  the head bounding box) can neither inflate nor deflate them. The primary names (``ssim``,
  ``psnr``, ``slice-ssim``, ``slice-psnr``, ``slice-lpips`` and their ``recon-`` variants) use this
  policy (``region="bl-head-mask"`` in the metrics' ``policy()``).
* SSIM windows and LPIPS inputs stay rectangular: they are computed on the **bounding box of the
  BL head mask** (grown by the SSIM window radius for SSIM), with air zeroed.
* The secondary, paper-style ``*-box`` metrics (``ssim-box``, ``psnr-box``, ``slice-ssim-box``,
  ``slice-psnr-box``) average the unmasked images over the whole bounding box, air and the
  head/background edge included (``box_region="bl-head-box"``).
* Slice-wise metrics use the kept axial slices (``ctx.slice_range``, converted with
  :func:`harmbench.slices.slice_indices_world`), cropped in-plane to the same box, each with its
  own slice of the 3-D BL head mask; slices whose BL head mask is empty are skipped. Slices are in
  :func:`harmbench.slices.to_axial_stack` orientation.
* If the BL head mask is empty (constant image) the whole grid is the mask and the box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harmbench.masking import head_mask
from harmbench.slices import slice_indices_world, to_axial_stack
from harmbench.volume import Volume

if TYPE_CHECKING:
    from harmbench.metrics.base import ScoringContext


def bounding_box(mask: np.ndarray, *, pad: int = 0) -> tuple[slice, ...]:
    """Tight bounding box of a boolean mask, grown by ``pad`` voxels and clipped to the array.

    Returns the full array box when the mask is empty.
    """
    if not mask.any():
        return tuple(slice(0, s) for s in mask.shape)
    box = []
    for ax in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != ax)
        idx = np.flatnonzero(mask.any(axis=other))
        box.append(slice(max(int(idx[0]) - pad, 0), min(int(idx[-1]) + 1 + pad, mask.shape[ax])))
    return tuple(box)


def grow(box: tuple[slice, ...], pad: int, shape: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Grow ``box`` by ``pad`` (clipped to ``shape``).

    Returns:
        ``(outer, inner)``: the grown box in array coordinates, and the original box expressed in
        coordinates relative to ``outer`` (to average a map computed on the grown crop).
    """
    outer = tuple(slice(max(s.start - pad, 0), min(s.stop + pad, n)) for s, n in zip(box, shape))
    inner = tuple(slice(s.start - o.start, s.stop - o.start) for s, o in zip(box, outer))
    return outer, inner


@dataclass(frozen=True)
class SliceStacks:
    """Kept, cropped axial slices of BL and the compared images.

    Attributes:
        bl: (N, H, W) float32 BL slices.
        others: (N, H, W) float32 slices of each compared image, in the order given.
        index: (N,) indices of the slices in :func:`to_axial_stack` order.
        inner: in-plane head box relative to the (possibly padded) crop; ``bl[:, inner[0], inner[1]]``
            is the box region.
        mask: (N, H, W) bool BL head mask of the kept slices on the same crop (every slice
            non-empty, all inside ``inner``); None only for stacks built without one.
    """

    bl: np.ndarray
    others: tuple[np.ndarray, ...]
    index: np.ndarray
    inner: tuple[slice, slice]
    mask: np.ndarray | None = None


def head_box(bl: Volume) -> tuple[slice, slice, slice]:
    """Bounding box of the BL head mask, in voxel (array) order; the full grid if empty."""
    return bounding_box(head_mask(bl.data))  # type: ignore[return-value]


def head_region(bl: Volume, *, mask: np.ndarray | None = None) -> tuple[np.ndarray, tuple[slice, slice, slice]]:
    """The BL head mask and its bounding box (voxel order).

    Args:
        bl: the prepared BL volume.
        mask: ``head_mask(bl.data)`` when already computed (:func:`case_head_mask`), else None.

    Returns:
        ``(mask, box)``: bool mask of ``bl``'s shape (all True if the head mask is empty, i.e. a
        constant image) and its bounding box (the full grid in that case).
    """
    mask = head_mask(bl.data) if mask is None else mask
    if not mask.any():
        mask = np.ones(bl.shape, dtype=bool)
    return mask, bounding_box(mask)  # type: ignore[return-value]


def case_head_mask(ctx: ScoringContext) -> np.ndarray:
    """``head_mask(ctx.bl.data)``, computed once per case (:mod:`harmbench.metrics.shared`); read-only."""
    return ctx.shared.for_case("bl-head-mask", lambda: head_mask(ctx.bl.data))


def case_head_region(ctx: ScoringContext) -> tuple[np.ndarray, tuple[slice, slice, slice]]:
    """:func:`head_region` of ``ctx.bl``, computed once per case; the mask is read-only."""
    return ctx.shared.for_case("bl-head-region", lambda: head_region(ctx.bl, mask=case_head_mask(ctx)))


def zero_outside(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Copy of ``a`` (same dtype) with the voxels outside ``mask`` set to 0 (air)."""
    return np.where(mask, a, np.zeros((), dtype=a.dtype))


@dataclass(frozen=True)
class SliceFrame:
    """Which axial slices and which in-plane crop the slice-wise metrics use (BL only).

    Attributes:
        crop: ``(kept slice indices, rows, cols)`` index into :func:`to_axial_stack` order.
        index: (N,) kept slice indices.
        inner: the in-plane head box relative to the crop.
        mask: (N, H, W) bool BL head mask of the kept slices on the crop.
    """

    crop: tuple
    index: np.ndarray
    inner: tuple[slice, slice]
    mask: np.ndarray


def slice_frame(bl: Volume, slice_range: tuple[int, int] | None, *, pad: int = 0,
                mask: np.ndarray | None = None) -> SliceFrame:
    """The :class:`SliceFrame` of :func:`kept_slices` (``mask``: ``head_mask(bl.data)`` if known)."""
    mask = head_mask(bl.data) if mask is None else mask
    mstack = to_axial_stack(bl.with_data(mask.astype(np.float32))) > 0.5
    keep = np.array([i for i in slice_indices_world(bl, slice_range) if mstack[i].any()], dtype=int)
    # in-plane box from the 3-D head mask (same box for every slice of the case)
    plane = mstack.any(axis=0)
    outer, inner = grow(bounding_box(plane), pad, plane.shape)
    crop = (keep,) + outer
    return SliceFrame(crop, keep, inner, np.ascontiguousarray(mstack[crop]))  # type: ignore[arg-type]


def cut_slices(v: Volume, frame: SliceFrame) -> np.ndarray:
    """The kept, cropped axial slices of ``v`` (a volume on the BL grid): (N, H, W) float32."""
    return np.ascontiguousarray(to_axial_stack(v)[frame.crop], dtype=np.float32)


def case_slice_frame(ctx: ScoringContext, pad: int) -> tuple[SliceFrame, np.ndarray]:
    """:func:`slice_frame` of the case and the BL slices on it, computed once per case (read-only)."""
    def make() -> tuple[SliceFrame, np.ndarray]:
        frame = slice_frame(ctx.bl, ctx.slice_range, pad=pad, mask=case_head_mask(ctx))
        return frame, cut_slices(ctx.bl, frame)

    frame, bl = ctx.shared.for_case(("bl-slices", pad, ctx.slice_range), make)
    frame.mask.flags.writeable = False
    return frame, bl


def kept_slices(bl: Volume, others: tuple[Volume, ...], slice_range: tuple[int, int] | None,
                *, pad: int = 0) -> SliceStacks:
    """Axial slices of ``bl`` and ``others`` inside the evaluation region.

    Args:
        bl: prepared BL volume; defines the head box and which slices are non-empty.
        others: volumes on the BL grid (harmonized FU, reconstruction ...).
        slice_range: kept axial slices in storage order (``ctx.slice_range``), None = all.
        pad: in-plane margin (pixels) added around the head box, clipped to the slice; used by
            SSIM so the Gaussian window at the box edge sees real neighbours.

    Returns:
        :class:`SliceStacks` with slices ordered inferior -> superior; images are not masked
        (``mask`` holds the BL head mask of each kept slice).
    """
    frame = slice_frame(bl, slice_range, pad=pad)
    return SliceStacks(bl=cut_slices(bl, frame), others=tuple(cut_slices(o, frame) for o in others),
                       index=frame.index, inner=frame.inner, mask=frame.mask)
