"""Paired axial slices for 2-D GAN training, with seeded sampling.

Slices come from prepared volumes ([0, 1] intensities, FU registered to BL), along the true
axial axis and only inside each case's kept slice range (the manifest's 10–90 % cut), via
:mod:`harmbench.slices`. Intensities are mapped [0, 1] -> [-1, 1] and every slice is padded
with the background value (-1) to a multiple of the network stride, centred
(:mod:`harmbench.training.scaling`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harmbench.data.cohort import Case
from harmbench.errors import DataError
from harmbench.masking import head_mask
from harmbench.slices import paired_slices
from harmbench.training.sampler import PairedSampler
from harmbench.training.scaling import SliceSet, concat_stacks, pad_stack, to_signed


@dataclass
class PairedSlices(SliceSet):
    """Paired slices in [-1, 1], padded: ``bl`` and ``fu`` are (N, H, W) float32 arrays; ``head``,
    when loaded, the (N, H, W) bool BL head mask (:func:`harmbench.masking.head_mask` of the
    volume, the leaderboard metrics' region; False in the padding)."""

    bl: np.ndarray
    fu: np.ndarray
    head: np.ndarray | None = None

    @classmethod
    def from_cases(cls, cases: Sequence[Case], *, multiple: int, min_size: int = 0,
                   head: bool = False) -> PairedSlices:
        """Load the kept axial slices of every case with BL and FU images (and the BL head mask)."""
        usable = [c for c in cases if c.has("BL") and c.has("FU")]
        if not usable:
            raise DataError(f"no cases with both BL and FU among {len(cases)} case(s)")
        bls, fus, heads = [], [], []
        for c in usable:
            bl, fu = c.volume("BL"), c.volume("FU")
            if bl.shape != fu.shape:
                raise DataError(f"case {c.case_id}: FU image has shape {fu.shape}; BL has {bl.shape}")
            a, b = paired_slices([(bl, fu, c.slice_range)])
            bls.append(a)
            fus.append(b)
            if head:
                heads.append(paired_slices([(bl, bl.with_data(head_mask(bl.data).astype(np.float32)),
                                             c.slice_range)])[1])
        bl_all, _ = pad_stack(to_signed(concat_stacks(bls, "")), multiple, min_size=min_size)
        fu_all, _ = pad_stack(to_signed(concat_stacks(fus, "")), multiple, min_size=min_size)
        head_all = pad_stack(to_signed(concat_stacks(heads, "")), multiple, min_size=min_size)[0] > 0 \
            if head else None
        return cls(bl_all, fu_all, head_all)

    def subset(self, n: int) -> PairedSlices:
        """``n`` evenly spaced slices (all when ``n`` >= len or ``n`` <= 0)."""
        if n <= 0 or n >= len(self):
            return self
        idx = np.linspace(0, len(self) - 1, n).round().astype(int)
        return PairedSlices(self.bl[idx], self.fu[idx], None if self.head is None else self.head[idx])

    def sampler(self, *, batch_size: int, crop: int | None, flip: bool, seed: int) -> PairedSampler:
        """Seeded (BL, FU) batches of these slices (:class:`harmbench.training.sampler.PairedSampler`)."""
        return PairedSampler(self.bl, self.fu, batch_size=batch_size, crop=crop, flip=flip, seed=seed)
