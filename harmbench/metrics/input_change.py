"""How much a run changed its input: RMS of (scored FU − original FU) inside the BL head mask.

The leaderboard uses this to mark runs that barely touch the image as "≈ identity"
(:data:`harmbench.leaderboard.summary.IDENTITY_RMS_FLOOR`): a method whose output differs from its
input by a few 1e-4 can still win a paired test against the original FU on every case, and the
tables must not present that as an improvement.

Definition (prepared volumes, nominal intensity range [0, 1], so the value is a fraction of that
range): ``sqrt(mean((fu - fu_original)²))`` over the voxels of
:func:`harmbench.masking.head_mask` of the BL image. NaN when the mask is empty. The original FU
scored against itself gives 0; the same-scanner FU2 row gives the (large) FU2 − FU difference.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.metrics.region import case_head_mask
from harmbench.volume import require_same_grid

INPUT_RMS_CHANGE = "input-rms-change"


def rms_change(img: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """RMS of ``img - original`` over ``mask`` (3-D arrays of one shape); NaN if the mask is empty."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return math.nan
    d = np.asarray(img, np.float64)[m] - np.asarray(original, np.float64)[m]
    return float(np.sqrt(np.mean(d * d)))


class InputChange(Metric):
    """RMS change of the scored image relative to the original FU, in [0, 1] intensity units.

    Emits ``input-rms-change`` (no better direction: it describes the run, it does not rank it).
    """

    name = "input-change"
    kind = "input-change"
    higher_is_better = None
    description = "RMS of (scored FU - original FU) over the BL head mask, [0, 1] intensity units"
    emits: ClassVar[dict[str, bool | None]] = {INPUT_RMS_CHANGE: None}

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        require_same_grid(ctx.fu, ctx.bl)
        require_same_grid(ctx.fu_original, ctx.bl, what_a="original FU")
        mask = case_head_mask(ctx)
        return [MetricValue(INPUT_RMS_CHANGE, "", rms_change(ctx.fu.data, ctx.fu_original.data, mask))]
