"""Similarity inside the BL head mask: air cannot change ssim/psnr/slice-*/slice-lpips (issue #16)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from harmbench.harness.cache import cache_key
from harmbench.masking import head_mask
from harmbench.metrics import lpips_metric
from harmbench.metrics.lpips_metric import LpipsMetric
from harmbench.metrics.similarity import SliceSimilarity, VolumeSimilarity

from .helpers import head, make_ctx, values

SLICES = (4, 48)
PRIMARY = ("ssim", "psnr", "slice-ssim", "slice-psnr")
BOX = ("ssim-box", "psnr-box", "slice-ssim-box", "slice-psnr-box")


def _phantom():
    """BL head with 8 voxels of air around it, a distorted FU, and the same FU with different air."""
    rng = np.random.default_rng(3)
    bl = np.pad(head(), 8)
    inside = head_mask(bl)
    distorted = np.clip(0.9 * bl + 0.03 + rng.normal(0, 0.02, bl.shape), 0, 1)
    fu = np.where(inside, distorted, 0).astype(np.float32)
    fu_air = fu.copy()
    fu_air[~inside] = rng.uniform(0.0, 0.3, int((~inside).sum()))  # noisy air, edge halo included
    return bl, fu, fu_air, inside


def _all_similarity(bl, fu, **kw) -> dict[str, float]:
    return {**values(VolumeSimilarity().compute(make_ctx(bl, fu, slice_range=SLICES, **kw))),
            **values(SliceSimilarity().compute(make_ctx(bl, fu, slice_range=SLICES, **kw)))}


def test_pair_differing_only_in_air_gets_equal_scores():
    bl, fu, fu_air, _ = _phantom()
    a, b = _all_similarity(bl, fu), _all_similarity(bl, fu_air)
    for name in PRIMARY:
        assert a[name] == b[name], name  # exact: air is zeroed before scoring
    # measured on this phantom: ssim 0.977 / psnr 29.8 dB inside the head; the identical air
    # of the box raises them to 0.987 / 32.7 dB
    assert a["ssim"] == pytest.approx(0.9774, abs=1e-3) and a["psnr"] == pytest.approx(29.80, abs=0.01)
    assert a["ssim-box"] > a["ssim"] and a["psnr-box"] > a["psnr"] + 2.0
    # the paper-style box numbers still see the air
    for name in BOX:
        assert a[name] != b[name], name
    assert b["psnr-box"] < a["psnr-box"] - 3.0 and b["ssim-box"] < a["ssim-box"] - 0.05
    assert b["slice-psnr-box"] < a["slice-psnr-box"] - 3.0


def test_recon_differing_only_in_air_gets_equal_scores():
    bl, fu, fu_air, _ = _phantom()
    a, b = _all_similarity(bl, bl, recon=fu), _all_similarity(bl, bl, recon=fu_air)
    for name in PRIMARY:
        assert a["recon-" + name] == b["recon-" + name], name
    assert a["recon-psnr"] == pytest.approx(_all_similarity(bl, fu)["psnr"], abs=1e-12)


def test_lpips_of_pair_differing_only_in_air_is_equal():
    reason = lpips_metric.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    bl, fu, fu_air, _ = _phantom()
    a = values(LpipsMetric().compute(make_ctx(bl, fu, recon=fu_air, slice_range=SLICES)))
    b = values(LpipsMetric().compute(make_ctx(bl, fu_air, recon=fu, slice_range=SLICES)))
    assert a["slice-lpips"] == b["slice-lpips"] == a["recon-slice-lpips"] == b["recon-slice-lpips"]
    assert 0.0 < a["slice-lpips"] < 1.0
    same = values(LpipsMetric().compute(make_ctx(bl, np.where(head_mask(bl), bl, 0.5), slice_range=SLICES)))
    assert same["slice-lpips"] == pytest.approx(0.0, abs=1e-7)


def test_psnr_is_the_mse_over_mask_voxels():
    bl, fu, _, inside = _phantom()
    d = 0.05
    shifted = np.where(inside, bl + d, 0.7)  # constant offset in the head, bright air
    v = _all_similarity(bl, shifted)
    assert v["psnr"] == pytest.approx(-20 * math.log10(d), abs=1e-4)        # 26.02 dB
    assert v["slice-psnr"] == pytest.approx(-20 * math.log10(d), abs=1e-4)  # every slice: MSE d²
    # a non-uniform error: hand MSE over the mask voxels
    mse = float(np.mean((bl[inside].astype(np.float64) - fu[inside]) ** 2))
    assert _all_similarity(bl, fu)["psnr"] == pytest.approx(10 * math.log10(1 / mse), abs=1e-9)


def test_ssim_is_the_map_mean_over_mask_voxels():
    bl, fu, fu_air, inside = _phantom()
    # whole grid, air zeroed in both: the 8-voxel air margin exceeds the 5-voxel window radius, so
    # the map inside the mask equals the one computed on the grown box
    _, smap = structural_similarity(np.where(inside, bl, 0).astype(np.float64),
                                    np.where(inside, fu_air, 0).astype(np.float64), data_range=1.0,
                                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, full=True)
    assert _all_similarity(bl, fu_air)["ssim"] == pytest.approx(float(smap[inside].mean()), abs=1e-12)


def test_identical_images_give_one_and_the_cap():
    bl, _, _, inside = _phantom()
    v = _all_similarity(bl, np.where(inside, bl, 1.0))  # identical inside the head
    for name in ("ssim", "slice-ssim"):
        assert v[name] == pytest.approx(1.0, abs=1e-12)
    assert v["psnr"] == v["slice-psnr"] == 100.0
    assert v["psnr-box"] < 20.0


def test_region_policy_changes_the_cache_key():
    for metric in (VolumeSimilarity(), SliceSimilarity(), LpipsMetric()):
        assert metric.policy()["region"] == "bl-head-mask"
        before = cache_key(unit="score", metric=metric.policy())
        metric.region = "bl-head-box"
        assert cache_key(unit="score", metric=metric.policy()) != before
