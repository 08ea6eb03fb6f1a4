"""Versioned, pickle-free persistence of fitted methods.

A model directory holds ``artifact.json`` (method name, format version, parameters,
harmbench version), optionally ``arrays.npz`` (numpy arrays, loaded with
``allow_pickle=False``) and ``<name>.pt`` torch ``state_dict`` files (loaded with
``weights_only=True``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harmbench.errors import ArtifactError
from harmbench.io import atomic_path, load_torch, save_torch_atomic, write_json_atomic
from harmbench.typing import PathLike

if TYPE_CHECKING:
    from harmbench.method import BaseMethod

ARTIFACT_FILE = "artifact.json"


def save_artifact(method: BaseMethod, directory: PathLike) -> Path:
    from harmbench import __version__

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = method._get_state() or {}
    arrays: dict[str, np.ndarray] = state.get("arrays", {})
    tensors: dict[str, Any] = state.get("torch", {})
    if arrays:
        with atomic_path(d / "arrays.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    for key, sd in tensors.items():
        save_torch_atomic(d / f"{key}.pt", sd)
    meta = {
        "method": method.name,
        "format_version": method.artifact_version,
        "harmbench_version": __version__,
        "params": _jsonable(method.get_params()),
        "state": state.get("json", {}),
        "arrays": sorted(arrays),
        "torch": sorted(tensors),
    }
    write_json_atomic(d / ARTIFACT_FILE, meta)  # written last: its presence marks completeness
    return d


def read_artifact_meta(directory: PathLike) -> dict[str, Any]:
    d = Path(directory)
    f = d / ARTIFACT_FILE
    if not f.exists():
        raise ArtifactError(f"{d} is not a harmbench model directory (no {ARTIFACT_FILE})")
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{f} is damaged: {exc.msg}") from None


def load_artifact(cls: type[BaseMethod], directory: PathLike) -> BaseMethod:
    d = Path(directory)
    meta = read_artifact_meta(d)
    if meta.get("method") != cls.name:
        raise ArtifactError(f"model in {d} was saved by method {meta.get('method')!r}; expected {cls.name!r}")
    if meta.get("format_version") != cls.artifact_version:
        raise ArtifactError(
            f"model in {d} has format version {meta.get('format_version')}; "
            f"{cls.name} reads version {cls.artifact_version}"
        )
    defaults = cls.param_defaults()
    params = {k: tuple(v) if isinstance(v, list) and isinstance(defaults.get(k), tuple) else v
              for k, v in meta.get("params", {}).items()}  # JSON has no tuples
    method = cls(**params)
    state: dict[str, Any] = {"json": meta.get("state", {})}
    if meta.get("arrays"):
        with np.load(d / "arrays.npz", allow_pickle=False) as z:
            state["arrays"] = {k: z[k] for k in z.files}
    if meta.get("torch"):
        state["torch"] = {k: load_torch(d / f"{k}.pt") for k in meta["torch"]}
    method._set_state(state)
    method.fitted_ = True
    return method


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, (np.generic,)):
            v = v.item()
        if isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out
