"""A toy scanner pair whose difference is a known smooth intensity curve (the identity-trap tests).

BL slices are smooth random "tissue" inside a disc with air outside; the FU scanner's response is
:func:`scanner_curve` of BL, a monotone, smooth, nonlinear (concave) map with f(0) = 0 and f(1) = 1.
A harmonization model that learns anything must learn this curve; one that stays at the identity
has fallen into the identity trap. Used by ``tests/gan`` and ``tests/stgan``; available to plugin
authors for the same check.
"""

from __future__ import annotations

import numpy as np


def scanner_curve(x: np.ndarray) -> np.ndarray:
    """FU scanner response on [0, 1]: ``(1 − e^{−2.5x}) / (1 − e^{−2.5})``."""
    return (1.0 - np.exp(-2.5 * x)) / (1.0 - np.exp(-2.5))


def head_slices(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """(n, size, size) float32 BL slices in [0, 1]: smooth tissue (0.15–0.85) in a disc of radius
    0.4·size, air (0) outside."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    head = (yy**2 + xx**2) < (0.4 * size) ** 2
    out = np.zeros((n, size, size), np.float32)
    for i in range(n):
        t = gaussian_filter(rng.standard_normal((size, size)), 2.0)
        t = (t - t.min()) / (t.max() - t.min())
        out[i] = np.where(head, 0.15 + 0.7 * t, 0.0)
    return out
