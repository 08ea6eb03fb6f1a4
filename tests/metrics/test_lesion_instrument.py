"""The lesion instruments against known truth: volume, same-scanner ΔV/V, calibrated change read."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from harmbench.metrics.base import ScoringContext
from harmbench.metrics.change_read import ChangeRead
from harmbench.metrics.lesion_seg import LesionSegmenter
from harmbench.volume import Volume

SPACING = (2.0, 2.0, 2.0)
SHAPE = (40, 40, 40)


def _ball(centre_mm, radius_mm, shape=SHAPE, spacing=SPACING) -> np.ndarray:
    """Occupancy of a ball rendered as the synthetic cohort renders lesions: a linear ramp one
    voxel wide across the surface, clip(0.5 + (R − d)/h, 0, 1), at the voxel centres."""
    g = np.meshgrid(*[(np.arange(n) + 0.5) * s for n, s in zip(shape, spacing)], indexing="ij", sparse=True)
    d = np.sqrt(sum((x - c) ** 2 for x, c in zip(g, centre_mm)))
    return np.clip(0.5 + (radius_mm - d) / spacing[0], 0.0, 1.0)


def _scan(radius_mm: float, rng: np.random.Generator, *, shift=(0.0, 0.0, 0.0), noise: float = 0.01,
          oedema_mm: float = 8.0):
    """WM 0.6 with a darker oedema shell (0.45) around an enhancing ball (0.75), 0.8 mm blur, noise.

    Returns (image, true lesion mask, true volume mm³, labels).
    """
    c = tuple(n * s / 2 + 0.3 + d for n, s, d in zip(SHAPE, SPACING, shift))
    les = _ball(c, radius_mm)
    oed = _ball(c, radius_mm + oedema_mm)
    img = 0.6 + (0.45 - 0.6) * oed + (0.75 - 0.45) * les
    img = ndimage.gaussian_filter(img, sigma=[0.8 / s for s in SPACING]) + rng.normal(0, noise, SHAPE)
    return img.astype(np.float32), les >= 0.5, 4.0 / 3.0 * np.pi * radius_mm**3, np.full(SHAPE, 2, np.int16)


def _ctx(bl, fu, les_bl, les_fu, lab, change):
    aff = np.diag([*SPACING, 1.0])
    return ScoringContext(case=None, bl=Volume(bl, aff), fu=Volume(fu, aff), fu_original=Volume(fu, aff),
                          labels_bl=lab, labels_fu=lab, lesion_bl=les_bl, lesion_fu=les_fu, change=change)


@pytest.mark.parametrize("diameter_mm", [10.0, 14.0, 22.0])
def test_volume_of_a_small_lesion_on_2mm_voxels_within_15_percent(diameter_mm):
    # measured: -14 % / -8 % / -4 % (the half-maximum surface of a small curved lesion lies inside
    # it; docs/metrics.md). A regression of the threshold or the fine grid breaks this at once.
    rng = np.random.default_rng(1)
    img, mask, true_mm3, lab = _scan(diameter_mm / 2, rng)
    seg = LesionSegmenter().segment(img, mask, SPACING, lab)
    assert seg.volume_mm3 == pytest.approx(true_mm3, rel=0.15)


def test_same_scanner_pairs_measure_the_true_change_within_010():
    rng = np.random.default_rng(2)
    seg = LesionSegmenter()
    for radius, change in ((5.0, 0.0), (6.5, 0.0), (5.0, 0.5), (8.0, -0.4), (6.0, 0.3)):
        bl, mask, v_bl, lab = _scan(radius, rng)
        r_fu = radius * (1 + change) ** (1 / 3)
        fu, _, v_fu, _ = _scan(r_fu, rng, shift=tuple(rng.uniform(-0.5, 0.5, 3)))
        true = v_fu / v_bl - 1
        dv = seg.segment(fu, mask, SPACING, lab).volume_mm3 / seg.segment(bl, mask, SPACING, lab).volume_mm3 - 1
        assert abs(dv - true) <= 0.10, (radius, change, dv, true)


def _low_contrast_scan(radius_mm: float, rng: np.random.Generator, *, shift=(0.0, 0.0, 0.0)):
    """A lesion only 0.12 above WM 0.6, no oedema, noise SD 0.02: boundary CNR 6, the regime of the
    cohort's near-iso-intense lesions (docs/metrics.md). Returns (image, true mask, true volume mm³)."""
    c = tuple(n * s / 2 + 0.3 + d for n, s, d in zip(SHAPE, SPACING, shift))
    les = _ball(c, radius_mm)
    img = ndimage.gaussian_filter(0.6 + 0.12 * les, sigma=[0.8 / s for s in SPACING]) + rng.normal(0, 0.02, SHAPE)
    return img.astype(np.float32), les >= 0.5, 4.0 / 3.0 * np.pi * radius_mm**3


def test_low_contrast_lesion_volume_bias_is_shared_so_same_scanner_change_stays_within_010():
    # At CNR 6 the 85th-percentile plateau sits ~1 noise SD above the plateau mean, so the
    # threshold lies above the half maximum and the volume is biased low (measured: -21 % at
    # 10 mm, -13 % at 14 mm, -8 % at 20 mm). The bias is the same on BL and on a same-scanner FU,
    # so the measured change stays within 0.10 of the truth.
    rng = np.random.default_rng(5)
    seg = LesionSegmenter()
    img, mask, true_mm3 = _low_contrast_scan(10.0, rng)
    assert seg.segment(img, mask, SPACING).volume_mm3 == pytest.approx(true_mm3, rel=0.15)
    for radius, change in ((6.0, 0.0), (7.0, 0.0), (6.0, 0.5), (8.0, -0.4), (7.0, 0.3), (9.0, 0.0)):
        bl, mask, v_bl = _low_contrast_scan(radius, rng)
        fu, _, v_fu = _low_contrast_scan(radius * (1 + change) ** (1 / 3), rng, shift=tuple(rng.uniform(-0.5, 0.5, 3)))
        dv = seg.segment(fu, mask, SPACING).volume_mm3 / seg.segment(bl, mask, SPACING).volume_mm3 - 1
        assert abs(dv - (v_fu / v_bl - 1)) <= 0.10, (radius, change, dv)


def _pairs(rng, n_stable, n_changed):
    out = []
    for i in range(n_stable + n_changed):
        radius = rng.uniform(5.0, 10.0)
        change = 0.0 if i < n_stable else rng.uniform(0.2, 0.6) * rng.choice([-1, 1])
        bl, mask, v_bl, lab = _scan(radius, rng)
        fu, mask_fu, v_fu, _ = _scan(radius * (1 + change) ** (1 / 3), rng, shift=tuple(rng.uniform(-0.5, 0.5, 3)))
        out.append(_ctx(bl, fu, mask, mask_fu, lab, change))
    return out


def test_change_read_calibrated_on_train_pairs_meets_targets_on_held_out_pairs():
    rng = np.random.default_rng(3)
    read = ChangeRead()
    params = read.calibrate(_pairs(rng, 8, 8))
    assert 0.05 <= params["size_threshold"] <= 0.2
    read = read.with_params(**params)
    held_out_stable, held_out_changed = _pairs(rng, 10, 0), _pairs(rng, 0, 8)
    false = sum(dict((v.metric, v.value) for v in read.compute(c))["change-any"] for c in held_out_stable)
    kept = sum(dict((v.metric, v.value) for v in read.compute(c))["change-kept"] for c in held_out_changed)
    assert false <= 1
    assert kept >= 7
    # thresholds are part of the policy, so a recalibration re-scores
    assert read.policy() != ChangeRead().policy()


def test_instrument_values_report_error_against_the_truth():
    rng = np.random.default_rng(4)
    bl, mask, true_mm3, lab = _scan(6.0, rng)
    ctx = _ctx(bl, bl, mask, mask, lab, 0.0)
    v = {m.metric: m.value for m in ChangeRead().compute(ctx)}
    # BL is the reference contour: its volume is the mask's, so without a recorded true volume
    # its error is 0 by construction; with the analytic volume recorded it is the contour's error
    assert v["lesion-volume-error-bl"] == pytest.approx(0.0, abs=1e-9)
    ctx = dataclasses.replace(ctx, lesion_bl_mm3=true_mm3, lesion_fu_mm3=true_mm3)
    v = {m.metric: m.value for m in ChangeRead().compute(ctx)}
    assert v["lesion-volume-error-bl"] == pytest.approx(mask.sum() * 8.0 / true_mm3 - 1)
    assert abs(v["lesion-volume-error"]) < 0.15               # the same image re-measured by the fit
    assert v["lesion-truth-dice"] > 0.85
    assert v["lesion-volume-change-error"] == pytest.approx(v["lesion-volume-change"])
    assert abs(v["lesion-volume-change"]) < 0.05
    assert v["change-any"] == 0.0
    assert np.isnan(v["change-kept"])          # stable truth: nothing to keep
