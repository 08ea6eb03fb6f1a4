"""Preprocessing: isotropic resampling, rigid FU->BL registration, [0, 1] scaling, slice range.

Public entry point: :func:`prepare_manifest`.
"""

from __future__ import annotations

from harmbench.preprocess.pipeline import prepare_manifest

__all__ = ["prepare_manifest"]
