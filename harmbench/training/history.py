"""The training history every learned method records: schema, file and summary (no torch).

A fitted deep method exposes ``training_history_`` (a :class:`TrainingHistory`); the harness
writes it as ``training_history.json`` beside the model and puts :func:`summarize` of it in
``runs.json``, from which the report plots the curves (so a leaderboard re-renders without the
model directories).

File format (JSON, ``format``/``version`` stamped)::

    {"format": "harmbench-training-history", "version": 1, "method": "my-gan",
     "rows": [{"iteration": 60, "seconds": 3.1, "loss_G": 1.2, "loss_D": 0.6, "d_real": 0.7,
               "val_ssim": 0.81, ...}, ...],
     "selection_metric": "val_ssim", "selected_iteration": 180, "identity_score": 0.78,
     "stop_reason": "patience", "iterations_run": 240, "iteration_cap": 600, "time_cap_s": null,
     "stop_rule": {"metric": "val_psnr", "patience": 3, "min_delta": 0.02, "window": 2, ...},
     "near_identity": false, "identity_gain_se": 0.04, "identity_margin": 0.08}

``rows`` holds one entry per logged point (losses averaged since the previous row; ``val_*``
entries only where validation ran). ``identity_score`` is the selection metric of the untrained
identity mapping (the FU itself) on the same validation slices, so a reader can tell whether the
chosen model moved at all. ``stop_reason`` is ``iteration_cap``, ``patience`` (the smoothed
validation curve stopped improving under ``stop_rule``) or ``time_cap``. ``near_identity`` says
whether the selected model's gain over the identity is within ``identity_margin`` (twice the
standard error of the per-slice paired differences, ``identity_gain_se``, or a floor); None where
there was no validation. Fields added after version 1 default to None, so older files still load.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HISTORY_FILE = "training_history.json"
HISTORY_FORMAT = "harmbench-training-history"
HISTORY_VERSION = 1
#: at most this many points per curve go into runs.json (evenly thinned; selection kept)
SUMMARY_POINTS = 60


@dataclass
class TrainingHistory:
    method: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    selection_metric: str = ""
    selected_iteration: int = 0
    identity_score: float | None = None
    stop_reason: str = ""
    iterations_run: int = 0
    iteration_cap: int = 0
    time_cap_s: float | None = None
    stop_rule: dict[str, Any] | None = None
    near_identity: bool | None = None
    identity_gain_se: float | None = None
    identity_margin: float | None = None
    precision: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"format": HISTORY_FORMAT, "version": HISTORY_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TrainingHistory:
        from harmbench.errors import ArtifactError

        if obj.get("format") != HISTORY_FORMAT or int(obj.get("version", 0)) > HISTORY_VERSION:
            raise ArtifactError(f"not a harmbench training history (format {obj.get('format')!r}, "
                                f"version {obj.get('version')!r}); expected {HISTORY_FORMAT} <= v{HISTORY_VERSION}")
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in obj.items() if k in fields})

    def save(self, directory: str | Path) -> Path:
        from harmbench.io import write_json_atomic

        path = Path(directory) / HISTORY_FILE
        write_json_atomic(path, self.to_json())
        return path

    @classmethod
    def load(cls, directory: str | Path) -> TrainingHistory | None:
        import json

        path = Path(directory) / HISTORY_FILE
        if not path.exists():
            return None
        return cls.from_json(json.loads(path.read_text()))


def _thin(rows: list[dict[str, Any]], keep: int, must: int | None) -> list[dict[str, Any]]:
    if len(rows) <= keep:
        return rows
    step = (len(rows) - 1) / (keep - 1)
    idx = {round(i * step) for i in range(keep)}
    return [r for i, r in enumerate(rows) if i in idx or r.get("iteration") == must]


def summarize(history: TrainingHistory) -> dict[str, Any]:
    """Compact form for ``runs.json``: the selection, the stop, and thinned curves.

    ``curves`` maps each logged quantity to ``[[iteration, value], ...]``; ``selected_score``
    is the selection metric at the chosen iteration and ``gain_over_identity`` its difference
    from the identity's score (None when either is unknown); ``near_identity`` (with
    ``identity_gain_se`` and ``identity_margin``) says whether that gain is within noise, and
    ``stop_rule`` is the patience rule (None for a fixed schedule); ``precision`` the autocast
    dtype of the training steps (``fp32``, ``torch.bfloat16``...; empty when the method did not say).
    """
    metric = history.selection_metric
    rows = history.rows
    selected = next((r for r in rows if r.get("iteration") == history.selected_iteration and metric in r), None)
    score = None if selected is None else float(selected[metric])
    gain = None if score is None or history.identity_score is None else score - float(history.identity_score)
    curves: dict[str, list[list[float]]] = {}
    for r in _thin(rows, SUMMARY_POINTS, history.selected_iteration):
        for k, v in r.items():
            if k != "iteration" and isinstance(v, (int, float)) and not isinstance(v, bool):
                curves.setdefault(k, []).append([int(r["iteration"]), round(float(v), 6)])
    return {"selection_metric": metric, "selected_iteration": history.selected_iteration,
            "selected_score": score, "identity_score": history.identity_score,
            "gain_over_identity": gain, "stop_reason": history.stop_reason,
            "iterations_run": history.iterations_run, "iteration_cap": history.iteration_cap,
            "time_cap_s": history.time_cap_s, "stop_rule": history.stop_rule,
            "near_identity": history.near_identity, "identity_gain_se": history.identity_gain_se,
            "identity_margin": history.identity_margin, "precision": history.precision, "curves": curves}
