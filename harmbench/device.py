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


#: environment override of :func:`cpu_native_bf16` (``1``/``0``): forces the bf16 training path on
#: or off, e.g. to check its quality on a CPU without bf16 units (where it is emulated and slow)
BF16_ENV = "HARMBENCH_CPU_BF16"


def cpu_native_bf16() -> bool:
    """True when this CPU has bfloat16 arithmetic units (AVX-512 BF16 or AMX) that torch's kernels use.

    Detected, never assumed: torch's own CPU capability probe, else the ``/proc/cpuinfo`` flags
    (``avx512_bf16``, ``amx_bf16``). :data:`BF16_ENV` overrides the answer.
    """
    import os

    forced = os.environ.get(BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    import torch

    probe = getattr(torch, "cpu", None)
    try:
        return bool(probe._is_avx512_bf16_supported() or probe._is_amx_tile_supported())  # type: ignore[union-attr]
    except AttributeError:
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


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
            "cpu_native_bf16": cpu_native_bf16(),
            "torch_threads": torch.get_num_threads(), "numpy": np.__version__}
