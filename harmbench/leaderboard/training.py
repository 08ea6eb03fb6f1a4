"""The report's training section: what each learned run's training did, from runs.json.

The harness stores, per learned run, ``training`` = :func:`harmbench.training.history.summarize`
of its history in the run's entry of ``runs.json`` (``runs`` is a list of entries named by
``run``; a mapping from run name to entry is read the same way). Runs without it (methods that do
not train, results written before training histories existed) are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harmbench.leaderboard.cells import number
from harmbench.leaderboard.table import Cell, Table

TRAINING_TITLE = "Training: where each learned run stopped and which iteration it kept"


def _fit_name(entry: Mapping[str, Any]) -> str | None:
    """``run``, or ``run seed N`` for a fit of one of several training seeds."""
    run, seed = entry.get("run"), entry.get("seed")
    return run if run is None or seed is None else f"{run} seed {seed}"


def training_runs(meta: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{fit name: training summary}`` for every fit of ``runs.json`` that carries one (one per
    run and training seed: ``pix2pix seed 1``)."""
    runs = meta.get("runs") or []
    entries = runs.items() if isinstance(runs, Mapping) else ((_fit_name(r), r) for r in runs if isinstance(r, Mapping))
    return {str(name): dict(entry["training"]) for name, entry in entries
            if name is not None and isinstance(entry, Mapping) and entry.get("training")}


def _score(x: Any, signed: bool = False) -> Cell:
    v = number(x if isinstance(x, (int, float)) else None)
    if v is None or math.isinf(v):
        return Cell("—", v)
    return Cell(f"{v:+.4f}" if signed else f"{v:.4f}", v)


def _count(x: Any) -> str:
    return "—" if x in (None, "") else str(x)


def _near(flag: Any) -> str:
    return "—" if flag is None else ("yes" if flag else "no")


def training_table(runs: Mapping[str, Mapping[str, Any]]) -> Table:
    """One row per run: iterations run / cap, stop reason, the selection and its gain over identity."""
    table = Table(("run", "iterations run / cap", "stop reason", "selected by", "selected iteration",
                   "selected score", "identity score", "gain over identity", "within noise of identity"),
                  title=TRAINING_TITLE)
    for run, t in sorted(runs.items()):
        table.add([run, f"{_count(t.get('iterations_run'))} / {_count(t.get('iteration_cap') or None)}",
                   _count(t.get("stop_reason")), _count(t.get("selection_metric")),
                   Cell(_count(t.get("selected_iteration")), number(t.get("selected_iteration"))),
                   _score(t.get("selected_score")), _score(t.get("identity_score")),
                   _score(t.get("gain_over_identity"), signed=True), _near(t.get("near_identity"))])
    return table
