"""Exponential moving average of a model's inference networks (Yazıcı et al. 2019; StarGAN v2's EMA)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch

from harmbench.training.protocol import TrainableModel


class WeightAverage:
    """``avg <- decay·avg + (1 - decay)·live`` for every network in ``model.generators``.

    Buffers (BatchNorm running statistics) are copied from the live network, not averaged.
    Training continues on the live weights; validation, selection and the saved model use the
    averages (:meth:`swapped_in`).
    """

    def __init__(self, model: TrainableModel, decay: float) -> None:
        self.decay = decay
        self.nets = {k: copy.deepcopy(model.nets[k]).requires_grad_(False) for k in model.generators}

    @torch.no_grad()
    def update(self, model: TrainableModel) -> None:
        for k, avg in self.nets.items():
            for a, p in zip(avg.parameters(), model.nets[k].parameters(), strict=True):
                a.lerp_(p.detach(), 1.0 - self.decay)
            for a, b in zip(avg.buffers(), model.nets[k].buffers(), strict=True):
                a.copy_(b)

    @contextlib.contextmanager
    def swapped_in(self, model: TrainableModel) -> Iterator[None]:
        """Temporarily put the averaged networks into ``model.nets``."""
        live = {k: model.nets[k] for k in self.nets}
        model.nets.update(self.nets)
        try:
            yield
        finally:
            model.nets.update(live)

    def state_dicts(self) -> dict[str, dict]:
        return {k: n.state_dict() for k, n in self.nets.items()}
