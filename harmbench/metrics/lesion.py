"""Target-lesion agreement between BL and the scored FU: Dice and Hausdorff distances (mm).

The lesion is segmented on BL and on the scored image with
:func:`harmbench.metrics.lesion_seg.default_segmenter` (``source="auto"``, default), or taken from
the manifest's lesion masks (``source="manifest"``: ``ctx.lesion_bl`` vs ``ctx.lesion_fu``, i.e.
user segmentations override the segmenter). Distances use the voxel spacing of the BL affine.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from harmbench.errors import DataError
from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.metrics.lesion_seg import LesionSegmentation, Segmenter, default_segmenter, segment_pair
from harmbench.metrics.shared import params_key
from harmbench.metrics.surface import surface_scores
from harmbench.volume import require_same_grid

SOURCES = ("auto", "manifest")


def lesion_pair(ctx: ScoringContext, segmenter: Segmenter,
                source: str) -> tuple[LesionSegmentation, LesionSegmentation]:
    """BL and FU target-lesion segmentations of one case (see module docstring).

    Computed once per scored image for each segmenter policy and source (the ``lesion`` and
    ``change-read`` metrics share it), BL's once per case (:mod:`harmbench.metrics.shared`).
    """
    if source not in SOURCES:
        raise DataError(f"lesion source must be one of {SOURCES}; got {source!r}")
    require_same_grid(ctx.fu, ctx.bl)
    key = ("lesion-pair", type(segmenter).__qualname__, params_key(segmenter.policy()), source)
    return ctx.shared.for_image(key, lambda: _lesion_pair(ctx, segmenter, source, key))


def _lesion_pair(ctx: ScoringContext, segmenter: Segmenter, source: str,
                 key: tuple) -> tuple[LesionSegmentation, LesionSegmentation]:
    spacing = ctx.bl.spacing
    seed = np.zeros(ctx.bl.shape, bool) if ctx.lesion_bl is None else np.asarray(ctx.lesion_bl, bool)
    lab_fu = ctx.labels_fu if ctx.labels_fu is not None else ctx.labels_bl
    if source == "manifest":
        fu_mask = np.zeros(ctx.bl.shape, bool) if ctx.lesion_fu is None else np.asarray(ctx.lesion_fu, bool)
        bl = ctx.shared.for_case(("lesion-bl",) + key[1:], lambda: segmenter.measure(
            ctx.bl.data, seed, seed, spacing, ctx.labels_bl))
        return bl, segmenter.measure(ctx.fu.data, fu_mask, seed, spacing, lab_fu)
    bl = ctx.shared.for_case(("lesion-bl",) + key[1:], lambda: segmenter.segment_reference(
        ctx.bl.data, seed, spacing, ctx.labels_bl))
    return segment_pair(segmenter, bl=ctx.bl.data, fu=ctx.fu.data, seed=seed, spacing=spacing,
                        labels_bl=ctx.labels_bl, labels_fu=ctx.labels_fu, bl_segmentation=bl)


class LesionOverlap(Metric):
    """Dice and Hausdorff distances between BL and FU target-lesion segmentations.

    Emits ``lesion-dice`` (higher is better), ``lesion-hd`` (max symmetric Hausdorff, mm),
    ``lesion-hd95`` (max of the two directed 95th percentiles, mm) and ``lesion-avg-hd`` (mean of
    the two directed mean surface distances, mm); definitions in
    :mod:`harmbench.metrics.surface`. Without a BL lesion seed, or when the BL segmentation is
    empty, all four are NaN; an empty FU segmentation gives Dice 0 and NaN distances.

    Args:
        source: ``"auto"`` (segment BL and FU with the fixed segmenter) or ``"manifest"`` (use
            the lesion masks of the manifest as they are).
        margin_mm: segmenter ROI margin (:func:`~harmbench.metrics.lesion_seg.default_segmenter`).
    """

    name = "lesion"
    kind = "lesion"
    higher_is_better = True
    description = "target-lesion Dice and Hausdorff (max, 95th pct, average; mm) BL vs FU"
    emits: ClassVar[dict[str, bool | None]] = {"lesion-dice": True, "lesion-hd": False, "lesion-hd95": False, "lesion-avg-hd": False}

    def __init__(self, *, source: str = "auto", margin_mm: float = 10.0) -> None:
        self.source = source
        self.margin_mm = margin_mm

    def policy(self) -> dict[str, object]:
        return {**super().policy(), "segmenter": default_segmenter(self.margin_mm).policy()}

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        seg = default_segmenter(self.margin_mm)
        bl, fu = lesion_pair(ctx, seg, self.source)
        names = ("lesion-dice", "lesion-hd", "lesion-hd95", "lesion-avg-hd")
        if bl.empty:
            return [MetricValue(n, "", math.nan) for n in names]
        s = surface_scores(bl.mask, fu.mask, ctx.bl.spacing)
        return [MetricValue(n, "", v) for n, v in zip(names, (s.dice, s.hd, s.hd95, s.avg_hd))]
