"""Checkpoint / resume of an STGAN fit (``work_dir``), mirroring the slice-GAN engine.

Layout (every file written atomically, ``state.json`` last, so its presence marks a complete
checkpoint)::

    work_dir/last/<net>.pt          generator, mapping, style_encoder, discriminator
    work_dir/last/ema_<net>.pt      the EMA copies used for inference
    work_dir/last/opt_<net>.pt      Adam states
    work_dir/last/best_<net>.pt     EMA networks of the best validation point so far
    work_dir/last/state.json        iteration, history, best score, fingerprint

A checkpoint is written at every validation point. A fit resumes from it only when the stored
fingerprint (configuration, domains, data size, seed) equals the current one. Batches and latent
codes depend only on ``(seed, iteration)``, so a resumed fit repeats the uninterrupted one.
Everything is read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harmbench.console import info
from harmbench.io import load_torch, read_checkpoint_state, save_torch_atomic, write_json_atomic

TRAINED = ("generator", "mapping", "style_encoder", "discriminator")
AVERAGED = ("generator", "mapping", "style_encoder")


def save(work_dir: Path, trainer: Any, *, iteration: int, history: list[dict[str, float]],
         best: tuple[float, dict[str, dict]] | None, fingerprint: dict[str, Any]) -> None:
    """Write the full training state after ``iteration`` iterations."""
    last = work_dir / "last"
    last.mkdir(parents=True, exist_ok=True)
    for k in TRAINED:
        save_torch_atomic(last / f"{k}.pt", getattr(trainer.nets, k).state_dict())
        save_torch_atomic(last / f"opt_{k}.pt", trainer.opt[k].state_dict())
    for k in AVERAGED:
        save_torch_atomic(last / f"ema_{k}.pt", getattr(trainer.ema, k).state_dict())
        if best is not None:
            save_torch_atomic(last / f"best_{k}.pt", best[1][k])
    write_json_atomic(last / "state.json", {
        "iteration": iteration, "history": history, "fingerprint": fingerprint,
        "best_score": None if best is None else best[0]})


def load(work_dir: Path, trainer: Any, fingerprint: dict[str, Any]
         ) -> tuple[int, list[dict[str, float]], tuple[float, dict[str, dict]] | None] | None:
    """Restore ``trainer`` from ``work_dir/last``; returns (iteration, history, best) or None."""
    last = work_dir / "last"
    state = read_checkpoint_state(last / "state.json", fingerprint)
    if state is None:
        if (last / "state.json").exists():
            info(f"stgan: checkpoint in {work_dir} is from another configuration; starting over")
        return None
    for k in TRAINED:
        getattr(trainer.nets, k).load_state_dict(load_torch(last / f"{k}.pt"))
        trainer.opt[k].load_state_dict(load_torch(last / f"opt_{k}.pt"))
    for k in AVERAGED:
        getattr(trainer.ema, k).load_state_dict(load_torch(last / f"ema_{k}.pt"))
    best = None
    if state.get("best_score") is not None:
        best = (float(state["best_score"]), {k: load_torch(last / f"best_{k}.pt") for k in AVERAGED})
    info(f"stgan: resuming from iteration {state['iteration']} in {work_dir}")
    return int(state["iteration"]), list(state["history"]), best
