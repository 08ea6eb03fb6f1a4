"""Seeded mini-batches of slices whose draw depends only on ``(seed, iteration)``.

That property is what makes resume exact: iteration ``t`` of a resumed fit sees the same batch
as iteration ``t`` of an uninterrupted one, without checkpointing any sampler state. Samplers
satisfy :class:`BatchSampler`; :class:`PairedSampler` serves paired (BL, FU) stacks, and the
helpers :func:`iteration_rng`, :func:`random_crops` let a model family write its own (e.g.
STGAN's domain-labelled sampler) with the same guarantee.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from harmbench.errors import DataError


class BatchSampler(Protocol):
    """``batch(iteration)`` returns the model's batch for that iteration, a pure function of it."""

    def batch(self, iteration: int) -> Any: ...


def iteration_rng(seed: int, iteration: int) -> np.random.Generator:
    """The random generator of one iteration (independent streams per ``(seed, iteration)``)."""
    return np.random.default_rng([seed, iteration])


def check_crop(crop: int | None, shape: tuple[int, ...]) -> None:
    """Raise unless a ``crop`` x ``crop`` window fits (H, W) ``shape`` (None: whole slices)."""
    h, w = shape[-2:]
    if crop is not None and not 0 < crop <= min(h, w):
        raise DataError(f"crop {crop} must be in 1..{min(h, w)} (the padded slice size {h}x{w})")


def random_crops(rng: np.random.Generator, n: int, shape: tuple[int, ...], crop: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners (rows, columns) of ``n`` random ``crop`` windows inside (H, W) ``shape``."""
    h, w = shape[-2:]
    ys = rng.integers(0, h - crop + 1, size=n)
    xs = rng.integers(0, w - crop + 1, size=n)
    return ys, xs


def cut(stack: np.ndarray, ys: np.ndarray, xs: np.ndarray, crop: int) -> np.ndarray:
    """The windows ``stack[i, ys[i]:ys[i]+crop, xs[i]:xs[i]+crop]`` as an (n, crop, crop) array."""
    return np.stack([s[y:y + crop, x:x + crop] for s, y, x in zip(stack, ys, xs)])


def as_batch(stack: np.ndarray) -> torch.Tensor:
    """(n, h, w) array -> contiguous float32 (n, 1, h, w) tensor."""
    return torch.from_numpy(np.ascontiguousarray(stack, np.float32))[:, None]


class PairedSampler:
    """Random batches of aligned (BL, FU) slices with one crop window and flip per pair.

    Args:
        bl, fu: (N, H, W) signed stacks, slice ``i`` of one registered to slice ``i`` of the other.
        batch_size: pairs per batch.
        crop: square crop side in pixels (None = whole slices); the same window for BL and FU.
        flip: random left-right flip (the same for BL and FU).
        seed: base seed.
    """

    def __init__(self, bl: np.ndarray, fu: np.ndarray, *, batch_size: int, crop: int | None, flip: bool,
                 seed: int) -> None:
        if len(bl) == 0:
            raise DataError("no training slices")
        if crop is not None and (crop > bl.shape[1] or crop > bl.shape[2]):
            raise DataError(f"crop {crop} is larger than the padded slice size {tuple(bl.shape[1:])}")
        self.bl, self.fu = bl, fu
        self.batch_size, self.crop, self.flip, self.seed = batch_size, crop, flip, seed

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(BL, FU) tensors of shape (batch, 1, h, w) for ``iteration``."""
        rng = iteration_rng(self.seed, iteration)
        n = len(self.bl)
        idx = rng.choice(n, size=self.batch_size, replace=n < self.batch_size)
        a, b = self.bl[idx], self.fu[idx]
        if self.crop is not None:
            ys, xs = random_crops(rng, len(idx), a.shape, self.crop)
            a, b = cut(a, ys, xs, self.crop), cut(b, ys, xs, self.crop)
        if self.flip:
            f = rng.random(len(idx)) < 0.5
            a = np.where(f[:, None, None], a[:, :, ::-1], a)
            b = np.where(f[:, None, None], b[:, :, ::-1], b)
        return as_batch(a), as_batch(b)
