"""Whole-volume harmonization with a 2-D generator.

The volume is cut into axial slices along its true inferior-superior axis (from the affine,
:func:`harmbench.slices.to_axial_stack`), mapped [0, 1] -> [-1, 1], padded with background to
a multiple of the generator's stride, translated in batches, cropped back, mapped to [0, 1]
and restacked in the input's voxel order; the affine is kept.

Slices outside the trained range (the top and bottom 10 % dropped at training) are harmonized
too: the generator is fully convolutional and does not know a slice's position, and leaving
them untouched would put a seam of FU-scanner contrast into the volume. Metrics that follow the
paper score only the kept range anyway.

Intensities stay in the prepared [0, 1] scale; mapping back to scanner units is the harness's
job (the manifest's ``scale_lo`` / ``scale_hi``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from harmbench.slices import from_axial_stack, to_axial_stack
from harmbench.volume import Volume
from harmbench_gan.data import pad_stack, to_signed, to_unit

Translator = Callable[[torch.Tensor], torch.Tensor]


def harmonize_stack(stack: np.ndarray, translate: Translator, *, stride: int, batch: int = 8) -> np.ndarray:
    """Translate an (N, H, W) stack in [0, 1] slice by slice; returns (N, H, W) float32 in [0, 1].

    Args:
        stack: axial slices in [0, 1].
        translate: maps (B, 1, H', W') in [-1, 1] to the same shape (a generator in eval mode).
        stride: the generator's size multiple (padding target).
        batch: slices per forward pass.
    """
    padded, (rows, cols) = pad_stack(to_signed(stack), stride)
    out = np.empty(stack.shape, np.float32)
    for s in range(0, len(padded), batch):
        x = torch.from_numpy(padded[s:s + batch])[:, None]
        y = translate(x)[:, 0].numpy()
        out[s:s + batch] = to_unit(y[:, rows, cols])
    return np.clip(out, 0.0, 1.0)


def harmonize_volume(vol: Volume, translate: Translator, *, stride: int, batch: int = 8) -> Volume:
    """Harmonize every axial slice of ``vol``; returns a float32 volume with ``vol``'s shape and affine."""
    stack = to_axial_stack(vol)
    out = harmonize_stack(stack, translate, stride=stride, batch=batch)
    return vol.with_data(from_axial_stack(out, vol))
