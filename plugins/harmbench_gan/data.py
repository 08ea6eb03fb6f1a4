"""Paired axial slices for 2-D GAN training, with seeded sampling.

Slices come from prepared volumes ([0, 1] intensities, FU registered to BL), along the true
axial axis and only inside each case's kept slice range (the manifest's 10–90 % cut), via
:mod:`harmbench.slices`. Intensities are mapped [0, 1] -> [-1, 1] and every slice is padded
with the background value (-1) to a multiple of the network stride, centred.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from harmbench.cohort import Case
from harmbench.errors import DataError
from harmbench.slices import paired_slices

BACKGROUND = -1.0


def to_signed(x: np.ndarray) -> np.ndarray:
    """[0, 1] -> [-1, 1]."""
    return (np.asarray(x, np.float32) * 2.0 - 1.0).astype(np.float32, copy=False)


def to_unit(x: np.ndarray) -> np.ndarray:
    """[-1, 1] -> [0, 1]."""
    return ((np.asarray(x, np.float32) + 1.0) * 0.5).astype(np.float32, copy=False)


def pad_amounts(size: int, multiple: int) -> tuple[int, int]:
    """(before, after) padding that centres ``size`` in the next multiple of ``multiple``."""
    total = (-size) % multiple
    return total // 2, total - total // 2


def pad_stack(stack: np.ndarray, multiple: int, *, min_size: int = 0) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Pad (N, H, W) with ``BACKGROUND`` so H, W are multiples of ``multiple`` (and >= ``min_size``).

    Returns:
        The padded array and the (row, column) slices that crop it back.
    """
    n, h, w = stack.shape
    th = max(h + sum(pad_amounts(h, multiple)), _round_up(min_size, multiple))
    tw = max(w + sum(pad_amounts(w, multiple)), _round_up(min_size, multiple))
    ph, pw = (th - h) // 2, (tw - w) // 2
    out = np.full((n, th, tw), BACKGROUND, np.float32)
    out[:, ph:ph + h, pw:pw + w] = stack
    return out, (slice(ph, ph + h), slice(pw, pw + w))


def _round_up(v: int, m: int) -> int:
    return -(-v // m) * m


@dataclass
class PairedSlices:
    """Paired slices in [-1, 1], padded: ``bl`` and ``fu`` are (N, H, W) float32 arrays."""

    bl: np.ndarray
    fu: np.ndarray

    def __len__(self) -> int:
        return int(self.bl.shape[0])

    @classmethod
    def from_cases(cls, cases: Sequence[Case], *, multiple: int, min_size: int = 0) -> PairedSlices:
        """Load the kept axial slices of every case with BL and FU images."""
        usable = [c for c in cases if c.has("BL") and c.has("FU")]
        if not usable:
            raise DataError(f"no cases with both BL and FU among {len(cases)} case(s)")
        shapes = set()
        bls, fus = [], []
        for c in usable:
            bl, fu = c.volume("BL"), c.volume("FU")
            if bl.shape != fu.shape:
                raise DataError(f"case {c.case_id}: FU image has shape {fu.shape}; BL has {bl.shape}")
            a, b = paired_slices([(bl, fu, c.slice_range)])
            shapes.add(a.shape[1:])
            bls.append(a)
            fus.append(b)
        if len(shapes) > 1:
            raise DataError(f"cases have different axial slice shapes {sorted(shapes)}; prepare the dataset first")
        bl_all, _ = pad_stack(to_signed(np.concatenate(bls)), multiple, min_size=min_size)
        fu_all, _ = pad_stack(to_signed(np.concatenate(fus)), multiple, min_size=min_size)
        return cls(bl_all, fu_all)

    def subset(self, n: int) -> PairedSlices:
        """``n`` evenly spaced slices (all when ``n`` >= len or ``n`` <= 0)."""
        if n <= 0 or n >= len(self):
            return self
        idx = np.linspace(0, len(self) - 1, n).round().astype(int)
        return PairedSlices(self.bl[idx], self.fu[idx])


class PairSampler:
    """Seeded random mini-batches of paired slices, optional random crop and left-right flip.

    The batch for iteration ``it`` depends only on ``(seed, it)``, so a resumed run sees the
    same batches as an uninterrupted one.

    Args:
        data: training slices.
        batch_size: slices per batch.
        crop: square crop side in pixels (None = whole slices); same window for BL and FU.
        flip: random left-right flip (same for BL and FU).
        seed: base seed.
    """

    def __init__(self, data: PairedSlices, *, batch_size: int, crop: int | None, flip: bool, seed: int) -> None:
        if len(data) == 0:
            raise DataError("no training slices")
        h, w = data.bl.shape[1:]
        if crop is not None and (crop > h or crop > w):
            raise DataError(f"crop {crop} is larger than the padded slice size {(h, w)}")
        self.data, self.batch_size, self.crop, self.flip, self.seed = data, batch_size, crop, flip, seed

    def batch(self, it: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(BL, FU) tensors of shape (batch, 1, h, w) for iteration ``it``."""
        rng = np.random.default_rng([self.seed, it])
        n = len(self.data)
        idx = rng.choice(n, size=self.batch_size, replace=n < self.batch_size)
        a, b = self.data.bl[idx], self.data.fu[idx]
        if self.crop is not None:
            h, w = a.shape[1:]
            ys = rng.integers(0, h - self.crop + 1, size=len(idx))
            xs = rng.integers(0, w - self.crop + 1, size=len(idx))
            a = np.stack([s[y:y + self.crop, x:x + self.crop] for s, y, x in zip(a, ys, xs)])
            b = np.stack([s[y:y + self.crop, x:x + self.crop] for s, y, x in zip(b, ys, xs)])
        if self.flip:
            f = rng.random(len(idx)) < 0.5
            a = np.where(f[:, None, None], a[:, :, ::-1], a)
            b = np.where(f[:, None, None], b[:, :, ::-1], b)
        return (torch.from_numpy(np.ascontiguousarray(a, np.float32))[:, None],
                torch.from_numpy(np.ascontiguousarray(b, np.float32))[:, None])
