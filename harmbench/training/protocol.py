"""What a deep model must provide to be trained by :func:`harmbench.training.loop.fit`.

The kit owns everything around the update (loop, sampler, LR schedule, weight averaging,
checkpoints and exact resume, validation, model selection, history, slice inference); a model
owns its networks, losses and the update itself, like Lightning's ``training_step``::

    class MyGan:
        nets = {"G": ..., "D": ...}                    # every trained network (checkpointed)
        optimizers = {"G": adam_g, "D": adam_d}        # every optimizer (checkpointed)
        generators = ("G",)                            # what inference needs (averaged, selected, saved)

        def train_step(self, batch, iteration): ...   # one update; returns {"loss_G": 1.2, ...}
        def set_lr(self, lr): ...                      # the schedule's rate for this iteration
        def translate(self, fu, reference): ...       # FU->BL, (N,1,H,W) in [-1, 1], CPU float32
        def train(self): ...; def eval(self): ...

Guarantees the kit relies on: ``train_step`` draws randomness only from ``torch``'s global RNG
(the loop reseeds it per validation period) or from generators seeded by ``iteration``, so a
resumed fit is bit-identical to an uninterrupted one; ``translate`` reads the networks from
``self.nets`` at call time (the loop swaps averaged weights in for validation) and does not
change them. An optional ``reconstruct(bl)`` (BL->FU->BL) adds ``val_recon_ssim`` to the
validation rows.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class TrainableModel(Protocol):
    nets: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    generators: tuple[str, ...]

    def train_step(self, batch: Any, iteration: int) -> dict[str, float]:
        """One update on ``batch`` (from the sampler, for 0-based ``iteration``); returns scalar logs."""
        ...

    def set_lr(self, lr: float) -> None:
        """Set the learning rate of this iteration (models with several rates scale them together)."""
        ...

    def translate(self, fu: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        """FU->BL of (N, 1, H, W) slices in [-1, 1]; ``reference`` the matching BL slices (or None)."""
        ...

    def train(self) -> None: ...

    def eval(self) -> None: ...


def set_optimizer_lr(optimizers: dict[str, torch.optim.Optimizer], lr: float,
                     scale: dict[str, float] | None = None) -> None:
    """Set every parameter group of ``optimizers`` to ``lr`` (times ``scale[name]`` where given, and
    times the group's own ``lr_scale`` entry where it has one)."""
    for name, opt in optimizers.items():
        for g in opt.param_groups:
            g["lr"] = lr * (scale or {}).get(name, 1.0) * g.get("lr_scale", 1.0)


def set_mode(nets: dict[str, nn.Module], training: bool) -> None:
    for n in nets.values():
        n.train(training)
