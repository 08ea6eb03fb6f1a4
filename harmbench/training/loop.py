"""The one training loop of every deep method: schedule, averaging, validation, selection, resume.

:func:`fit` runs ``cfg.iterations`` updates of a :class:`~harmbench.training.protocol.TrainableModel`
in *periods* of ``cfg.val_every`` iterations. Iteration ``t`` (0-based) sets the learning rate
:func:`lr_at`, calls ``model.train_step(sampler.batch(t), t)`` and updates the weight average.
At the end of each period the loop logs one history row (losses averaged over the period,
cumulative seconds, validation scores of the averaged networks when averaging is on), applies
the :class:`Selection` rule, and writes a checkpoint (:mod:`harmbench.training.checkpoint`).

Stopping: the iteration cap ``cfg.iterations`` always; with ``cfg.stopping`` (a
:class:`~harmbench.training.stopping.Patience` rule) as soon as the smoothed validation curve stops
improving (``stop_reason="patience"``); with ``cfg.time_cap_s`` after the first period that ends
past the cap (``"time_cap"``, host-dependent). After the fit, the selected networks are scored
against the identity map slice by slice (:func:`~harmbench.training.stopping.identity_check`); a
gain within noise of zero sets ``near_identity`` in the history and issues a
:class:`NearIdentityWarning`.

Exact resume: torch's global RNG is reseeded at the start of every period from
``(seed, period)``, batches depend only on ``(seed, t)`` (:mod:`harmbench.training.sampler`) and
checkpoints fall on period ends, so a fit interrupted after any period and resumed repeats the
uninterrupted fit bit for bit (on the same device and thread count; an image pool's history is
not checkpointed, so that holds with ``pool_size=0``).
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from harmbench.console import progress
from harmbench.errors import DataError
from harmbench.training import checkpoint
from harmbench.training.averaging import WeightAverage
from harmbench.training.history import TrainingHistory
from harmbench.training.protocol import TrainableModel
from harmbench.training.sampler import BatchSampler
from harmbench.training.stopping import Patience, identity_check
from harmbench.training.validation import SliceValidator


@dataclass(frozen=True)
class Selection:
    """Which validation point's networks the fit keeps.

    Attributes:
        metric: history key compared (``val_ssim``, ``val_psnr``, ...).
        tiebreak: second key for equal ``metric`` values (None: the earlier point wins).
        mode: ``max`` / ``min`` of ``metric``, or ``last`` — the final networks; ``metric`` is
            then only recorded.
        after: only validation points at or after this fraction of the iteration cap compete
            (0: all). For a model whose paired validation score rewards staying close to the
            input — an unpaired style-transfer model that starts as the identity — the earliest,
            least-trained points would win; ``after=0.5`` picks the best *trained* point.
        guard: a second history key (higher is better, e.g. ``val_ssim``) that a point must keep
            within ``guard_tolerance`` of the identity map's score to be *admissible*. Admissible
            points rank above all others by ``metric``; when none is, the point with the best
            ``guard`` wins (the least damaged). None: no guard.
        guard_tolerance: how far below the identity's ``guard`` score a point may fall.
    """

    metric: str = "val_ssim"
    tiebreak: str | None = "val_psnr"
    mode: Literal["max", "min", "last"] = "max"
    after: float = 0.0
    guard: str | None = None
    guard_tolerance: float = 0.0

    def eligible(self, iteration: int, cap: int) -> bool:
        return iteration >= self.after * cap or iteration >= cap

    def key(self, row: dict[str, Any], identity: dict[str, float] | None = None) -> tuple[float, ...]:
        """Sort key of a history row (larger is better); ``identity``: the identity map's scores."""
        sign = -1.0 if self.mode == "min" else 1.0
        tb = row.get(self.tiebreak, 0.0) if self.tiebreak else 0.0
        own = (sign * float(row.get(self.metric, 0.0)), sign * float(tb))
        if self.guard is None:
            return own
        g = float(row.get(self.guard, -math.inf))
        floor = (identity or {}).get(self.guard, -math.inf) - self.guard_tolerance
        return (1.0, *own) if g >= floor else (0.0, g, own[0])


@dataclass(frozen=True)
class LoopConfig:
    """Loop settings.

    Attributes:
        iterations: updates in total (the cap).
        val_every: iterations per period (one history row, validation and checkpoint each).
        lr: initial learning rate passed to ``model.set_lr``.
        decay_start: fraction of ``iterations`` after which the rate decays linearly to 0 at the
            end (0: over the whole run; 1: constant).
        seed: seeds torch's RNG per period (batches are the sampler's own seed).
        ema: decay of the weight average of ``model.generators`` (0: off).
        selection: the model-selection rule.
        time_cap_s: stop after the first period that ends past this many seconds of training
            (None: no cap); the history says ``stop_reason="time_cap"``.
        stopping: convergence-based stop (None: run to the cap); needs a validator. With it,
            ``iterations`` is only the cap and ``lr_at`` still decays towards it.
        identity_floor: smallest gain of the selection metric over the identity map that counts as
            moving off it, besides twice its standard error over the validation slices.
    """

    iterations: int
    val_every: int
    lr: float
    decay_start: float = 0.0
    seed: int = 0
    ema: float = 0.0
    selection: Selection = field(default_factory=Selection)
    time_cap_s: float | None = None
    stopping: Patience | None = None
    identity_floor: float = 0.0

    def fingerprint(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("time_cap_s")  # a cap changes where a fit stops, not what an iteration does
        out.pop("identity_floor")  # only a flag in the history
        if out["stopping"] is None:
            out.pop("stopping")  # fixed schedules keep the fingerprints (and checkpoints) they had
        if out["selection"]["guard"] is None:
            for k in ("guard", "guard_tolerance"):
                out["selection"].pop(k)  # so do unguarded selections
        return out


class NearIdentityWarning(UserWarning):
    """The selected model scores within noise of the identity map: the fit did not move off it."""


def lr_at(it: int, total: int, lr: float, decay_start: float) -> float:
    """Learning rate of iteration ``it`` (0-based): constant, then linear to 0 at ``total``."""
    t0 = int(round(decay_start * total))
    if it < t0:
        return lr
    return lr * max(0.0, (total - it) / max(total - t0, 1))


@contextlib.contextmanager
def _work_dir(path: Path | None, label: str) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=f"harmbench-{label}-") as tmp:
        yield Path(tmp)


def fit(model: TrainableModel, sampler: BatchSampler, cfg: LoopConfig, *, validator: SliceValidator | None,
        work_dir: Path | None, fingerprint: dict[str, Any], method: str, label: str | None = None
        ) -> TrainingHistory:
    """Train ``model`` and leave the selected networks loaded (averaged ones with ``ema > 0``).

    Args:
        model: the model (networks on their device).
        sampler: batches per iteration.
        cfg: loop settings.
        validator: scores the model each period (None: no validation; the last point is kept).
        work_dir: checkpoint folder, resumed from when its fingerprint matches (None: temporary).
        fingerprint: what identifies the run besides ``cfg`` (model configuration, data, seed).
        method: method name for the history.
        label: progress-bar and message label (default ``method``).

    Returns:
        The training history (rows, selection, identity score, stop reason).
    """
    if cfg.iterations < 1 or cfg.val_every < 1:
        raise DataError(f"{method}: iterations and val_every must be >= 1; got {cfg.iterations}, {cfg.val_every}")
    label = label or method
    fingerprint = {**fingerprint, "loop": cfg.fingerprint(), "n_val": 0 if validator is None else len(validator)}
    sel = cfg.selection if validator is not None else Selection(mode="last")
    identity_slices = validator.identity_slices() if validator is not None else {}
    identity = validator.summary(identity_slices) if validator is not None else {}
    stopping = cfg.stopping if validator is not None else None
    hist = TrainingHistory(method=method, selection_metric=sel.metric if validator is not None else "",
                           identity_score=identity.get(sel.metric), iteration_cap=cfg.iterations,
                           time_cap_s=cfg.time_cap_s, stop_rule=None if stopping is None else asdict(stopping),
                           precision=str(fingerprint.get("precision", "")))
    average = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
    period, n_periods = cfg.val_every, -(-cfg.iterations // cfg.val_every)
    with _work_dir(work_dir, label) as wd:
        state = checkpoint.load(wd, model, fingerprint, average, label=label)
        start, seconds, best_key = 0, 0.0, None
        if state is not None:
            start, seconds = int(state["iteration"]), float(state["seconds"])
            hist.rows, hist.selected_iteration = list(state["rows"]), int(state["selected_iteration"])
            best_key = None if state["selected_key"] is None else tuple(state["selected_key"])
        hist.stop_reason = "iteration_cap"
        stopped = stopping is not None and start < cfg.iterations and stopping.should_stop(hist.rows)
        if stopped:
            hist.stop_reason = "patience"   # a finished fit resumed: nothing left to train
        model.train()
        with progress() as bar:
            task = bar.add_task(label, total=cfg.iterations, completed=start)
            for p in range(start // period, 0 if stopped else n_periods):
                torch.manual_seed(cfg.seed * 100_003 + p)
                t0, sums = time.perf_counter(), {}
                end = min((p + 1) * period, cfg.iterations)
                for it in range(p * period, end):
                    model.set_lr(lr_at(it, cfg.iterations, cfg.lr, cfg.decay_start))
                    for k, v in model.train_step(sampler.batch(it), it).items():
                        sums[k] = sums.get(k, 0.0) + v
                    if average is not None:
                        average.update(model)
                    bar.advance(task)
                row: dict[str, Any] = {"iteration": end, **{k: v / (end - p * period) for k, v in sums.items()}}
                if validator is not None:
                    with average.swapped_in(model) if average is not None else contextlib.nullcontext():
                        row.update(validator(model))
                seconds += time.perf_counter() - t0
                row["seconds"] = round(seconds, 3)
                hist.rows.append(row)
                key = sel.key(row, identity)
                better = sel.mode == "last" or best_key is None or key > best_key
                if sel.eligible(end, cfg.iterations) and better:
                    best_key, hist.selected_iteration = key, end
                    checkpoint.save_best(wd, model, average)
                checkpoint.save(wd, model, {"iteration": end, "rows": hist.rows, "seconds": seconds,
                                            "selected_iteration": hist.selected_iteration,
                                            "selected_key": None if best_key is None else list(best_key),
                                            "fingerprint": fingerprint}, average)
                if stopping is not None and end < cfg.iterations and stopping.should_stop(hist.rows):
                    hist.stop_reason = "patience"
                    break
                if cfg.time_cap_s is not None and seconds >= cfg.time_cap_s and end < cfg.iterations:
                    hist.stop_reason = "time_cap"
                    break
        hist.iterations_run = int(hist.rows[-1]["iteration"]) if hist.rows else 0
        if hist.selected_iteration == 0:      # stopped before any eligible point: keep the final networks
            checkpoint.save_best(wd, model, average)
            hist.selected_iteration = hist.iterations_run
        checkpoint.load_best(wd, model)
    if validator is not None and sel.metric in identity_slices:
        _check_identity(hist, validator.slices(model)[sel.metric], identity_slices[sel.metric], sel, cfg, label)
    model.eval()
    return hist


def _check_identity(hist: TrainingHistory, scores: Any, identity: Any, sel: Selection, cfg: LoopConfig,
                    label: str) -> None:
    """Record how far the selected networks are from the identity map; warn when within noise."""
    check = identity_check(list(map(float, scores)), list(map(float, identity)), metric=sel.metric,
                           mode="min" if sel.mode == "min" else "max", floor=cfg.identity_floor)
    hist.near_identity, hist.identity_gain_se, hist.identity_margin = (
        check.near_identity, round(check.se, 6), round(check.margin, 6))
    if check.near_identity:
        warnings.warn(f"{label}: the selected model (iteration {hist.selected_iteration}) scores "
                      f"{sel.metric} {check.gain:+.4g} over the identity map, within noise "
                      f"(margin {check.margin:.3g}); it did not move off the identity",
                      NearIdentityWarning, stacklevel=3)
