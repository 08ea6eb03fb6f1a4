"""Checkpoints of a fit in ``work_dir``, and exact resume.

Layout (every file written atomically, ``state.json`` last, so its presence marks a complete
checkpoint)::

    work_dir/last/<net>.pt        state_dicts of every network in ``model.nets``
    work_dir/last/opt_<name>.pt   state_dicts of every optimizer in ``model.optimizers``
    work_dir/last/ema_<net>.pt    weight averages of ``model.generators`` (averaging on only)
    work_dir/last/state.json      iteration, history rows, selection, elapsed seconds, fingerprint
    work_dir/best/<net>.pt        ``model.generators`` of the selected validation point
                                  (the averages when averaging is on)

Checkpoints are read with ``torch.load(weights_only=True)``. A fit resumes from ``last/`` only
when the stored fingerprint (model + training configuration + data size + dataset) equals the
current one; otherwise it starts over and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from harmbench.console import info
from harmbench.io import load_torch, read_checkpoint_state, save_torch_atomic, write_json_atomic
from harmbench.training.averaging import WeightAverage
from harmbench.training.protocol import TrainableModel


def save_dicts(directory: Path, dicts: dict[str, dict]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sd in dicts.items():
        save_torch_atomic(directory / f"{name}.pt", sd)


def save(work_dir: Path, model: TrainableModel, state: dict[str, Any], average: WeightAverage | None) -> None:
    """Write the full training state; ``state`` (JSON) goes last."""
    last = work_dir / "last"
    save_dicts(last, {k: n.state_dict() for k, n in model.nets.items()})
    save_dicts(last, {f"opt_{k}": o.state_dict() for k, o in model.optimizers.items()})
    if average is not None:
        save_dicts(last, {f"ema_{k}": sd for k, sd in average.state_dicts().items()})
    write_json_atomic(last / "state.json", state)


def load(work_dir: Path, model: TrainableModel, fingerprint: dict[str, Any], average: WeightAverage | None,
         *, label: str) -> dict[str, Any] | None:
    """Restore networks, optimizers and averages from ``work_dir/last`` if its fingerprint matches."""
    last = work_dir / "last"
    state = read_checkpoint_state(last / "state.json", fingerprint)
    if state is None:
        if (last / "state.json").exists():
            info(f"{label}: checkpoint in {work_dir} is from another configuration; starting over")
        return None
    for k, n in model.nets.items():
        n.load_state_dict(load_torch(last / f"{k}.pt"))
    for k, o in model.optimizers.items():
        o.load_state_dict(load_torch(last / f"opt_{k}.pt"))
    if average is not None:
        for k, n in average.nets.items():
            n.load_state_dict(load_torch(last / f"ema_{k}.pt"))
    info(f"{label}: resuming from iteration {state['iteration']} in {work_dir}")
    return state


def save_best(work_dir: Path, model: TrainableModel, average: WeightAverage | None) -> None:
    best = average.state_dicts() if average is not None else {k: model.nets[k].state_dict() for k in model.generators}
    save_dicts(work_dir / "best", best)


@torch.no_grad()
def load_best(work_dir: Path, model: TrainableModel) -> None:
    for k in model.generators:
        p = work_dir / "best" / f"{k}.pt"
        if p.exists():
            model.nets[k].load_state_dict(load_torch(p))
