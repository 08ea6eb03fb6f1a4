"""Axial slice extraction for 2-D (slice-wise) methods and metrics.

Slices are taken along the volume's true inferior-superior axis (from the affine) and
returned in a canonical in-plane orientation, so 2-D networks see consistent anatomy
whatever the on-disk axis order. :func:`stack_axial` is the exact inverse.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from harmbench.volume import Volume


def to_axial_stack(vol: Volume) -> np.ndarray:
    """Return an array (n_slices, H, W), slices ordered inferior -> superior."""
    ax = vol.axial_axis
    arr = np.moveaxis(vol.data, ax, 0)
    # order slices by world z (so "inferior first" regardless of storage direction)
    if vol.affine[2, ax] < 0:
        arr = arr[::-1]
    return np.ascontiguousarray(arr)


def from_axial_stack(stack: np.ndarray, like: Volume) -> np.ndarray:
    """Inverse of :func:`to_axial_stack`: back to ``like``'s voxel order."""
    ax = like.axial_axis
    arr = stack
    if like.affine[2, ax] < 0:
        arr = arr[::-1]
    return np.ascontiguousarray(np.moveaxis(arr, 0, ax))


def slice_indices_world(vol: Volume, slice_range: tuple[int, int] | None) -> range:
    """Indices into :func:`to_axial_stack` order for a manifest ``slice_range``.

    ``slice_range`` is given in voxel indices of the axial axis (storage order); this converts
    it to the inferior->superior order of the stack.
    """
    n = vol.shape[vol.axial_axis]
    if slice_range is None:
        return range(n)
    lo, hi = slice_range
    if vol.affine[2, vol.axial_axis] < 0:
        lo, hi = n - hi, n - lo
    return range(max(lo, 0), min(hi, n))


def paired_slices(pairs: Iterable[tuple[Volume, Volume, tuple[int, int] | None]]) -> tuple[np.ndarray, np.ndarray]:
    """Stack kept axial slices of (BL, FU, slice_range) pairs into two (N, H, W) float32 arrays."""
    a_list, b_list = [], []
    for bl, fu, rng in pairs:
        idx = list(slice_indices_world(bl, rng))
        a_list.append(to_axial_stack(bl)[idx])
        b_list.append(to_axial_stack(fu)[idx])
    if not a_list:
        return np.zeros((0, 1, 1), np.float32), np.zeros((0, 1, 1), np.float32)
    return np.concatenate(a_list).astype(np.float32), np.concatenate(b_list).astype(np.float32)
