"""Data-driven start for the generators' intensity curve: the cohort's quantile map (issue #23).

A residual generator with an :class:`~harmbench_gan.networks.IntensityCurve` outputs
``tanh(atanh(x) + f(x) + c(x))``. With ``f`` zero-initialised and ``c = 0`` it starts as the identity
map, and on a subtle scanner shift (``synth-quick-ge``) an unpaired CycleGAN then sits near the
identity for a third of its budget and leaves it on a path that overshoots the global map. With
``curve_init="quantile"`` the curve starts instead at the *pooled* quantile map of the training
set: the monotone map that takes the distribution of all training FU voxels inside the BL head
onto the distribution of all training BL voxels there (and the reverse for ``G_bl2fu``). It uses
only the two marginal distributions, never the pairing of voxels, so it is information an unpaired
CycleGAN is entitled to, and it is a cohort-level map (fixed at test time), unlike the
``histmatch`` method, which matches each test FU to that patient's own BL.

The map is fitted in the residual's pre-activation space, ``c(x) ≈ atanh(q(x)) − atanh(x)`` at the
quantile nodes, by ridge-regularised least squares over the curve's fixed hinge basis, with the
background (air, ``x`` below the head's lowest quantile) anchored at ``c = 0``.
"""

from __future__ import annotations

import numpy as np
import torch

from harmbench.errors import DataError

#: quantile levels of the map (0.5 % to 99.5 %: the extreme tails are single noisy voxels)
LEVELS = np.linspace(0.005, 0.995, 199)
#: background anchor points between the padding value (-1) and the head's lowest quantile
N_ANCHORS = 20
#: ridge weight on the hinge coefficients (keeps hinges without data at 0)
RIDGE = 1e-4
_CLIP = 0.999  # as residual_output


def quantile_nodes(src: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The monotone quantile map of ``src`` onto ``ref`` (1-D intensities in [-1, 1]) at :data:`LEVELS`."""
    if src.size < 2 or ref.size < 2:
        raise DataError("curve_init='quantile' needs voxels inside the head in the training slices")
    xs = np.quantile(src, LEVELS)
    ys = np.quantile(ref, LEVELS)
    return xs, np.maximum.accumulate(ys)


def curve_coefficients(features, xs: np.ndarray, ys: np.ndarray) -> torch.Tensor:
    """Least-squares coefficients of ``c(x) = atanh(y) − atanh(x)`` over ``features`` (the curve's basis).

    ``features``: a callable mapping a 1-D float tensor of intensities to the (n, k) basis matrix
    (:meth:`IntensityCurve.features`). Background anchors from -1 up to ``xs[0]`` target 0.
    """
    anchors = np.linspace(-1.0, float(xs[0]), N_ANCHORS, endpoint=False)
    x = np.concatenate([anchors, xs])
    target = np.concatenate([np.zeros(N_ANCHORS),
                             np.arctanh(np.clip(ys, -_CLIP, _CLIP)) - np.arctanh(np.clip(xs, -_CLIP, _CLIP))])
    a = features(torch.as_tensor(x, dtype=torch.float64)).double()
    k = a.shape[1]
    reg = torch.eye(k, dtype=torch.float64) * RIDGE
    reg[0, 0] = reg[1, 1] = 0.0  # offset and slope free; only the hinges are shrunk
    lhs = a.T @ a + reg
    rhs = a.T @ torch.as_tensor(target, dtype=torch.float64)
    return torch.linalg.solve(lhs, rhs)


def head_values(images: np.ndarray, head: np.ndarray) -> np.ndarray:
    """The voxels of ``images`` inside ``head`` (both (N, H, W)), as float64."""
    return np.asarray(images[head], dtype=np.float64)
