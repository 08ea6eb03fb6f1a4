"""Automated change read: a reproducible surrogate of the paper's reader study (Table 5).

From the BL and FU target-lesion segmentations (the fixed segmenter of
:mod:`harmbench.metrics.lesion_seg`, or manifest masks) three objective measurements are taken:

* relative volume change ΔV/V = (V_FU − V_BL) / V_BL (the segmenter's volumes in mm³);
* enhancement change ΔC = C_FU / C_BL − 1 of the lesion-to-WM contrast C = E − 1 = (L − W) / W
  (E: enhancement ratio of :class:`~harmbench.metrics.lesion_seg.LesionSegmentation`);
* boundary displacement = mean distance (mm) between the two lesion outlines with their centres
  matched (a stable lesion moves with the brain between sessions): the fitted model surfaces when
  the segmenter provides them (continuous; :func:`border_shift`), else the masks' average
  Hausdorff distance, which moves in steps of whole voxel layers.

Calls (1 = "changed", 0 = "unchanged"): ``change-size`` |ΔV/V| > ``size_threshold``;
``change-enhancement`` |ΔC| > ``enhancement_threshold``; ``change-border`` shift > ``border_mm``;
``change-any`` any of the three. ``change-kept`` (cases with a known non-zero true change only):
the size call fired *and* in the direction of the true change.

**New lesions** (RANO-BM: a new lesion is progression). When the scored FU's label map marks new
lesions (IDs from :data:`~harmbench.metrics.new_lesion.NEW_LESION_LABEL`), ``change-new-lesion``
is 1 when every one of them is detectable on the scored image (local contrast above
``new_lesion_threshold``, :func:`~harmbench.metrics.new_lesion.local_contrast`) and 0 when any is
missed; such a case counts as changed: ``change-any`` also fires on a detected new lesion, and
``change-kept`` requires every new lesion kept (and, where the target changed, the size call in
the true direction), so a missed new lesion is a missed progression. Without new lesions
``change-new-lesion`` is NaN and the other calls are as above.

**Calibration** (:meth:`ChangeRead.calibrate`): the harness measures same-scanner pairs (BL vs
FU2, which carries the true change) of the *train and val* cases, never the test cases, and sets
the thresholds from them: the size threshold minimises false calls on stable plus misses on
changed pairs (middle of the longest run of best thresholds); the enhancement and border thresholds sit just above
the largest value seen on a stable pair. The thresholds and the pairs' counts are part of the
metric's policy (cache key, runs.json).

**Instrument values** (checks against the ground truth, used by the leaderboards' instrument
table): ``lesion-volume-error-bl`` = V_BL,measured / V_BL,true − 1 and ``lesion-volume-error`` the
same for the scored image against its session's true mask (``ctx.lesion_fu``);
``lesion-truth-dice`` = Dice(segmentation of the scored image, its true mask) and
``lesion-truth-dice-bl`` the same on BL;
``lesion-volume-change-error`` = measured − true ΔV/V (``ctx.change``).

Empty masks: no BL lesion → every value NaN. A lesion found on BL but not on FU → ΔV/V = −1 and
all calls 1. An undefined enhancement (no WM reference) makes ``change-enhancement`` NaN;
``change-any`` then uses the other two calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.metrics.lesion import lesion_pair
from harmbench.metrics.lesion_seg import LesionSegmentation, Segmenter, default_segmenter
from harmbench.metrics.new_lesion import lesion_contrasts, new_lesion_ids
from harmbench.metrics.surface import dice, surface_scores

#: version of the measurements and calibration rules (part of the policy, so cached scores and
#: calibrations of an older read are not reused). 2: border shift with centres matched; size
#: threshold at the middle of the longest run of best thresholds (1: the first run).
READ_VERSION = 2

CALLS = ("change-size", "change-enhancement", "change-border", "change-new-lesion", "change-any", "change-kept")
MEASURES = ("lesion-volume-change", "lesion-enhancement-change", "lesion-border-shift")
INSTRUMENT = ("lesion-volume-error-bl", "lesion-volume-error", "lesion-truth-dice-bl", "lesion-truth-dice",
              "lesion-volume-change-error")
#: true |ΔV/V| below which a calibration pair counts as stable, and above which as changed
STABLE_BELOW, CHANGED_ABOVE = 0.05, 0.15


class ChangeRead(Metric):
    """Thresholded change calls on the target lesion, BL vs scored FU (module docstring).

    Args:
        size_threshold: |ΔV/V| above which size is called changed (calibrated per dataset).
        enhancement_threshold: |ΔC| above which enhancement is called changed (calibrated).
        border_mm: border shift (mm, :func:`border_shift`) above which the border is called changed
            (calibrated).
        source: ``"auto"`` (fixed segmenter) or ``"manifest"`` (manifest lesion masks).
        margin_mm: segmenter ROI margin.
        calibration: summary of the calibration that set the thresholds ({} = defaults).
        new_lesion_threshold: local contrast (robust-SD units) above which a new lesion counts
            as seen (the ``new-lesion`` metric's default).
    """

    name = "change-read"
    kind = "change"
    higher_is_better = None
    description = "automated change read (size / enhancement / border) of the target lesion"
    calibrates = True
    emits: ClassVar[dict[str, bool | None]] = {
        **{c: None for c in CALLS}, **{m: None for m in MEASURES},
        "lesion-volume-error-bl": None, "lesion-volume-error": None, "lesion-truth-dice-bl": True,
        "lesion-truth-dice": True,
        "lesion-volume-change-error": None}

    def __init__(self, *, size_threshold: float = 0.15, enhancement_threshold: float = 0.30,
                 border_mm: float = 1.5, source: str = "auto", margin_mm: float = 10.0,
                 calibration: dict[str, Any] | None = None, new_lesion_threshold: float = 1.0) -> None:
        self.size_threshold = size_threshold
        self.enhancement_threshold = enhancement_threshold
        self.border_mm = border_mm
        self.source = source
        self.margin_mm = margin_mm
        self.calibration = dict(calibration or {})
        self.new_lesion_threshold = new_lesion_threshold

    def policy(self) -> dict[str, object]:
        return {**super().policy(), "read_version": READ_VERSION, "segmenter": self._segmenter().policy()}

    def _segmenter(self) -> Segmenter:
        return default_segmenter(self.margin_mm)

    def new_lesions_seen(self, ctx: ScoringContext) -> float:
        """1 if every new lesion of the scored FU's label map is detectable on it, 0 if any is not,
        NaN without new lesions (or without a label map on the scored grid)."""
        labels = ctx.labels_fu
        if labels is None or labels.shape != ctx.fu.shape or not new_lesion_ids(np.ascontiguousarray(labels)):
            return math.nan
        contrast = lesion_contrasts(ctx.fu.data, labels, ctx.bl.spacing)
        return float(all(np.isfinite(c) and c > self.new_lesion_threshold for c in contrast.values()))

    def measure(self, ctx: ScoringContext) -> dict[str, float]:
        """The measurements and instrument values of one case (no calls)."""
        bl, fu = lesion_pair(ctx, self._segmenter(), self.source)
        nan = math.nan
        out = dict.fromkeys(MEASURES + INSTRUMENT, nan)
        out["new-lesions-seen"] = self.new_lesions_seen(ctx)
        voxel = float(np.prod(ctx.bl.spacing))
        if ctx.lesion_bl is not None and np.any(ctx.lesion_bl):
            true_bl = _true_volume(ctx.lesion_bl_mm3, ctx.lesion_bl, voxel)
            out["lesion-volume-error-bl"] = bl.volume_mm3 / true_bl - 1.0
            out["lesion-truth-dice-bl"] = dice(bl.mask, np.asarray(ctx.lesion_bl, bool))
        if ctx.lesion_fu is not None and np.any(ctx.lesion_fu):
            true_fu = _true_volume(ctx.lesion_fu_mm3, ctx.lesion_fu, voxel)
            out["lesion-volume-error"] = fu.volume_mm3 / true_fu - 1.0
            out["lesion-truth-dice"] = dice(fu.mask, np.asarray(ctx.lesion_fu, bool))
        if bl.empty or not bl.volume_mm3 > 0:
            return out
        if fu.empty:
            out["lesion-volume-change"] = -1.0
        else:
            out["lesion-volume-change"] = fu.volume_mm3 / bl.volume_mm3 - 1.0
            c_bl, c_fu = bl.enhancement - 1.0, fu.enhancement - 1.0
            out["lesion-enhancement-change"] = c_fu / c_bl - 1.0 if c_bl > 0 else nan
            out["lesion-border-shift"] = border_shift(bl, fu, ctx.bl.spacing)
        if ctx.change is not None:
            out["lesion-volume-change-error"] = out["lesion-volume-change"] - float(ctx.change)
        return out

    def calls(self, m: dict[str, float], change: float | None) -> dict[str, float]:
        """0/1 calls (NaN where undefined) from the measurements of :meth:`measure`."""
        dv, new = m["lesion-volume-change"], m.get("new-lesions-seen", math.nan)
        if not np.isfinite(dv):
            return dict.fromkeys(CALLS, math.nan)
        if dv == -1.0 and not np.isfinite(m["lesion-border-shift"]):   # lesion gone on FU
            out = dict.fromkeys(("change-size", "change-enhancement", "change-border", "change-any"), 1.0)
        else:
            de, shift = m["lesion-enhancement-change"], m["lesion-border-shift"]
            size = float(abs(dv) > self.size_threshold)
            enh = float(abs(de) > self.enhancement_threshold) if np.isfinite(de) else math.nan
            border = float(shift > self.border_mm) if np.isfinite(shift) else math.nan
            out = {"change-size": size, "change-enhancement": enh, "change-border": border,
                   "change-any": float(size == 1.0 or enh == 1.0 or border == 1.0 or new == 1.0)}
        out["change-new-lesion"] = new
        target_changed = change is not None and abs(change) >= STABLE_BELOW
        kept = [float(out["change-size"] == 1.0 and np.sign(dv) == np.sign(change))] if target_changed else []
        if np.isfinite(new):  # new lesions: progression, whatever the target did
            kept.append(new)
        out["change-kept"] = float(all(k == 1.0 for k in kept)) if kept else math.nan
        return out

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        m = self.measure(ctx)
        c = self.calls(m, ctx.change)
        return [MetricValue(n, "", float(c[n])) for n in CALLS] + \
               [MetricValue(n, "", float(m[n])) for n in MEASURES + INSTRUMENT]

    def calibrate(self, contexts: Iterable[ScoringContext]) -> dict[str, Any]:
        """Thresholds from same-scanner pairs with known change (train/val BL vs FU2).

        Returns the constructor parameters to use (``{}`` when there are too few pairs: at least
        3 stable ones are needed).
        """
        stable: list[dict[str, float]] = []
        changed: list[tuple[float, dict[str, float]]] = []
        for ctx in contexts:
            if ctx.change is None:
                continue
            m = self.measure(ctx)
            if abs(ctx.change) < STABLE_BELOW:
                stable.append(m)
            elif abs(ctx.change) > CHANGED_ABOVE:
                changed.append((float(ctx.change), m))
        if len(stable) < 3:
            return {}
        size = _size_threshold([abs(m["lesion-volume-change"]) for m in stable],
                               [(c, m["lesion-volume-change"]) for c, m in changed])
        enh = _above_max([abs(m["lesion-enhancement-change"]) for m in stable], step=0.05,
                         floor=0.10)
        border = _above_max([m["lesion-border-shift"] for m in stable], step=0.1, floor=0.5)
        return {"size_threshold": size, "enhancement_threshold": enh, "border_mm": border,
                "calibration": {"pairs": "train+val BL vs FU2 (same scanner)", "stable": len(stable),
                                "changed": len(changed)}}


def border_shift(bl: LesionSegmentation, fu: LesionSegmentation, spacing: tuple[float, float, float]) -> float:
    """Mean distance (mm) between the BL and FU lesion outlines with their centres matched: between
    the fitted model surfaces when both segmentations carry one (continuous), else the masks'
    average Hausdorff distance after moving the FU mask by the whole-voxel centroid difference.

    Matching the centres leaves out where the lesion sits: between sessions a stable lesion moves
    with the brain around it (brain shift that rigid registration cannot remove, up to ≈ 2 mm in
    ``synth-quick-bio``), and a reader judges its outline, not its position."""
    if bl.surface is not None and fu.surface is not None:
        return bl.surface.mean_distance(fu.surface, match_centres=True)
    a, b = np.asarray(bl.mask, bool), np.asarray(fu.mask, bool)
    if a.any() and b.any():
        move = np.rint(np.mean(np.nonzero(a), axis=1) - np.mean(np.nonzero(b), axis=1)).astype(int)
        b = _translated(b, move)
    return surface_scores(a, b, spacing).avg_hd


def _translated(mask: np.ndarray, move: np.ndarray) -> np.ndarray:
    """``mask`` moved by whole voxels ``move`` (what leaves the grid is dropped)."""
    out = np.zeros_like(mask)
    src = tuple(slice(max(-m, 0), n - max(m, 0)) for m, n in zip(move, mask.shape))
    dst = tuple(slice(max(m, 0), n - max(-m, 0)) for m, n in zip(move, mask.shape))
    out[dst] = mask[src]
    return out


def _above_max(values: list[float], *, step: float, floor: float) -> float:
    """Smallest multiple of ``step`` above every finite value (at least ``floor``)."""
    v = [x for x in values if np.isfinite(x)]
    top = max(v) if v else 0.0
    return round(max(floor, step * (math.floor(top / step) + 1)), 6)


#: the thresholds on |ΔV/V| that the size calibration tries
SIZE_GRID = np.round(np.arange(0.05, 0.5001, 0.005), 4)


def size_errors(stable: list[float], changed: list[tuple[float, float]]) -> np.ndarray:
    """False calls (``stable``: |ΔV/V| values) plus misses (``changed``: (true change, measured ΔV/V);
    a wrong sign counts as a miss) at each threshold of :data:`SIZE_GRID`."""
    errors = []
    for t in SIZE_GRID:
        false = sum(1 for s in stable if np.isfinite(s) and s > t)
        miss = sum(1 for c, dv in changed if not (np.isfinite(dv) and abs(dv) > t and np.sign(dv) == np.sign(c)))
        errors.append(false + miss)
    return np.asarray(errors)


def _size_threshold(stable: list[float], changed: list[tuple[float, float]]) -> float:
    """Threshold on |ΔV/V| with the fewest false calls (stable) plus misses (changed, wrong sign
    counts as a miss): the middle of the longest run of best thresholds on a 0.005 grid within
    [0.05, 0.5] (the first such run on a tie). The longest run is the widest gap between the
    stable and changed values, so the threshold keeps the most room on both sides; a narrow run
    of best thresholds is a gap that one more case would close."""
    grid, errors = SIZE_GRID, size_errors(stable, changed)
    best = np.flatnonzero(errors == errors.min())
    runs = np.split(best, np.flatnonzero(np.diff(best) != 1) + 1)
    run = max(runs, key=len)   # max keeps the first of equally long runs
    return float(grid[run[len(run) // 2]])


def _true_volume(recorded: float | None, mask: np.ndarray, voxel: float) -> float:
    """The recorded true volume (manifest ``lesion_mm3``) when positive, else the mask's voxel volume."""
    if recorded is not None and recorded > 0:
        return float(recorded)
    return float(np.sum(mask)) * voxel
