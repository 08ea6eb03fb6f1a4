"""Automated change read: a reproducible surrogate of the paper's reader study (Table 5).

From the BL and FU target-lesion segmentations (the fixed segmenter of
:mod:`harmbench.metrics.lesion_seg`, or manifest masks) three objective measurements are taken:

* relative volume change ΔV/V = (V_FU − V_BL) / V_BL (volumes in mm³ from the voxel spacing);
* enhancement change ΔC = C_FU / C_BL − 1 of the lesion-to-WM contrast C = E − 1 = (L − W) / W,
  where E is the enhancement ratio of :class:`~harmbench.metrics.lesion_seg.LesionSegmentation`
  (median intensity of the enhancing lesion voxels L over the local WM median W). The contrast,
  not the ratio, is used because it is what a reader perceives: a lesion/WM ratio going from
  1.30 to 1.39 is a 30 % stronger enhancement but only a 7 % larger ratio;
* boundary displacement = average Hausdorff distance (mm) between the two masks.

Calls (1 = "changed", 0 = "unchanged"):

* ``change-size``: |ΔV/V| > ``size_threshold`` (0.20) **and** |V_FU − V_BL| exceeds the
  resolution floor, a shell of ``shell_voxels`` (0.5) voxel thickness over the BL lesion surface
  (|∂BL| · shell_voxels · voxel volume) — smaller changes are partial-volume noise;
* ``change-enhancement``: |ΔC| > ``enhancement_threshold`` (0.30);
* ``change-border``: average HD > ``border_mm`` (1.5 mm);
* ``change-any``: any of the three.

Empty masks: no BL lesion (no seed or empty BL segmentation) -> every value NaN. A lesion found on
BL but not on FU (vanished or no longer enhancing) -> ΔV/V = −1 and all four calls 1. An
undefined enhancement ratio (no WM reference) makes ``change-enhancement`` NaN; ``change-any``
then uses the other two calls.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.metrics.lesion import lesion_pair
from harmbench.metrics.lesion_seg import LesionSegmenter
from harmbench.metrics.surface import surface, surface_scores

CALLS = ("change-size", "change-enhancement", "change-border", "change-any")
MEASURES = ("lesion-volume-change", "lesion-enhancement-change", "lesion-border-shift")


class ChangeRead(Metric):
    """Thresholded change calls on the target lesion, BL vs scored FU.

    Emits per case the 0/1 calls ``change-size``, ``change-enhancement``, ``change-border``,
    ``change-any`` and the measurements ``lesion-volume-change`` (ΔV/V, signed),
    ``lesion-enhancement-change`` (ΔC, signed) and ``lesion-border-shift`` (average HD, mm).
    On stable lesions (test-A) the mean of a call is its false-progression rate; on changed lesions
    (test-B, ``ctx.change`` ≠ 0) the mean of ``change-size`` is the sensitivity to real change.

    Args:
        size_threshold: |ΔV/V| above which size is called changed.
        shell_voxels: thickness (voxels) of the BL-surface shell used as the volume floor.
        enhancement_threshold: |ΔC| above which enhancement is called changed.
        border_mm: average Hausdorff distance (mm) above which the border is called changed.
        source: ``"auto"`` (fixed segmenter) or ``"manifest"`` (manifest lesion masks).
        level, margin_mm: segmenter parameters.
    """

    name = "change-read"
    kind = "change"
    higher_is_better = None
    description = "automated change read (size / enhancement / border) of the target lesion"
    emits: ClassVar[dict[str, bool | None]] = {**{c: None for c in CALLS}, **{m: None for m in MEASURES}}

    def __init__(self, *, size_threshold: float = 0.20, shell_voxels: float = 0.5,
                 enhancement_threshold: float = 0.30, border_mm: float = 1.5, source: str = "auto",
                 level: float = 0.5, margin_mm: float = 10.0) -> None:
        self.size_threshold = size_threshold
        self.shell_voxels = shell_voxels
        self.enhancement_threshold = enhancement_threshold
        self.border_mm = border_mm
        self.source = source
        self.level = level
        self.margin_mm = margin_mm

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        bl, fu = lesion_pair(ctx, LesionSegmenter(level=self.level, margin_mm=self.margin_mm), self.source)
        if bl.empty:
            return [MetricValue(n, "", math.nan) for n in CALLS + MEASURES]
        if fu.empty:
            vals = dict.fromkeys(CALLS, 1.0)
            vals.update({"lesion-volume-change": -1.0, "lesion-enhancement-change": math.nan,
                         "lesion-border-shift": math.nan})
            return [MetricValue(n, "", vals[n]) for n in CALLS + MEASURES]
        voxel = float(np.prod(ctx.bl.spacing))
        v_bl, v_fu = bl.mask.sum() * voxel, fu.mask.sum() * voxel
        dv = float((v_fu - v_bl) / v_bl)
        floor = self.shell_voxels * int(surface(bl.mask).sum()) * voxel
        c_bl, c_fu = bl.enhancement - 1.0, fu.enhancement - 1.0
        de = c_fu / c_bl - 1.0 if c_bl > 0 else math.nan
        shift = surface_scores(bl.mask, fu.mask, ctx.bl.spacing).avg_hd
        size = float(abs(dv) > self.size_threshold and abs(v_fu - v_bl) > floor)
        enh = float(abs(de) > self.enhancement_threshold) if np.isfinite(de) else math.nan
        border = float(shift > self.border_mm)
        calls = {"change-size": size, "change-enhancement": enh, "change-border": border,
                 "change-any": float(size == 1.0 or enh == 1.0 or border == 1.0)}
        out = [MetricValue(n, "", float(calls[n])) for n in CALLS]
        out += [MetricValue("lesion-volume-change", "", dv), MetricValue("lesion-enhancement-change", "", float(de)),
                MetricValue("lesion-border-shift", "", float(shift))]
        return out
