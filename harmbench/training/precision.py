"""Training precision of the deep-learning kit: which autocast dtype a method trains and infers in.

Shared by every deep method (the slice GANs, STGAN) so that ``precision="auto"`` means the same
everywhere: bfloat16 autocast on a CPU with native bf16 units (AVX-512 BF16 or AMX, detected by
:func:`harmbench.device.cpu_native_bf16`), fp16 mixed precision on CUDA where a method supports
loss scaling, fp32 otherwise. Validation and harmonization on a CPU run in fp32 under ``auto``.
"""

from __future__ import annotations

import contextlib

import torch

from harmbench.device import cpu_native_bf16
from harmbench.errors import DataError

__all__ = ["PRECISIONS", "amp_dtype", "autocast", "inference_dtype"]

#: the accepted ``precision`` values
PRECISIONS = ("auto", "fp32", "mixed")


def amp_dtype(precision: str, device: str, *, fp16: bool = True) -> torch.dtype | None:
    """Autocast dtype of training steps for ``precision`` on ``device``; None = plain fp32.

    ``auto``: fp16 mixed precision on CUDA (with loss scaling); bfloat16 on a CPU with native
    bf16 units, where it trained to the same quality as fp32 (``benchmarks/bench_cyclegan_quick.py``,
    ``docs/methods-gan.md``); fp32 on other CPUs, where bf16 is emulated and ≈ 6x slower.
    ``mixed``: fp16 on CUDA, bfloat16 on any CPU. ``fp32``: never.

    ``fp16=False`` is for a method without loss scaling: on CUDA ``auto`` is then fp32 and
    ``mixed`` bfloat16.
    """
    if precision not in PRECISIONS:
        raise DataError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    kind = device.split(":")[0]
    if precision == "fp32" or (precision == "auto" and kind not in ("cuda", "cpu")):
        return None
    if kind == "cuda":
        if fp16:
            return torch.float16
        return torch.bfloat16 if precision == "mixed" else None
    if kind == "cpu":
        return torch.bfloat16 if precision == "mixed" or cpu_native_bf16() else None
    raise DataError(f"precision 'mixed' is supported on CUDA and the CPU, not on {device!r}; use 'fp32'")


def inference_dtype(precision: str, device: str, *, fp16: bool = True) -> torch.dtype | None:
    """Autocast dtype of validation and harmonization: ``auto`` on a CPU runs them in fp32 even
    where it trains in bfloat16, so a harmonized image keeps full precision (bf16 rounds ≈ 0.4 %
    of the range per pixel); otherwise as :func:`amp_dtype`."""
    if precision == "auto" and device.split(":")[0] == "cpu":
        return None
    return amp_dtype(precision, device, fp16=fp16)


def autocast(device: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on ``device``'s kind with ``dtype``; a no-op for None (fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.split(":")[0], dtype=dtype)
