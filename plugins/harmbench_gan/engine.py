"""The shared training loop: LR schedule, per-epoch validation, checkpoints and resume.

Work-directory layout (all files written atomically; ``state.json`` last, so its presence marks
a complete checkpoint)::

    work_dir/last/<net>.pt        state_dicts of every network after the last finished epoch
    work_dir/last/opt_<name>.pt   optimizer state_dicts
    work_dir/last/state.json      epoch, history, best epoch/score, run fingerprint
    work_dir/last/ema_<gen>.pt    weight averages of the generators (``ema > 0`` only)
    work_dir/best/<generator>.pt  generators of the best validation epoch (the averages with ema)

Checkpoints are loaded with ``torch.load(weights_only=True)``. A run resumes from ``last/`` only
when the stored fingerprint (model + training configuration + data size) equals the current one;
otherwise it starts over. The batch of iteration ``t`` depends only on ``(seed, t)`` and torch's
RNG is reseeded per epoch, so a resumed run repeats the uninterrupted run exactly (with the
default ``pool_size=0``; an image pool's history is not checkpointed).
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harmbench.console import info, progress
from harmbench.io import load_torch, read_checkpoint_state, save_torch_atomic, write_json_atomic
from harmbench_gan.data import PairedSlices, PairSampler, to_unit
from harmbench_gan.validation import psnr_slices, ssim_slices


@dataclass(frozen=True)
class TrainConfig:
    """Loop settings.

    Attributes:
        epochs: number of epochs (one checkpoint + validation each).
        iters_per_epoch: generator updates per epoch; None = one pass (len(train) // batch_size).
        batch_size: slices per update.
        crop: square random-crop side in pixels for training (None = whole slices).
        flip: random left-right flips.
        decay_start: fraction of all iterations after which the LR decays linearly to 0
            (0 = the paper's decay over the whole run; 4/50 = the authors' code).
        lr: initial learning rate of every optimizer.
        val_slices: evenly spaced validation slices scored per epoch (<= 0: all).
        seed: sampling / initialisation seed.
        ema: decay of an exponential moving average of the generator weights (0 = off, as the
            paper). With ``ema > 0`` validation, model selection and the saved model use the
            averaged generators (Yazıcı et al. 2019, "The unusual effectiveness of averaging in
            GAN training"); training continues on the live weights.
    """

    epochs: int
    iters_per_epoch: int | None
    batch_size: int
    crop: int | None
    flip: bool
    decay_start: float
    lr: float
    val_slices: int
    seed: int
    ema: float = 0.0


@dataclass
class TrainResult:
    """History (one dict per epoch), best epoch (1-based) and its validation score."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("-inf")
    resumed_from: int = 0


def lr_at(it: int, total: int, lr: float, decay_start: float) -> float:
    """Learning rate of iteration ``it`` (0-based): constant, then linear to 0 at ``total``."""
    t0 = int(round(decay_start * total))
    if it < t0:
        return lr
    return lr * max(0.0, (total - it) / max(total - t0, 1))


def validate(model: Any, val: PairedSlices, *, batch: int = 16) -> dict[str, float]:
    """Mean slice SSIM / PSNR of ``G_fu2bl(FU)`` vs BL in [0, 1] (and of BL->FU->BL if available)."""
    model.eval()
    out: dict[str, list[torch.Tensor]] = {"ssim": [], "psnr": [], "recon_ssim": []}
    for s in range(0, len(val), batch):
        bl = torch.from_numpy(val.bl[s:s + batch])[:, None]
        fu = torch.from_numpy(val.fu[s:s + batch])[:, None]
        fake = model.translate("G_fu2bl", fu)
        a, b = torch.from_numpy(to_unit(bl[:, 0].numpy())), torch.from_numpy(to_unit(fake[:, 0].numpy()))
        out["ssim"].append(ssim_slices(a, b))
        out["psnr"].append(psnr_slices(a, b))
        if "G_bl2fu" in model.nets:
            rec = model.translate("G_fu2bl", model.translate("G_bl2fu", bl))
            out["recon_ssim"].append(ssim_slices(a, torch.from_numpy(to_unit(rec[:, 0].numpy()))))
    model.train()
    return {f"val_{k}": float(torch.cat(v).mean()) for k, v in out.items() if v}


class GeneratorAverage:
    """Exponential moving average of a model's generators: ``avg <- decay·avg + (1 - decay)·live``."""

    def __init__(self, model: Any, decay: float) -> None:
        self.decay = decay
        self.nets = {k: copy.deepcopy(model.nets[k]).requires_grad_(False) for k in model.generators}

    @torch.no_grad()
    def update(self, model: Any) -> None:
        for k, avg in self.nets.items():
            for a, p in zip(avg.parameters(), model.nets[k].parameters(), strict=True):
                a.lerp_(p.detach(), 1.0 - self.decay)
            for a, b in zip(avg.buffers(), model.nets[k].buffers(), strict=True):
                a.copy_(b)                       # BatchNorm running statistics follow the live net

    @contextlib.contextmanager
    def swapped_in(self, model: Any) -> Iterator[None]:
        """Temporarily put the averaged generators into ``model.nets`` (for validation)."""
        live = {k: model.nets[k] for k in self.nets}
        model.nets.update(self.nets)
        try:
            yield
        finally:
            model.nets.update(live)

    def state_dicts(self) -> dict[str, dict]:
        return {k: n.state_dict() for k, n in self.nets.items()}


def _save_dicts(directory: Path, dicts: dict[str, dict]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sd in dicts.items():
        save_torch_atomic(directory / f"{name}.pt", sd)


def save_checkpoint(model: Any, work_dir: Path, state: dict[str, Any],
                    average: GeneratorAverage | None = None) -> None:
    last = work_dir / "last"
    _save_dicts(last, {k: n.state_dict() for k, n in model.nets.items()})
    _save_dicts(last, {f"opt_{k}": o.state_dict() for k, o in model.opts.items()})
    if average is not None:
        _save_dicts(last, {f"ema_{k}": sd for k, sd in average.state_dicts().items()})
    write_json_atomic(last / "state.json", state)


def load_checkpoint(model: Any, work_dir: Path, fingerprint: dict[str, Any],
                    average: GeneratorAverage | None = None) -> dict[str, Any] | None:
    """Restore networks/optimizers from ``work_dir/last`` if its fingerprint matches; return its state."""
    state = read_checkpoint_state(work_dir / "last" / "state.json", fingerprint)
    if state is None:
        if (work_dir / "last" / "state.json").exists():
            info(f"gan: checkpoint in {work_dir} is from another configuration; starting over")
        return None
    for k, n in model.nets.items():
        n.load_state_dict(load_torch(work_dir / "last" / f"{k}.pt"))
    for k, o in model.opts.items():
        o.load_state_dict(load_torch(work_dir / "last" / f"opt_{k}.pt"))
    if average is not None:
        for k, n in average.nets.items():
            n.load_state_dict(load_torch(work_dir / "last" / f"ema_{k}.pt"))
    return state


def load_best(model: Any, work_dir: Path) -> None:
    for k in model.generators:
        p = work_dir / "best" / f"{k}.pt"
        if p.exists():
            model.nets[k].load_state_dict(load_torch(p))


def train(model: Any, train_data: PairedSlices, val_data: PairedSlices | None, cfg: TrainConfig,
          work_dir: Path, *, fingerprint: dict[str, Any], label: str = "gan") -> TrainResult:
    """Train ``model`` (a :class:`~harmbench_gan.models.CycleModel` or ``Pix2PixModel``).

    Selects the epoch with the highest mean validation slice SSIM of FU->BL (PSNR breaks ties;
    without validation data the last epoch) and leaves its generators loaded in ``model``.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    sampler = PairSampler(train_data, batch_size=cfg.batch_size, crop=cfg.crop, flip=cfg.flip, seed=cfg.seed)
    ipe = cfg.iters_per_epoch or max(1, len(train_data) // cfg.batch_size)
    total = cfg.epochs * ipe
    fingerprint = {**fingerprint, "train": asdict(cfg), "n_train": len(train_data),
                   "n_val": 0 if val_data is None else len(val_data)}
    val = val_data.subset(cfg.val_slices) if val_data is not None and len(val_data) else None
    res = TrainResult()
    average = GeneratorAverage(model, cfg.ema) if cfg.ema > 0 else None
    state = load_checkpoint(model, work_dir, fingerprint, average)
    start = 0
    if state is not None:
        start = int(state["epoch"])
        res = TrainResult(state["history"], int(state["best_epoch"]), float(state["best_score"]), start)
    model.train()
    with progress() as bar:
        task = bar.add_task(label, total=total, completed=start * ipe)
        for epoch in range(start, cfg.epochs):
            torch.manual_seed(cfg.seed * 100_003 + epoch)
            t0, sums = time.perf_counter(), {}
            for i in range(ipe):
                it = epoch * ipe + i
                model.set_lr(lr_at(it, total, cfg.lr, cfg.decay_start))
                for k, v in model.train_step(*sampler.batch(it)).items():
                    sums[k] = sums.get(k, 0.0) + v
                if average is not None:
                    average.update(model)
                bar.advance(task)
            row: dict[str, Any] = {"epoch": epoch + 1, **{k: v / ipe for k, v in sums.items()}}
            selected = average.swapped_in(model) if average is not None else contextlib.nullcontext()
            if val is not None:
                with selected:
                    row.update(validate(model, val))
            row["seconds"] = round(time.perf_counter() - t0, 3)
            res.history.append(row)
            score = (row.get("val_ssim", 0.0), row.get("val_psnr", 0.0)) if val is not None else (epoch, 0)
            best_prev = (res.best_score, res.history[res.best_epoch - 1].get("val_psnr", 0.0)) \
                if res.best_epoch else (float("-inf"), 0.0)
            if res.best_epoch == 0 or score > best_prev:
                res.best_epoch, res.best_score = epoch + 1, float(score[0])
                best = average.state_dicts() if average is not None else \
                    {k: model.nets[k].state_dict() for k in model.generators}
                _save_dicts(work_dir / "best", best)
            save_checkpoint(model, work_dir, {"epoch": epoch + 1, "history": res.history,
                                              "best_epoch": res.best_epoch, "best_score": res.best_score,
                                              "fingerprint": fingerprint}, average)
    load_best(model, work_dir)
    model.eval()
    if not np.isfinite(res.best_score):
        res.best_score = float("nan")
    return res
