"""Network-side intensity scaling and padding of axial slice stacks (no torch).

Prepared volumes hold intensities in [0, 1]; the deep methods work in [-1, 1] (tanh range), with
the background value -1. Slices are padded, centred, with that background to a size the
network accepts (a multiple of its stride, or a fixed square), and cropped back afterwards.
"""

from __future__ import annotations

import numpy as np

from harmbench.errors import DataError

#: background value of a signed slice ([0, 1] intensity 0)
BACKGROUND = -1.0


def to_signed(x: np.ndarray) -> np.ndarray:
    """[0, 1] -> [-1, 1] (float32)."""
    return (np.asarray(x, np.float32) * 2.0 - 1.0).astype(np.float32, copy=False)


def to_unit(x: np.ndarray) -> np.ndarray:
    """[-1, 1] -> [0, 1] (float32)."""
    return ((np.asarray(x, np.float32) + 1.0) * 0.5).astype(np.float32, copy=False)


def pad_amounts(size: int, multiple: int) -> tuple[int, int]:
    """(before, after) padding that centres ``size`` in the next multiple of ``multiple``."""
    total = (-size) % multiple
    return total // 2, total - total // 2


def _round_up(v: int, m: int) -> int:
    return -(-v // m) * m


def padded_shape(h: int, w: int, multiple: int, *, min_size: int = 0, square: int | None = None) -> tuple[int, int]:
    """Network input size of an ``h`` x ``w`` slice.

    Args:
        h, w: slice size in pixels.
        multiple: the network's size multiple (its total stride).
        min_size: each side at least this (rounded up to ``multiple``), e.g. a training crop.
        square: a fixed ``square`` x ``square`` input instead (must hold the slice and be a
            multiple of ``multiple``).
    """
    if square is not None:
        if square % multiple:
            raise DataError(f"image size {square} must be a multiple of the network stride {multiple}")
        if h > square or w > square:
            raise DataError(f"axial slices are {h}x{w}; larger than the image size {square}")
        return square, square
    return (max(h + sum(pad_amounts(h, multiple)), _round_up(min_size, multiple)),
            max(w + sum(pad_amounts(w, multiple)), _round_up(min_size, multiple)))


def pad_stack(stack: np.ndarray, multiple: int, *, min_size: int = 0,
              square: int | None = None) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Pad signed (N, H, W) slices with :data:`BACKGROUND`, centred, to :func:`padded_shape`.

    Returns:
        The padded float32 array and the (row, column) slices that crop it back.
    """
    n, h, w = stack.shape
    th, tw = padded_shape(h, w, multiple, min_size=min_size, square=square)
    ph, pw = (th - h) // 2, (tw - w) // 2
    out = np.full((n, th, tw), BACKGROUND, np.float32)
    out[:, ph:ph + h, pw:pw + w] = stack
    return out, (slice(ph, ph + h), slice(pw, pw + w))


def concat_stacks(stacks: list[np.ndarray], label: str) -> np.ndarray:
    """Concatenate (n_i, H, W) slice stacks of several images; all must share (H, W)."""
    shapes = sorted({tuple(s.shape[1:]) for s in stacks})
    if len(shapes) > 1:
        raise DataError(f"{label}cases have different axial slice shapes {shapes}; prepare the dataset first")
    return np.concatenate(stacks)


class SliceSet:
    """Base of the training slice containers (dataclasses of arrays with slices on axis 0)."""

    def __len__(self) -> int:
        return int(next(iter(vars(self).values())).shape[0])
