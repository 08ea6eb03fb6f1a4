"""Torch device selection: CUDA, then Apple MPS, then CPU; never hard-coded."""

from __future__ import annotations

from harmbench.errors import DataError


def select_device(requested: str | None = "auto") -> str:
    """Resolve ``"auto"``/None to the best available device, or validate an explicit one.

    Returns a torch device string such as ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"cpu"``.
    """
    import torch

    req = (requested or "auto").lower()
    if req == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if req.startswith("cuda") and not torch.cuda.is_available():
        raise DataError(f"device {requested!r} requested but CUDA is not available here")
    if req == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DataError("device 'mps' requested but MPS is not available here")
    if not (req == "cpu" or req == "mps" or req.startswith("cuda")):
        raise DataError(f"unknown device {requested!r}; expected auto, cpu, cuda[:N] or mps")
    return req
