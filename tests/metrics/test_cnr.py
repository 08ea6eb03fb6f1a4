from __future__ import annotations

import math

import numpy as np
import pytest

from scipy import ndimage

from harmbench.errors import DataError
from harmbench.metrics.cnr import REGIONS, RegionalCnr, cnr, lesion_zone

from .helpers import make_ctx, values


def _checker(shape) -> np.ndarray:
    idx = np.indices(shape).sum(axis=0)
    return (idx % 2).astype(bool)


def phantom(wm_lo: float, wm_hi: float):
    """WM block (label 2) and cortex block (label 3) with checkerboard texture; thalamus 10/49 flat.

    Eroding a 10^3 block by one voxel leaves an 8^3 block with as many odd as even voxels, so the
    background mean and (population) SD are exact: mean (lo + hi)/2, SD (hi - lo)/2.
    """
    shape = (40, 16, 16)
    lab = np.zeros(shape, np.int32)
    img = np.zeros(shape, np.float32)
    chk = _checker(shape)
    lab[2:12, 2:12, 2:12] = 2
    img[2:12, 2:12, 2:12] = np.where(chk, wm_hi, wm_lo)[2:12, 2:12, 2:12]
    lab[14:24, 2:12, 2:12] = 3
    img[14:24, 2:12, 2:12] = np.where(chk, 0.6, 0.4)[14:24, 2:12, 2:12]
    lab[28:32, 2:6, 2:6] = 10
    img[28:32, 2:6, 2:6] = 0.5
    lab[28:32, 8:12, 8:12] = 49
    img[28:32, 8:12, 8:12] = 0.6
    return img, lab


def test_cnr_on_constructed_phantom():
    img, lab = phantom(0.7, 0.9)             # WM mean 0.8, SD 0.1
    c = RegionalCnr().region_cnrs(img, lab)
    assert c["thalamus"] == pytest.approx((0.55 - 0.8) / 0.1, abs=1e-5)      # left+right merged: -2.5
    assert c["cerebral-wm"] == pytest.approx((0.8 - 0.5) / 0.1, abs=1e-5)    # vs cortex: 3.0
    assert all(math.isnan(c[r]) for r in REGIONS if r not in ("thalamus", "cerebral-wm"))


def test_cnr_diff_between_bl_and_fu():
    bl, lab = phantom(0.7, 0.9)              # thalamus CNR -2.5
    fu, _ = phantom(0.6, 1.0)                # WM SD 0.2 -> thalamus CNR -1.25; cortex unchanged
    v = values(RegionalCnr().compute(make_ctx(bl, fu, labels=lab)))
    assert v["cnr-diff:thalamus"] == pytest.approx(1.25, abs=1e-5)
    assert v["cnr-fu:thalamus"] == pytest.approx(-1.25, abs=1e-5)
    assert v["cnr-diff:cerebral-wm"] == pytest.approx(0.0, abs=1e-5)       # WM mean unchanged
    assert len([k for k in v if k.startswith("cnr-diff:")]) == 10
    assert math.isnan(v["cnr-diff:amygdala"])
    same = values(RegionalCnr().compute(make_ctx(bl, bl, labels=lab)))
    assert same["cnr-diff:thalamus"] == 0.0
    assert same["cnr-contrast-shift:thalamus"] == 0.0 and same["cnr-noise-shift:thalamus"] == 0.0
    assert same["cnr-noise-ratio:thalamus"] == 1.0


def test_cnr_parts_explain_the_difference():
    """The signed difference splits into a contrast shift and a noise shift that add up exactly."""
    bl, lab = phantom(0.7, 0.9)              # WM mean 0.8, SD 0.1; thalamus contrast 0.55 - 0.8 = -0.25
    fu, _ = phantom(0.6, 1.0)                # WM mean 0.8, SD 0.2: only the noise changes
    v = values(RegionalCnr().compute(make_ctx(bl, fu, labels=lab)))
    assert v["cnr-contrast-shift:thalamus"] == pytest.approx(0.0, abs=1e-6)
    assert v["cnr-noise-shift:thalamus"] == pytest.approx(-0.25 / 0.2 + 0.25 / 0.1, abs=1e-5)   # +1.25
    assert v["cnr-noise-ratio:thalamus"] == pytest.approx(2.0, abs=1e-6)
    assert v["cnr-noise-ratio:cerebral-wm"] == pytest.approx(1.0, abs=1e-6)   # cortex background unchanged
    brighter = bl.copy()
    brighter[lab == 10] += 0.1               # left thalamus +0.1: merged ROI mean +0.05, noise unchanged
    w = values(RegionalCnr().compute(make_ctx(bl, brighter, labels=lab)))
    assert w["cnr-contrast-shift:thalamus"] == pytest.approx(0.05 / 0.1, abs=1e-5)
    assert w["cnr-noise-shift:thalamus"] == pytest.approx(0.0, abs=1e-6)
    both = bl.copy()
    both[lab == 10] += 0.1
    both[lab == 2] = fu[lab == 2]            # contrast and noise change together
    x = values(RegionalCnr().compute(make_ctx(bl, both, labels=lab)))
    signed = x["cnr-fu:thalamus"] - (-2.5)
    assert x["cnr-contrast-shift:thalamus"] + x["cnr-noise-shift:thalamus"] == pytest.approx(signed, abs=1e-6)
    assert abs(signed) == pytest.approx(x["cnr-diff:thalamus"], abs=1e-6)
    assert math.isnan(w["cnr-noise-ratio:amygdala"])       # region absent


def test_configurable_background_and_missing_labels():
    img, lab = phantom(0.7, 0.9)
    c = RegionalCnr(background=(3, 42)).region_cnrs(img, lab)   # cortex: mean 0.5, SD 0.1
    assert c["thalamus"] == pytest.approx((0.55 - 0.5) / 0.1, abs=1e-5)
    v = values(RegionalCnr().compute(make_ctx(img, img)))     # no label map at all
    assert all(math.isnan(x) for x in v.values()) and len(v) == 50


def test_cnr_function_edge_cases():
    img = np.arange(100, dtype=np.float32).reshape(10, 10)
    roi = np.zeros_like(img, bool)
    bg = np.ones_like(img, bool)
    assert math.isnan(cnr(img, roi, bg))                     # empty ROI
    roi[0, 0] = True
    assert math.isnan(cnr(np.ones_like(img), roi, bg))       # zero background SD
    assert math.isnan(cnr(img, roi, bg & (img < 5)))         # background smaller than min_voxels


def oedema_phantom(*, oedema: bool):
    """WM block (label 2) holding a 4^3 lesion (label 25) and, optionally, a hypointense oedema shell.

    Everything is mirror-symmetric about the plane x = 23.5, which swaps the checkerboard's odd and
    even voxels, so any symmetric background has mean (lo + hi)/2 = 0.75 and SD (hi - lo)/2 = 0.125
    exactly (dyadic values: no rounding). The oedema (0.5) fills the WM of the box [16:32, 12:28,
    12:28] around the lesion; its farthest voxel is sqrt(3 * 6^2) = 10.4 mm from the lesion, inside
    the default zone d = 10 + 1.5 * r_eq = 13.7 mm (r_eq = (3 * 64 / 4pi)^(1/3) = 2.48 mm).
    Thalamus (label 10, flat 0.5) lies outside the WM: its CNR is (0.5 - 0.75)/0.125 = -2.
    """
    shape = (48, 48, 40)
    lab = np.zeros(shape, np.int32)
    img = np.zeros(shape, np.float32)
    lab[4:44, 4:36, 4:36] = 2
    img[4:44, 4:36, 4:36] = np.where(_checker(shape), 0.875, 0.625)[4:44, 4:36, 4:36]
    lesion = np.zeros(shape, bool)
    lesion[22:26, 18:22, 18:22] = True
    lab[lesion] = 25
    img[lesion] = 0.3
    if oedema:
        shell = np.zeros(shape, bool)
        shell[16:32, 12:28, 12:28] = True
        img[shell & (lab == 2)] = 0.5
    lab[20:24, 40:44, 10:14] = 10
    img[20:24, 40:44, 10:14] = 0.5
    return img, lab, lesion


def _wm_sd(img, lab) -> float:
    """SD of the eroded WM with nothing excluded (the definition, computed independently)."""
    return float(img[ndimage.binary_erosion(lab == 2)].astype(np.float64).std())


def test_oedema_is_kept_out_of_the_background():
    clean, lab, lesion = oedema_phantom(oedema=False)
    oed, _, _ = oedema_phantom(oedema=True)
    m = RegionalCnr()
    zone = m.exclusion_zone(make_ctx(oed, oed, labels=lab, lesion_bl=lesion), [lab])
    contrast, sd = m.region_parts(oed, lab, exclude=zone)["thalamus"]
    assert sd == pytest.approx(0.125, abs=1e-9)          # SD of the WM without oedema
    assert contrast == pytest.approx(-0.25, abs=1e-9)
    v = values(m.compute(make_ctx(clean, oed, labels=lab, lesion_bl=lesion, lesion_fu=lesion)))
    assert v["cnr-fu:thalamus"] == pytest.approx(-2.0, abs=1e-9)
    assert v["cnr-diff:thalamus"] == pytest.approx(0.0, abs=1e-9)   # adding the oedema changes nothing
    assert v["cnr-noise-ratio:thalamus"] == pytest.approx(1.0, abs=1e-9)
    off = values(RegionalCnr(exclude_lesions=False).compute(
        make_ctx(clean, oed, labels=lab, lesion_bl=lesion, lesion_fu=lesion)))
    assert _wm_sd(clean, lab) == pytest.approx(0.125, abs=1e-9)      # symmetric: exact without oedema
    inflated = _wm_sd(oed, lab)
    assert inflated > 0.14                                           # 0.5 is 2 SD below the WM mean
    assert off["cnr-noise-ratio:thalamus"] == pytest.approx(inflated / 0.125, abs=1e-9)
    assert off["cnr-diff:thalamus"] > 0.1


def test_lesion_given_only_by_its_label_is_excluded():
    clean, lab, _ = oedema_phantom(oedema=False)
    oed, _, _ = oedema_phantom(oedema=True)
    v = values(RegionalCnr().compute(make_ctx(clean, oed, labels=lab)))        # no lesion masks
    assert v["cnr-fu:thalamus"] == pytest.approx(-2.0, abs=1e-9)
    assert v["cnr-noise-ratio:thalamus"] == pytest.approx(1.0, abs=1e-9)
    right = lab.copy()
    right[lab == 25] = 57                                                    # Right-Lesion works too
    w = values(RegionalCnr().compute(make_ctx(clean, oed, labels=right)))
    assert w["cnr-noise-ratio:thalamus"] == pytest.approx(1.0, abs=1e-9)
    blind = values(RegionalCnr(lesion_labels=()).compute(make_ctx(clean, oed, labels=lab)))
    assert blind["cnr-noise-ratio:thalamus"] == pytest.approx(_wm_sd(oed, lab) / 0.125, abs=1e-9)


def test_new_lesion_on_the_follow_up_is_excluded_with_its_zone():
    # a lesion that appeared at FU (label 30001) with oedema: biology, so out of the background
    clean, lab, _ = oedema_phantom(oedema=False)
    oed, _, _ = oedema_phantom(oedema=True)
    lab_fu = lab.copy()
    lab_fu[lab == 25] = 30001
    lab_bl = lab.copy()
    lab_bl[lab == 25] = 2                                   # absent at BL
    ctx = make_ctx(clean, oed, labels=lab_bl, labels_fu=lab_fu)
    v = values(RegionalCnr().compute(ctx))
    assert v["cnr-noise-ratio:thalamus"] == pytest.approx(1.0, abs=1e-9)
    kept = values(RegionalCnr(new_lesions=False).compute(ctx))
    assert kept["cnr-noise-ratio:thalamus"] > 1.05


def test_without_lesion_information_nothing_is_excluded():
    bl, lab = phantom(0.7, 0.9)
    fu, _ = phantom(0.6, 1.0)
    ctx = make_ctx(bl, fu, labels=lab)
    assert RegionalCnr().exclusion_zone(ctx, [lab]) is None
    on = values(RegionalCnr().compute(ctx))
    off = values(RegionalCnr(exclude_lesions=False).compute(ctx))
    assert on.keys() == off.keys()
    assert all(on[k] == off[k] or (math.isnan(on[k]) and math.isnan(off[k])) for k in on)
    assert on["cnr-diff:thalamus"] == pytest.approx(1.25, abs=1e-5)
    oed, olab, _ = oedema_phantom(oedema=True)
    olab[olab == 25] = 2               # the lesion unlabelled and no mask: the oedema stays in
    v = values(RegionalCnr().compute(make_ctx(oed, oed, labels=olab)))
    bg = oed[ndimage.binary_erosion(olab == 2)].astype(np.float64)
    assert v["cnr-fu:thalamus"] == pytest.approx((0.5 - bg.mean()) / bg.std(), abs=1e-9)
    assert v["cnr-fu:thalamus"] == pytest.approx(-1.5313, abs=1e-4)   # vs -2 with the zone excluded


def test_bl_and_fu_share_one_zone():
    """A lesion that grew at FU widens the zone for both images, so both use the same voxels."""
    rng = np.random.default_rng(3)
    _, lab_bl, small = oedema_phantom(oedema=False)
    img = np.where(lab_bl == 2, rng.normal(0.75, 0.1, lab_bl.shape), 0.0).astype(np.float32)
    img[lab_bl == 10] = 0.5
    grown = np.zeros_like(small)
    grown[19:29, 15:25, 15:25] = True                 # contains the BL lesion
    lab_fu = lab_bl.copy()
    lab_fu[grown] = 25
    ctx = make_ctx(img, img, labels=lab_bl, labels_fu=lab_fu, lesion_bl=small, lesion_fu=grown)
    v = values(RegionalCnr().compute(ctx))
    assert v["cnr-noise-ratio:thalamus"] == 1.0      # same image, same background voxels
    assert v["cnr-diff:thalamus"] == 0.0
    m = RegionalCnr()
    fu_zone = lesion_zone(grown, (1.0, 1.0, 1.0))
    fu_only = m.region_cnrs(img, lab_fu, exclude=fu_zone)["thalamus"]
    assert v["cnr-fu:thalamus"] == pytest.approx(fu_only, abs=1e-12)
    bl_only = m.region_cnrs(img, lab_bl, exclude=lesion_zone(small, (1.0, 1.0, 1.0)))["thalamus"]
    assert abs(bl_only - v["cnr-fu:thalamus"]) > 1e-3          # a BL-only zone would differ
    # from labels alone (no masks) the zone is the same union
    w = values(RegionalCnr().compute(make_ctx(img, img, labels=lab_bl, labels_fu=lab_fu)))
    assert w["cnr-fu:thalamus"] == v["cnr-fu:thalamus"] and w["cnr-noise-ratio:thalamus"] == 1.0
    off = values(RegionalCnr(exclude_lesions=False).compute(ctx))
    assert abs(off["cnr-noise-ratio:thalamus"] - 1.0) > 1e-4   # the grown lesion left FU's WM only


def test_lesion_zone_matches_full_volume_distance_transform():
    """Bounding-box EDTs equal one full-volume EDT per component; d = margin + factor * r_eq."""
    spacing = (2.0, 1.5, 3.0)
    shape = (40, 50, 24)
    les = np.zeros(shape, bool)
    les[10:16, 10:18, 5:9] = True          # 6*8*4 voxels = 192 * 9 mm^3
    les[16, 18, 9] = True                  # corner neighbour: same component (26-connectivity)
    les[38:40, 0:2, 22:24] = True          # at the volume's corner: the box is clipped
    les[30, 40, 2] = True                  # single voxel
    comps, n = ndimage.label(les, structure=np.ones((3, 3, 3)))
    assert n == 3
    voxel = float(np.prod(spacing))
    expect = np.zeros(shape, bool)
    for i in range(1, n + 1):
        r_eq = (3 * (comps == i).sum() * voxel / (4 * math.pi)) ** (1 / 3)
        expect |= ndimage.distance_transform_edt(comps != i, sampling=spacing) <= 4.0 + 2.0 * r_eq
    got = lesion_zone(les, spacing, margin_mm=4.0, radius_factor=2.0)
    assert np.array_equal(got, expect)
    one = np.zeros((31, 31, 31), bool)
    one[15, 15, 15] = True                 # 8 mm^3 at 2 mm: r_eq = 1.2407, d = 10 + 1.861 = 11.861 mm
    offsets = np.indices(one.shape) - 15
    in_ball = ((2.0 * offsets) ** 2).sum(axis=0) <= 11.861 ** 2     # |offset|^2 <= 35.17 voxels^2
    assert np.array_equal(lesion_zone(one, (2.0, 2.0, 2.0)), in_ball)
    assert int(in_ball.sum()) == 895            # lattice points with |offset|^2 <= 35 (4/3 pi 5.93^3 = 873)
    assert not lesion_zone(np.zeros((4, 4, 4), bool), (1.0, 1.0, 1.0)).any()


def test_exclusion_parameters_are_in_the_policy():
    p = RegionalCnr().policy()
    assert (p["exclude_lesions"], p["lesion_labels"], p["oedema_margin_mm"], p["oedema_radius_factor"]) == \
        (True, (25, 57), 10.0, 1.5)
    assert RegionalCnr(oedema_margin_mm=5.0).policy() != p


def test_lesion_mask_on_another_grid_is_an_error():
    img, lab, _ = oedema_phantom(oedema=False)
    with pytest.raises(DataError, match=r"BL lesion mask has shape \(4, 4, 4\); BL image has \(48, 48, 40\)"):
        RegionalCnr().compute(make_ctx(img, img, labels=lab, lesion_bl=np.zeros((4, 4, 4), bool)))
