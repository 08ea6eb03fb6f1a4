"""Versioned, pickle-free persistence of fitted methods.

A model directory holds ``artifact.json`` (method name, format version, parameters,
harmbench version), optionally ``arrays.npz`` (numpy arrays, loaded with
``allow_pickle=False``) and ``<name>.pt`` torch ``state_dict`` files (loaded with
``weights_only=True``).

Loading trusts nothing in the directory: a damaged, truncated or hand-edited artifact (a
non-object ``artifact.json``, unknown parameters, a missing array or weight, wrong keys or
shapes, non-finite numbers, pickled objects) raises a one-line :class:`ArtifactError`.

The dependency runs one way: :mod:`harmbench.method` uses this module, and this module sees a
method only through the :class:`Persistable` protocol.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np

from harmbench.errors import ArtifactError, DataError, HarmbenchError
from harmbench.io import atomic_path, load_torch, require_writable_dir, save_torch_atomic, write_json_atomic
from harmbench.typing import ParamDict, PathLike
from harmbench.version import __version__

ARTIFACT_FILE = "artifact.json"
ARRAYS_FILE = "arrays.npz"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a torch file stem: no folders, no dot files


class Persistable(Protocol):
    """What saving and loading need of a method (:class:`harmbench.method.BaseMethod` has it all).

    The class is built from the saved parameters (``cls(**params)``), then given its fitted state.
    """

    name: ClassVar[str]
    artifact_version: ClassVar[int]

    def __init__(self, **params: Any) -> None: ...

    @classmethod
    def param_defaults(cls) -> ParamDict: ...

    def get_params(self) -> ParamDict: ...

    def _get_state(self) -> dict[str, Any]: ...

    def _set_state(self, state: dict[str, Any]) -> None: ...


P = TypeVar("P", bound=Persistable)


def save_artifact(method: Persistable, directory: PathLike) -> Path:
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
    """The parsed ``artifact.json`` of ``directory``, checked to be a JSON object of the right shape."""
    d = Path(directory)
    f = d / ARTIFACT_FILE
    if not f.is_file():
        raise ArtifactError(f"{d} is not a harmbench model directory (no {ARTIFACT_FILE})")
    try:
        meta = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{f} is damaged: {exc.msg}") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{f} is unreadable ({type(exc).__name__})") from None
    if not isinstance(meta, dict):
        raise ArtifactError(f"{f} must hold a JSON object; got {type(meta).__name__}")
    for key, kind in (("params", dict), ("state", dict), ("arrays", list), ("torch", list)):
        if key in meta and not isinstance(meta[key], kind):
            raise ArtifactError(f"{f}: {key!r} must be a JSON {'object' if kind is dict else 'list'}; "
                                f"got {type(meta[key]).__name__}")
    for key in ("arrays", "torch"):
        bad = [n for n in meta.get(key, []) if not isinstance(n, str) or not _SAFE_NAME.match(n)]
        if bad:
            raise ArtifactError(f"{f}: invalid {key} names {bad}")
    return meta


def require_model_target(directory: PathLike, method: str, *, force: bool = False) -> None:
    """Check that a model for ``method`` may be saved into ``directory`` (``harmbench fit --out``).

    Refuses (``DataError``) a folder holding another method's artifact, or any non-empty folder
    without an artifact, unless ``force``; refitting the same method's model is allowed. Also
    requires the folder to be writable, so a fit never runs only to fail at the end.
    """
    d = Path(directory)
    require_writable_dir(d)
    if force or not d.is_dir() or not any(d.iterdir()):
        return
    f = d / ARTIFACT_FILE
    owner = None
    if f.is_file():
        try:
            meta = json.loads(f.read_text(encoding="utf-8"))
            owner = meta.get("method") if isinstance(meta, dict) else None
        except (OSError, ValueError):
            owner = None
    if owner == method:
        return
    what = f"a model of method {owner!r}" if owner else "files that are not a model of this method"
    raise DataError(f"{d} already holds {what}; choose another --out or pass --force "
                    f"to write {method!r} there")


def load_artifact(cls: type[P], directory: PathLike) -> P:
    d = Path(directory)
    meta = read_artifact_meta(d)
    if meta.get("method") != cls.name:
        raise ArtifactError(f"model in {d} was saved by method {meta.get('method')!r}; expected {cls.name!r}")
    found = meta.get("format_version")
    if type(found) is not int or found != cls.artifact_version:   # "1", 1.0 and true are not version 1
        shown = found if type(found) is int else (
            f"{found!r} (a {'string' if isinstance(found, str) else type(found).__name__})")
        raise ArtifactError(f"model in {d} has format version {shown}; {cls.name} reads version {cls.artifact_version}")
    defaults = cls.param_defaults()
    unknown = sorted(set(meta.get("params", {})) - set(defaults))
    if unknown:
        raise ArtifactError(f"model in {d} has unknown {cls.name} parameters {unknown}; "
                            f"expected some of {sorted(defaults)}")
    params = {k: tuple(v) if isinstance(v, list) and isinstance(defaults.get(k), tuple) else v
              for k, v in meta.get("params", {}).items()}  # JSON has no tuples
    method = cls(**params)
    state: dict[str, Any] = {"json": meta.get("state", {})}
    if meta.get("arrays"):
        state["arrays"] = _load_arrays(d / ARRAYS_FILE, meta["arrays"])
    if meta.get("torch"):
        state["torch"] = {k: _load_weights(d / f"{k}.pt") for k in meta["torch"]}
    try:
        method._set_state(state)
    except HarmbenchError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        # a state the method cannot use: report it as a damaged model, on one line
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ArtifactError(f"model in {d} does not fit {cls.name} ({type(exc).__name__}: {first})") from None
    method.fitted_ = True
    return method


def _load_arrays(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """Every array of ``arrays.npz``; all of ``names`` must be present and numeric arrays finite."""
    if not path.is_file():
        raise ArtifactError(f"model file missing: {path} (artifact.json lists arrays {names})")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ArtifactError(f"{path} holds pickled objects; refusing to load it") from None
        raise ArtifactError(f"{path} is damaged or truncated ({type(exc).__name__})") from None
    except Exception as exc:  # zipfile, zlib and OS errors for a truncated / non-npz file
        raise ArtifactError(f"{path} is damaged or truncated ({type(exc).__name__})") from None
    missing = sorted(set(names) - set(arrays))
    if missing:
        raise ArtifactError(f"{path} lacks arrays {missing}; has {sorted(arrays)}")
    for k, a in arrays.items():
        _require_finite(a, f"{path.name}: array {k!r}")
    return arrays


def _load_weights(path: Path) -> dict[str, Any]:
    """A ``state_dict`` (name -> tensor) from ``path``, every floating tensor finite."""
    import torch

    sd = load_torch(path)
    if not isinstance(sd, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in sd.items()):
        raise ArtifactError(f"{path} is not a state_dict (names -> tensors); got {type(sd).__name__}")
    for k, t in sd.items():
        if t.is_floating_point() or t.is_complex():
            bad = int(t.numel() - torch.isfinite(t).sum())
            if bad:
                raise ArtifactError(f"{path.name}: weight {k!r} has {bad} non-finite values of {t.numel()}")
    return dict(sd)


def _require_finite(a: np.ndarray, what: str) -> None:
    if a.dtype.kind in "fc":
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        if bad:
            raise ArtifactError(f"{what} has {bad} non-finite values of {a.size}")


def load_state_dict_checked(net: Any, state_dict: Mapping[str, Any], what: str) -> None:
    """``net.load_state_dict(state_dict)`` after checking names and shapes, with a one-line error.

    Args:
        net: a ``torch.nn.Module``.
        state_dict: weights read from a model directory.
        what: names the network in the message (``"oml-cyclegan G_fu2bl"``).
    """
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise ArtifactError(f"{what}: saved weights do not match the network (missing {_few(missing)}, "
                            f"unexpected {_few(unexpected)})")
    for k, t in expected.items():
        got = tuple(getattr(state_dict[k], "shape", ()))
        if got != tuple(t.shape):
            raise ArtifactError(f"{what}: saved weight {k!r} has shape {got}; "
                                f"the network expects {tuple(t.shape)}")
    net.load_state_dict(state_dict)


def _few(names: list[str], n: int = 3) -> str:
    if not names:
        return "[]"
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, (np.generic,)):
            v = v.item()
        if isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out
