"""Build ScoringContexts from arrays for metric tests."""

from __future__ import annotations

import numpy as np

from harmbench.data.cohort import Case
from harmbench.metrics.base import ScoringContext
from harmbench.volume import Volume


def make_ctx(bl: np.ndarray, fu: np.ndarray, *, spacing=(1.0, 1.0, 1.0), recon: np.ndarray | None = None,
             labels: np.ndarray | None = None, labels_fu: np.ndarray | None = None,
             lesion_bl: np.ndarray | None = None, lesion_fu: np.ndarray | None = None,
             slice_range: tuple[int, int] | None = None, change: float | None = None) -> ScoringContext:
    aff = np.diag(list(spacing) + [1.0])
    b = Volume(bl.astype(np.float32), aff)
    f = Volume(fu.astype(np.float32), aff)
    r = None if recon is None else Volume(recon.astype(np.float32), aff)
    return ScoringContext(case=Case("c0", "s0", "test-A", change=change), bl=b, fu=f, fu_original=f, recon=r,
                          labels_bl=labels, labels_fu=labels_fu, lesion_bl=lesion_bl, lesion_fu=lesion_fu,
                          slice_range=slice_range, change=change)


def values(rows) -> dict[str, float]:
    return {(r.metric + (":" + r.region if r.region else "")): r.value for r in rows}


def head(shape=(40, 44, 36), seed=0) -> np.ndarray:
    """A smooth ellipsoidal 'head' in [0, 1] with texture, zero outside."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.meshgrid(*(np.linspace(-1, 1, s) for s in shape), indexing="ij")
    r = np.sqrt((zz / 0.8) ** 2 + (yy / 0.85) ** 2 + (xx / 0.8) ** 2)
    img = np.where(r < 1, 0.5 + 0.3 * np.cos(6 * zz) * np.sin(5 * yy), 0.0)
    img += (r < 1) * rng.normal(0, 0.02, shape)
    return np.clip(img, 0, 1).astype(np.float32)
