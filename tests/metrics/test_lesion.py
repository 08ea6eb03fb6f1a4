from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from harmbench.metrics.lesion import LesionOverlap
from harmbench.metrics.lesion_seg import LesionSegmenter, segment_pair
from harmbench.metrics.surface import dice, surface_scores

from .helpers import make_ctx, values

SPACING = (0.8, 1.0, 2.5)   # anisotropic, mm


def sphere(shape, centre_mm, radius_mm, spacing=SPACING) -> np.ndarray:
    grids = np.meshgrid(*(np.arange(n) * s for n, s in zip(shape, spacing)), indexing="ij")
    return sum((g - c) ** 2 for g, c in zip(grids, centre_mm)) <= radius_mm**2


def test_boxes_have_exact_dice_and_hausdorff_at_anisotropic_spacing():
    a = np.zeros((30, 30, 30), bool)
    a[5:25, 5:25, 5:15] = True               # 10 slices of 2.5 mm along z
    b = np.roll(a, 2, axis=2)                # shifted by 2 voxels = 5 mm along z
    s = surface_scores(a, b, SPACING)
    assert s.dice == pytest.approx(8 / 10)   # overlap 8 of 10 slices
    assert s.hd == pytest.approx(5.0)
    c = np.roll(a, 3, axis=0)                # shifted 3 voxels = 2.4 mm along x
    assert surface_scores(a, c, SPACING).hd == pytest.approx(2.4)
    assert surface_scores(a, c, SPACING).dice == pytest.approx(17 / 20)


def test_concentric_spheres_match_analytic_values():
    shape = (80, 64, 26)
    centre = (32.0, 32.0, 32.5)
    r1, r2 = 16.0, 22.0
    a, b = sphere(shape, centre, r1), sphere(shape, centre, r2)
    s = surface_scores(a, b, SPACING)
    # volumes from voxel counts are within 1% of 4/3 pi r^3
    vox = np.prod(SPACING)
    assert a.sum() * vox == pytest.approx(4 / 3 * np.pi * r1**3, rel=0.01)
    assert s.dice == pytest.approx(2 * r1**3 / (r1**3 + r2**3), abs=0.01)      # 0.556
    # every surface distance is about r2 - r1 = 6 mm; discretisation error < the largest voxel side
    for v in (s.hd, s.hd95, s.avg_hd):
        assert abs(v - (r2 - r1)) < max(SPACING)
    assert s.avg_hd == pytest.approx(r2 - r1, abs=0.6)
    assert s.avg_hd <= s.hd95 <= s.hd


def test_identical_and_empty_masks_policy():
    a = sphere((30, 30, 12), (12.0, 15.0, 15.0), 6.0)
    s = surface_scores(a, a, SPACING)
    assert (s.dice, s.hd, s.hd95, s.avg_hd) == (1.0, 0.0, 0.0, 0.0)
    e = np.zeros_like(a)
    s = surface_scores(a, e, SPACING)
    assert s.dice == 0.0 and math.isnan(s.hd) and math.isnan(s.hd95) and math.isnan(s.avg_hd)
    assert math.isnan(dice(e, e))


def _lesion_phantom(contrast: float, radius_mm: float = 6.0, shape=(48, 40, 20), noise: float = 0.0, seed: int = 0):
    """WM (label 2, intensity 0.6) with a blurred enhancing sphere of lesion/WM ratio ``contrast``."""
    lab = np.full(shape, 2, np.int32)
    centre = (shape[0] * SPACING[0] / 2, shape[1] * SPACING[1] / 2, shape[2] * SPACING[2] / 2)
    les = sphere(shape, centre, radius_mm)
    img = np.where(les, 0.6 * contrast, 0.6).astype(np.float64)
    img = ndimage.gaussian_filter(img, sigma=[1.0 / s for s in SPACING])   # 1 mm blur
    img += np.random.default_rng(seed).normal(0, noise, shape)
    return img.astype(np.float32), lab, les


def test_segmenter_recovers_a_blurred_sphere_and_grows_with_contrast():
    img, lab, les = _lesion_phantom(1.3, noise=0.005)
    seg = LesionSegmenter()
    bl, same = segment_pair(seg, bl=img, fu=img, seed=les, spacing=SPACING, labels_bl=lab, labels_fu=lab)
    assert dice(bl.mask, les) > 0.9
    assert bl.enhancement == pytest.approx(1.3, abs=0.05)
    assert np.array_equal(bl.mask, same.mask)
    hi, _, _ = _lesion_phantom(1.6, noise=0.005)
    _, fu = segment_pair(seg, bl=img, fu=hi, seed=les, spacing=SPACING, labels_bl=lab, labels_fu=lab)
    # the segmenter follows the lesion's extent, not its contrast: a brighter FU is not a larger lesion
    assert fu.volume_mm3 == pytest.approx(bl.volume_mm3, rel=0.03)
    flat = np.full_like(img, 0.6)
    _, gone = segment_pair(seg, bl=img, fu=flat, seed=les, spacing=SPACING, labels_bl=lab, labels_fu=lab)
    assert gone.empty


def test_lesion_metric_auto_and_manifest_sources():
    img, lab, les = _lesion_phantom(1.3)
    big, _, les_big = _lesion_phantom(1.3, radius_mm=7.5)
    v = values(LesionOverlap().compute(make_ctx(img, big, spacing=SPACING, labels=lab, lesion_bl=les)))
    assert v["lesion-dice"] == pytest.approx(2 * 6**3 / (6**3 + 7.5**3), abs=0.06)
    assert abs(v["lesion-avg-hd"] - 1.5) < 1.0
    # manifest masks are used as they are
    m = values(LesionOverlap(source="manifest").compute(
        make_ctx(img, img, spacing=SPACING, labels=lab, lesion_bl=les, lesion_fu=les_big)))
    assert m["lesion-dice"] == pytest.approx(dice(les, les_big))
    assert m["lesion-hd"] == pytest.approx(surface_scores(les, les_big, SPACING).hd)
    # no seed -> NaN everywhere
    n = values(LesionOverlap().compute(make_ctx(img, img, spacing=SPACING, labels=lab)))
    assert all(math.isnan(x) for x in n.values())
