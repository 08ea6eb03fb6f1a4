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


def platform_info() -> dict[str, str | int]:
    """Where a run happened: OS, Python, CPU model and vector ISA, torch build and threads.

    Stored in ``runs.json``. Trained deep methods are reproducible bit for bit only on the same
    CPU ISA and library builds: other SIMD kernels round differently and GAN training amplifies
    the difference (documented in docs/methods-gan.md).
    """
    import os
    import platform

    import numpy as np
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "unknown")()
    return {"os": platform.platform(), "python": platform.python_version(), "cpu": cpu,
            "cpu_count": os.cpu_count() or 0, "torch": torch.__version__, "torch_cpu_capability": capability,
            "torch_threads": torch.get_num_threads(), "numpy": np.__version__}
