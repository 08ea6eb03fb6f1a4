"""Scanner-labelled axial slices for multi-domain (StarGAN v2) training.

Every training image (BL, FU, FU2) contributes its kept axial slices (the case's slice range,
taken along the true axial axis by :mod:`harmbench.slices`), labelled with the domain index of
its scanner. Intensities go from [0, 1] to [-1, 1]; slices are zero-padded (background -1),
centred, to a multiple of the network stride.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from harmbench.cohort import Case
from harmbench.errors import DataError
from harmbench.slices import slice_indices_world, to_axial_stack

BACKGROUND = -1.0


def to_signed(x: np.ndarray) -> np.ndarray:
    """[0, 1] -> [-1, 1] (float32)."""
    return (np.asarray(x, np.float32) * 2.0 - 1.0).astype(np.float32, copy=False)


def to_unit(x: np.ndarray) -> np.ndarray:
    """[-1, 1] -> [0, 1] (float32)."""
    return ((np.asarray(x, np.float32) + 1.0) * 0.5).astype(np.float32, copy=False)


def padded_size(h: int, w: int, multiple: int, image_size: int | None) -> tuple[int, int]:
    """Network input size: ``image_size`` squared if given (must hold the slice), else the next multiple."""
    if image_size is not None:
        if image_size % multiple:
            raise DataError(f"stgan: image_size {image_size} must be a multiple of {multiple} (2**n_down)")
        if h > image_size or w > image_size:
            raise DataError(f"stgan: axial slices are {h}x{w}; larger than image_size {image_size}")
        return image_size, image_size
    return -(-h // multiple) * multiple, -(-w // multiple) * multiple


def pad(stack: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Centre (N, h, w) signed slices in (N, *size) filled with background; returns the crop-back slices."""
    n, h, w = stack.shape
    th, tw = size
    ph, pw = (th - h) // 2, (tw - w) // 2
    out = np.full((n, th, tw), BACKGROUND, np.float32)
    out[:, ph:ph + h, pw:pw + w] = stack
    return out, (slice(ph, ph + h), slice(pw, pw + w))


@dataclass
class DomainSlices:
    """Training slices in [-1, 1]: ``images`` (N, H, W) float32 and ``domains`` (N,) int64."""

    images: np.ndarray
    domains: np.ndarray

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @classmethod
    def from_cases(cls, cases: Sequence[Case], domains: Sequence[str], *, multiple: int,
                   image_size: int | None, sessions: Sequence[str] = ("BL", "FU", "FU2")) -> DomainSlices:
        """Kept axial slices of the given sessions of every case, labelled by scanner domain."""
        index = {d: i for i, d in enumerate(domains)}
        stacks, labels, shapes = [], [], set()
        for c in cases:
            for s in sessions:
                if not c.has(s):
                    continue
                vol = c.volume(s)
                idx = list(slice_indices_world(vol, c.slice_range))
                st = to_axial_stack(vol)[idx]
                shapes.add(st.shape[1:])
                stacks.append(to_signed(st))
                labels.append(np.full(len(st), index[c.ref(s).scanner], np.int64))
        if not stacks:
            raise DataError("stgan: no training slices")
        if len(shapes) > 1:
            raise DataError(f"stgan: cases have different axial slice shapes {sorted(shapes)}; "
                            f"prepare the dataset")
        h, w = next(iter(shapes))
        images, _ = pad(np.concatenate(stacks), padded_size(h, w, multiple, image_size))
        return cls(images, np.concatenate(labels))

    def sampler(self, *, batch_size: int, seed: int, crop: int | None = None) -> DomainSampler:
        return DomainSampler(self, batch_size=batch_size, seed=seed, crop=crop)


class DomainSampler:
    """Seeded batches: source images, and two reference images per sample from a random target domain.

    Every image gets a random left-right flip and, when ``crop`` is set, an independent random
    ``crop`` x ``crop`` window (the networks are fully convolutional / globally pooled, so they
    run on whole slices at inference). The draw for iteration ``it`` depends only on ``(seed, it)``.
    """

    def __init__(self, data: DomainSlices, *, batch_size: int, seed: int, crop: int | None = None) -> None:
        h, w = data.images.shape[1:]
        if crop is not None and not 0 < crop <= min(h, w):
            raise DataError(f"stgan: crop {crop} must be in 1..{min(h, w)} (the padded slice size {h}x{w})")
        self.data, self.batch_size, self.seed, self.crop = data, batch_size, seed, crop
        self.by_domain = [np.flatnonzero(data.domains == d) for d in range(int(data.domains.max()) + 1)]
        self.present = [d for d, ix in enumerate(self.by_domain) if ix.size]

    def batch(self, it: int) -> dict[str, torch.Tensor]:
        """Tensors ``x`` (B,1,H,W), ``y`` (B,), ``x_ref``, ``x_ref2`` (B,1,H,W) and ``y_trg`` (B,)."""
        rng = np.random.default_rng([self.seed, it])
        n, b = len(self.data), self.batch_size
        src = rng.choice(n, size=b, replace=n < b)
        y_trg = rng.choice(self.present, size=b)
        ref = np.array([rng.choice(self.by_domain[d]) for d in y_trg])
        ref2 = np.array([rng.choice(self.by_domain[d]) for d in y_trg])
        flip = rng.random(b) < 0.5  # left-right flips: brains are near-symmetric
        imgs = self.data.images

        def take(ix: np.ndarray) -> torch.Tensor:
            a = np.where(flip[:, None, None], imgs[ix][:, :, ::-1], imgs[ix])
            if self.crop is not None:
                c = self.crop
                ys = rng.integers(0, a.shape[1] - c + 1, size=len(ix))
                xs = rng.integers(0, a.shape[2] - c + 1, size=len(ix))
                a = np.stack([s[y:y + c, x:x + c] for s, y, x in zip(a, ys, xs)])
            return torch.from_numpy(np.ascontiguousarray(a))[:, None]

        return {"x": take(src), "y": torch.from_numpy(self.data.domains[src]),
                "x_ref": take(ref), "x_ref2": take(ref2), "y_trg": torch.from_numpy(y_trg.astype(np.int64))}
