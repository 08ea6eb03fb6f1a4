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
    """Training slices in [-1, 1]: ``images`` (N, H, W) float32 and ``domains`` (N,) int64.

    ``partners`` (N,) int64, optional: for each slice, the index of the slice at the same position
    in the same case's image from another scanner (FU -> BL, BL and FU2 -> FU; -1: none). Built by
    :meth:`from_cases`; used by the sampler's ``paired_reference`` option.
    """

    images: np.ndarray
    domains: np.ndarray
    partners: np.ndarray | None = None

    @classmethod
    def from_cases(cls, cases: Sequence[Case], domains: Sequence[str], *, multiple: int,
                   image_size: int | None, sessions: Sequence[str] = ("BL", "FU", "FU2")) -> DomainSlices:
        """Kept axial slices of the given sessions of every case, labelled by scanner domain."""
        index = {d: i for i, d in enumerate(domains)}
        stacks, labels, partners, n = [], [], [], 0
        for c in cases:
            start: dict[str, tuple[int, int, int]] = {}   # session -> (first index, count, domain)
            for s in sessions:
                if not c.has(s):
                    continue
                vol = c.volume(s)
                idx = list(slice_indices_world(vol, c.slice_range))
                st = to_axial_stack(vol)[idx]
                stacks.append(to_signed(st))
                d = index[c.ref(s).scanner]
                labels.append(np.full(len(st), d, np.int64))
                start[s] = (n, len(st), d)
                n += len(st)
            for s, (i0, k, d) in start.items():
                # the first other session (in ``sessions`` order) from another scanner, same slice positions
                other = next((o for o in sessions
                              if o in start and start[o][2] != d and start[o][1] == k), None)
                partners.append(np.arange(start[other][0], start[other][0] + k) if other else np.full(k, -1))
        if not stacks:
            raise DataError("stgan: no training slices")
        images, _ = pad_stack(concat_stacks(stacks, "stgan: "), multiple, square=image_size)
        return cls(images, np.concatenate(labels), np.concatenate(partners).astype(np.int64))

    def sampler(self, *, batch_size: int, seed: int, crop: int | None = None,
                paired_reference: bool = False) -> DomainSampler:
        return DomainSampler(self, batch_size=batch_size, seed=seed, crop=crop,
                             paired_reference=paired_reference)


class DomainSampler:
    """Seeded batches: source images, and two reference images per sample from another scanner.

    The target domain of each sample is drawn among the scanners *other* than its source's (a
    harmonizer always translates across scanners; see :mod:`harmbench_stgan.model`). Every
    image gets a random left-right flip and, when ``crop`` is set, an independent random
    ``crop`` x ``crop`` window (the networks are fully convolutional / globally pooled, so they
    run on whole slices at inference). The draw for iteration ``it`` depends only on ``(seed, it)``.

    With ``paired_reference`` the first reference of a sample that has a partner (see
    :class:`DomainSlices`) is that partner — the same subject's slice at the same position from
    the other scanner, as at test time, where the style comes from the patient's own BL slice —
    and the target domain is the partner's; it gets the source's flip and crop window. The
    losses stay unpaired: the reference only supplies the style code.
    """

    def __init__(self, data: DomainSlices, *, batch_size: int, seed: int, crop: int | None = None,
                 paired_reference: bool = False) -> None:
        check_crop(crop, data.images.shape)
        if paired_reference and data.partners is None:
            raise DataError("stgan: paired references need slices built with their partners (from_cases)")
        self.data, self.batch_size, self.seed, self.crop = data, batch_size, seed, crop
        self.paired = paired_reference
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
        if self.paired:
            part = self.data.partners[src]
            has = part >= 0
            ref = np.where(has, part, ref)
            y_trg = np.where(has, self.data.domains[np.maximum(part, 0)], y_trg).astype(np.int64)
        ref2 = np.array([rng.choice(self.by_domain[d]) for d in y_trg])
        flip = rng.random(b) < 0.5  # left-right flips: brains are near-symmetric
        imgs = self.data.images
        windows = None  # paired references share the source's crop window
        if self.paired and self.crop is not None:
            windows = random_crops(rng, b, imgs.shape, self.crop)

        def take(ix: np.ndarray, same_window: bool = False) -> torch.Tensor:
            a = np.where(flip[:, None, None], imgs[ix][:, :, ::-1], imgs[ix])
            if self.crop is not None:
                corners = windows if same_window else random_crops(rng, len(ix), a.shape, self.crop)
                a = cut(a, *corners, self.crop)
            return as_batch(a)

        same = windows is not None
        return {"x": take(src, same), "y": torch.from_numpy(y), "x_ref": take(ref, same), "x_ref2": take(ref2),
                "y_trg": torch.from_numpy(y_trg)}
