"""Slice inference: harmonize a volume axial slice by axial slice, in batches.

The volume is cut into axial slices along its true inferior-superior axis (from the affine,
:func:`harmbench.slices.to_axial_stack`), mapped [0, 1] -> [-1, 1], padded with background to
the network's input size, translated in batches, cropped back, mapped to [0, 1] and restacked
in the input's voxel order; the affine is kept. A reference volume (the patient's BL, for
reference-guided models) is cut and padded the same way and handed to the translator slice for
slice.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from harmbench.errors import DataError
from harmbench.slices import from_axial_stack, to_axial_stack
from harmbench.training.scaling import pad_stack, to_signed, to_unit
from harmbench.volume import Volume

#: (B, 1, H, W) slices in [-1, 1] (and the matching reference slices, or None) -> same shape
Translator = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def harmonize_stack(stack: np.ndarray, translate: Translator, *, multiple: int, batch: int = 8,
                    square: int | None = None, reference: np.ndarray | None = None,
                    clip: tuple[float | None, float | None] = (0.0, 1.0)) -> np.ndarray:
    """Translate an (N, H, W) stack in [0, 1]; returns (N, H, W) float32 in [0, 1] (clipped to ``clip``).

    Args:
        stack: axial slices in [0, 1].
        translate: the network in eval mode (see :data:`Translator`).
        multiple: the network's size multiple (padding target).
        batch: slices per forward pass.
        square: pad to a fixed square size instead (see :func:`~harmbench.training.scaling.padded_shape`).
        reference: (N, H, W) reference slices in [0, 1], slice ``i`` for slice ``i`` (or None).
        clip: output bounds (None: open on that side).
    """
    if reference is not None and reference.shape != stack.shape:
        raise DataError(f"reference slices have shape {reference.shape}; the image has {stack.shape}")
    padded, (rows, cols) = pad_stack(to_signed(stack), multiple, square=square)
    ref = pad_stack(to_signed(reference), multiple, square=square)[0] if reference is not None else None
    out = np.empty(stack.shape, np.float32)
    for s in range(0, len(padded), batch):
        x = torch.from_numpy(padded[s:s + batch])[:, None]
        r = torch.from_numpy(ref[s:s + batch])[:, None] if ref is not None else None
        y = translate(x, r)[:, 0].numpy()
        out[s:s + batch] = to_unit(y[:, rows, cols])
    return np.clip(out, *clip)


def harmonize_volume(vol: Volume, translate: Translator, *, multiple: int, batch: int = 8,
                     square: int | None = None, reference: Volume | None = None,
                     clip: tuple[float | None, float | None] = (0.0, 1.0)) -> Volume:
    """Harmonize every axial slice of ``vol``; returns a float32 volume with ``vol``'s shape and affine."""
    ref = to_axial_stack(reference) if reference is not None else None
    out = harmonize_stack(to_axial_stack(vol), translate, multiple=multiple, batch=batch, square=square,
                          reference=ref, clip=clip)
    return vol.with_data(from_axial_stack(out, vol))
