"""Histogram matching of the FU image to the same patient's BL, inside the head mask; air is left alone."""

from __future__ import annotations

import numpy as np
from skimage.exposure import match_histograms

from harmbench.masking import head_mask
from harmbench.method import BaseMethod, Capabilities
from harmbench.params import Options
from harmbench.volume import Volume


class HistogramMatching(BaseMethod):
    """Match the FU intensity histogram to the patient's BL (the paper's comparator).

    Implements the "histogram matching" baseline of Hwang et al., Sci Rep 2026: a monotone
    intensity map taking the FU foreground distribution onto the BL foreground distribution
    (``skimage.exposure.match_histograms`` on the voxels of the union of both head masks; FU must be
    registered to BL, which the method's ``needs_reference`` capability enforces via equal grids).
    Only voxels inside that union are mapped; voxels outside it (air) are returned unchanged, so
    the FU's own air is neither stretched nor shifted onto BL's. If both head masks are empty
    (constant images) every voxel is mapped.

    Args:
        mask: ``"head"`` (union of the Otsu-based head masks of FU and BL, see
            :func:`harmbench.masking.head_mask`; air unchanged) or ``"none"`` (all voxels mapped).
    """

    name = "histmatch"
    capabilities = Capabilities(needs_training=False, needs_reference=True)
    _parameter_constraints = {"mask": [Options({"head", "none"})]}

    def __init__(self, *, mask: str = "head") -> None:
        self.mask = mask

    def _transform(self, fu: Volume, *, reference: Volume | None) -> Volume:
        assert reference is not None  # guaranteed by BaseMethod.transform
        src, ref = fu.data, reference.data
        ms = mr = None
        if self.mask == "head":
            # FU is registered to BL (same grid), so one mask covers the same anatomy in both;
            # separate per-image masks would cut different tissues (e.g. dim CSF) from each.
            common = head_mask(src) | head_mask(ref)
            if common.any():
                ms = mr = common
        s_vals = src[ms] if ms is not None else src.ravel()
        r_vals = ref[mr] if mr is not None else ref.ravel()
        mapped = monotone_lookup(s_vals, match_histograms(s_vals, r_vals))
        if ms is None:
            return fu.with_data(mapped.reshape(src.shape).astype(np.float32))
        out = np.array(src, dtype=np.float32)  # air (outside the head) keeps the FU's own values
        out[ms] = mapped
        return fu.with_data(out)


def monotone_lookup(values: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """Each value's output under the monotone lookup table of the matched values (float64).

    The table maps each distinct value ``x`` (ascending) to the running maximum of ``matched`` at
    the first occurrence of ``x`` in the stably sorted ``values``, so ties share one output value
    and the map never decreases. Every value is one of the table's nodes, so the result is
    ``np.interp(values, xs, ys)`` (which returns ``ys[j]`` at a node ``xs[j]``) read off by group
    index in one pass over the sorted values instead of a binary search per voxel.

    Args:
        values: 1-D intensities (finite).
        matched: ``match_histograms`` of ``values``, same shape.
    """
    values = np.asarray(values).ravel()
    if values.size == 0:
        return np.zeros(0)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.empty(ordered.size, bool)  # the first of each run of equal values
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    ys = np.maximum.accumulate(np.asarray(matched).ravel()[order][first].astype(np.float64))
    out = np.empty(values.size, np.float64)
    out[order] = ys[np.cumsum(first) - 1]
    return out
