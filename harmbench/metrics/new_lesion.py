"""New-lesion detectability: is a lesion that appeared at follow-up still visible after harmonization?

A new lesion (absent at BL) is marked in the follow-up label maps with its own ID,
:data:`NEW_LESION_LABEL` + k for the k-th (the synthetic cohort's test-B follow-ups with
inter-session biology; a real dataset can mark its new lesions the same way). Label maps follow the
image through preparation (nearest neighbour), so the masks sit on the scored image's grid.

Per new lesion, on an image: **contrast** C = (median(image[lesion]) − median(image[shell])) / σ,
the shell being the voxels within ``shell_mm`` (at least 1.5 voxels) outside the lesion that are
brain (label > 0) and not another lesion, and σ = 1.4826 · MAD(image[shell]) a robust SD of the
local background. A lesion is **detectable** when C > ``threshold``.

Emits (NaN when the scored session's label map holds no new lesion):

* ``new-lesion-detected``: fraction of new lesions detectable on the scored image;
* ``new-lesion-contrast``: their mean C on the scored image;
* ``new-lesion-contrast-ratio``: mean of C(scored) / C(original FU), over the lesions with
  C(original FU) > 0 (the original FU's lesions are taken from FU's own label map);
* ``new-lesion-count``: new lesions found in the label map.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from scipy import ndimage

from harmbench.errors import DataError
from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.metrics.shared import params_key

#: label-map ID of the first new lesion of a follow-up (the k-th: + k); outside FreeSurfer's table
NEW_LESION_LABEL = 30001
MAX_NEW_LESIONS = 100
#: FreeSurfer Left-/Right-Lesion (every pre-existing lesion in the synthetic cohort)
OLD_LESION_LABELS = (25, 57)


def new_lesion_ids(labels: np.ndarray) -> list[int]:
    """The new-lesion IDs present in a label map, ascending."""
    ids = np.unique(labels[(labels >= NEW_LESION_LABEL) & (labels < NEW_LESION_LABEL + MAX_NEW_LESIONS)])
    return [int(i) for i in ids]


def local_contrast(image: np.ndarray, mask: np.ndarray, spacing: tuple[float, ...], *,
                   shell_mm: float = 4.0, exclude: np.ndarray | None = None, min_voxels: int = 6) -> float:
    """Contrast of ``mask`` to its local background in robust-SD units (module docstring).

    Args:
        image: the image (any intensity scale).
        mask: boolean lesion mask, ``image.shape``.
        spacing: voxel size (mm) along each axis.
        shell_mm: outer distance (mm) of the background shell; at least 1.5 voxels.
        exclude: voxels never used as background (other lesions, outside the brain).
        min_voxels: smallest usable shell; NaN below it, for an empty mask or a zero MAD.
    """
    if not mask.any():
        return math.nan
    sp = np.asarray(spacing, float)
    reach = max(shell_mm, 1.5 * float(sp.max()))
    grow = np.ceil(reach / sp).astype(int) + 1
    where = np.argwhere(mask)
    lo = np.maximum(where.min(axis=0) - grow, 0)
    hi = np.minimum(where.max(axis=0) + 1 + grow, mask.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    d = ndimage.distance_transform_edt(~mask[box], sampling=sp)
    shell = (d > 0) & (d <= reach)
    if exclude is not None:
        shell &= ~exclude[box]
    if int(shell.sum()) < min_voxels:
        return math.nan
    sub = image[box].astype(np.float64)
    bg = sub[shell]
    sd = 1.4826 * float(np.median(np.abs(bg - np.median(bg))))
    if not sd > 0:
        return math.nan
    return (float(np.median(sub[mask[box]])) - float(np.median(bg))) / sd


def lesion_contrasts(image: np.ndarray, labels: np.ndarray, spacing: tuple[float, ...], *,
                     shell_mm: float = 4.0) -> dict[int, float]:
    """:func:`local_contrast` of every new lesion of ``labels`` on ``image``, by lesion ID."""
    labels = np.ascontiguousarray(labels)
    ids = new_lesion_ids(labels)
    if not ids:
        return {}
    lesions = np.isin(labels, OLD_LESION_LABELS) | (labels >= NEW_LESION_LABEL)
    outside = (labels <= 0) | lesions
    return {i: local_contrast(image, labels == i, spacing, shell_mm=shell_mm, exclude=outside) for i in ids}


class NewLesion(Metric):
    """Detectability of the follow-up's new lesions on the scored image (module docstring).

    Args:
        threshold: contrast (robust-SD units) above which a new lesion counts as detectable.
        shell_mm: outer distance (mm) of the local-background shell.

    Raises:
        DataError: the scored session's label map is not on the scored image's grid.
    """

    name = "new-lesion"
    kind = "lesion"
    higher_is_better = True
    description = "new lesions still detectable (contrast to local background) on the scored FU"
    emits: ClassVar[dict[str, bool | None]] = {"new-lesion-detected": True, "new-lesion-contrast": True,
                                                "new-lesion-contrast-ratio": True, "new-lesion-count": None}

    def __init__(self, *, threshold: float = 1.0, shell_mm: float = 4.0) -> None:
        self.threshold = threshold
        self.shell_mm = shell_mm

    def _original(self, ctx: ScoringContext) -> dict[int, float]:
        labels = None
        if ctx.case.has("FU") and ctx.case.ref("FU").labels is not None:
            labels = ctx.case.labels("FU")
        if labels is None or labels.shape != ctx.fu_original.shape:
            labels = ctx.labels_fu
        return lesion_contrasts(ctx.fu_original.data, labels, ctx.bl.spacing, shell_mm=self.shell_mm)

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        nan = [MetricValue(n, "", math.nan) for n in self.emits]
        if ctx.labels_fu is None or not new_lesion_ids(np.ascontiguousarray(ctx.labels_fu)):
            return nan
        if ctx.labels_fu.shape != ctx.fu.shape:
            raise DataError(f"FU label map has shape {ctx.labels_fu.shape}; "
                            f"the scored image has {ctx.fu.shape}")
        scored = lesion_contrasts(ctx.fu.data, ctx.labels_fu, ctx.bl.spacing, shell_mm=self.shell_mm)
        key = ("new-lesion-original", params_key(self.policy()))
        original = ctx.shared.for_case(key, lambda: self._original(ctx))
        c = np.array([v for v in scored.values()], float)
        ratios = [scored[i] / original[i] for i in scored
                  if np.isfinite(scored[i]) and np.isfinite(original.get(i, math.nan)) and original[i] > 0]
        finite = c[np.isfinite(c)]
        detected = float(np.mean(np.nan_to_num(c, nan=-np.inf) > self.threshold))
        return [MetricValue("new-lesion-detected", "", detected),
                MetricValue("new-lesion-contrast", "", float(finite.mean()) if finite.size else math.nan),
                MetricValue("new-lesion-contrast-ratio", "", float(np.mean(ratios)) if ratios else math.nan),
                MetricValue("new-lesion-count", "", float(len(scored)))]
