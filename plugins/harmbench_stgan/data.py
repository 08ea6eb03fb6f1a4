"""Scanner-labelled axial slices for multi-domain (StarGAN v2) training, and their sampler.

Every training image (BL, FU, FU2) contributes its kept axial slices (the case's slice range,
taken along the true axial axis by :mod:`harmbench.slices`), labelled with the domain index of
its scanner. Intensities go from [0, 1] to [-1, 1]; slices are padded (background -1), centred,
to a multiple of the network stride or to ``image_size`` (:mod:`harmbench.training.scaling`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from harmbench.data.cohort import Case
from harmbench.errors import DataError
from harmbench.slices import slice_indices_world, to_axial_stack
from harmbench.training.sampler import as_batch, check_crop, cut, iteration_rng, random_crops
from harmbench.training.scaling import SliceSet, concat_stacks, pad_stack, to_signed


@dataclass
class DomainSlices(SliceSet):
    """Training slices in [-1, 1]: ``images`` (N, H, W) float32 and ``domains`` (N,) int64."""

    images: np.ndarray
    domains: np.ndarray

    @classmethod
    def from_cases(cls, cases: Sequence[Case], domains: Sequence[str], *, multiple: int,
                   image_size: int | None, sessions: Sequence[str] = ("BL", "FU", "FU2")) -> DomainSlices:
        """Kept axial slices of the given sessions of every case, labelled by scanner domain."""
        index = {d: i for i, d in enumerate(domains)}
        stacks, labels = [], []
        for c in cases:
            for s in sessions:
                if not c.has(s):
                    continue
                vol = c.volume(s)
                idx = list(slice_indices_world(vol, c.slice_range))
                st = to_axial_stack(vol)[idx]
                stacks.append(to_signed(st))
                labels.append(np.full(len(st), index[c.ref(s).scanner], np.int64))
        if not stacks:
            raise DataError("stgan: no training slices")
        images, _ = pad_stack(concat_stacks(stacks, "stgan: "), multiple, square=image_size)
        return cls(images, np.concatenate(labels))

    def sampler(self, *, batch_size: int, seed: int, crop: int | None = None) -> DomainSampler:
        return DomainSampler(self, batch_size=batch_size, seed=seed, crop=crop)


class DomainSampler:
    """Seeded batches: source images, and two reference images per sample from another scanner.

    The target domain of each sample is drawn among the scanners *other* than its source's (a
    harmonizer always translates across scanners; see :mod:`harmbench_stgan.model`). Every
    image gets a random left-right flip and, when ``crop`` is set, an independent random
    ``crop`` x ``crop`` window (the networks are fully convolutional / globally pooled, so they
    run on whole slices at inference). The draw for iteration ``it`` depends only on ``(seed, it)``.
    """

    def __init__(self, data: DomainSlices, *, batch_size: int, seed: int, crop: int | None = None) -> None:
        check_crop(crop, data.images.shape)
        self.data, self.batch_size, self.seed, self.crop = data, batch_size, seed, crop
        self.by_domain = [np.flatnonzero(data.domains == d) for d in range(int(data.domains.max()) + 1)]
        present = [d for d, ix in enumerate(self.by_domain) if ix.size]
        if len(present) < 2:
            raise DataError(f"stgan: training needs slices of >= 2 scanners; got domains {present}")
        self.others = {d: [e for e in present if e != d] for d in present}

    def batch(self, it: int) -> dict[str, torch.Tensor]:
        """Tensors ``x`` (B,1,H,W), ``y`` (B,), ``x_ref``, ``x_ref2`` (B,1,H,W) and ``y_trg`` (B,)."""
        rng = iteration_rng(self.seed, it)
        n, b = len(self.data), self.batch_size
        src = rng.choice(n, size=b, replace=n < b)
        y = self.data.domains[src]
        y_trg = np.array([rng.choice(self.others[int(d)]) for d in y], np.int64)
        ref = np.array([rng.choice(self.by_domain[d]) for d in y_trg])
        ref2 = np.array([rng.choice(self.by_domain[d]) for d in y_trg])
        flip = rng.random(b) < 0.5  # left-right flips: brains are near-symmetric
        imgs = self.data.images

        def take(ix: np.ndarray) -> torch.Tensor:
            a = np.where(flip[:, None, None], imgs[ix][:, :, ::-1], imgs[ix])
            if self.crop is not None:
                a = cut(a, *random_crops(rng, len(ix), a.shape, self.crop), self.crop)
            return as_batch(a)

        return {"x": take(src), "y": torch.from_numpy(y), "x_ref": take(ref), "x_ref2": take(ref2),
                "y_trg": torch.from_numpy(y_trg)}
