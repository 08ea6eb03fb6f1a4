from __future__ import annotations

import math

import numpy as np
import pytest

from harmbench.metrics.cnr import REGIONS, RegionalCnr, cnr

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
