from __future__ import annotations

import math

import numpy as np
import pytest

from harmbench.errors import DataError
from harmbench.metrics.region import bounding_box, kept_slices
from harmbench.metrics.similarity import SliceSimilarity, VolumeSimilarity, psnr, volume_scores

from .helpers import head, make_ctx, values


def test_identical_images_give_ssim_one_and_capped_psnr():
    img = head()
    v = values(VolumeSimilarity().compute(make_ctx(img, img)))
    assert v["ssim"] == pytest.approx(1.0, abs=1e-12)
    assert v["psnr"] == 100.0
    s = values(SliceSimilarity().compute(make_ctx(img, img, slice_range=(4, 32))))
    assert s["slice-ssim"] == pytest.approx(1.0, abs=1e-12)
    assert s["slice-psnr"] == 100.0
    assert "recon-ssim" not in v and "recon-slice-ssim" not in s
    assert v["ssim-box"] == pytest.approx(1.0, abs=1e-12) and v["psnr-box"] == 100.0
    assert s["slice-ssim-box"] == pytest.approx(1.0, abs=1e-12) and s["slice-psnr-box"] == 100.0
    assert "recon-ssim-box" not in v and "recon-slice-ssim-box" not in s


def test_known_mse_gives_known_psnr():
    a = np.zeros((10, 10, 10))
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-9)        # MSE 0.01
    assert psnr(a, a + 0.01) == pytest.approx(40.0, abs=1e-9)       # MSE 1e-4
    b = a.copy()
    b[:5] = 0.2                                                      # MSE = 0.5 * 0.04 = 0.02
    assert psnr(a, b) == pytest.approx(10 * math.log10(1 / 0.02), abs=1e-9)
    assert psnr(a, a, max_db=60.0) == 60.0
    assert math.isnan(psnr(a, a * np.nan))


def test_volume_psnr_inside_the_head_mask_and_over_the_box():
    img = np.pad(head(), 8)                # >= 5 voxels (SSIM window radius) of air around the box
    fu = img + 0.05 * (img > 0)            # offset inside the head only
    fu_bg = fu.copy()
    fu_bg[0, 0, 0] = 1.0                   # a corner voxel outside the head box is ignored by both
    a = values(VolumeSimilarity().compute(make_ctx(img, fu)))
    b = values(VolumeSimilarity().compute(make_ctx(img, fu_bg)))
    assert a == b
    # head mask = the ellipsoid: MSE 0.0025 over the mask -> 26.02 dB
    assert a["psnr"] == pytest.approx(-20 * math.log10(0.05), abs=1e-4)
    # box: the air corners of the box (squared error 0) dilute the MSE
    box = bounding_box(img > 0.1)
    frac = (img[box] > 0).mean()
    assert a["psnr-box"] == pytest.approx(10 * math.log10(1 / (0.0025 * frac)), abs=0.05)
    assert a["psnr-box"] > a["psnr"] + 2.0


def test_constant_images_ssim_is_analytic():
    # no structure: SSIM = luminance term (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1), C1 = (0.01 L)^2
    a = np.full((20, 20, 20), 0.5)
    b = np.full((20, 20, 20), 0.6)
    box = tuple(slice(0, 20) for _ in range(3))
    s, p = volume_scores(a, b, box)
    c1 = 1e-4
    assert s == pytest.approx((2 * 0.5 * 0.6 + c1) / (0.25 + 0.36 + c1), abs=1e-9)
    assert p == pytest.approx(20.0, abs=1e-9)


def test_slice_metrics_skip_empty_slices_and_respect_slice_range():
    img = np.zeros((30, 30, 20), np.float32)
    img[5:25, 5:25, 0:10] = 0.6            # head present only in axial slices 0..9
    fu = img + 0.1 * (img > 0)             # per slice: MSE 0.01 inside the box -> 20 dB
    st = kept_slices(make_ctx(img, fu).bl, (make_ctx(img, fu).fu,), (2, 18))
    assert list(st.index) == list(range(2, 10))
    s = values(SliceSimilarity().compute(make_ctx(img, fu, slice_range=(2, 18))))
    assert s["slice-psnr"] == pytest.approx(20.0, abs=1e-5)  # float32 images


def test_recon_values_emitted_when_reconstruction_given():
    img = head()
    v = values(VolumeSimilarity().compute(make_ctx(img, img + 0.01, recon=img)))
    assert v["recon-ssim"] == pytest.approx(1.0) and v["recon-psnr"] == 100.0
    assert v["psnr"] < 45.0
    s = values(SliceSimilarity().compute(make_ctx(img, img + 0.01, recon=img, slice_range=(3, 30))))
    assert s["recon-slice-psnr"] == 100.0 and s["slice-psnr"] == pytest.approx(40.0, abs=0.5)
    assert set(v) == {"ssim", "psnr", "ssim-box", "psnr-box", "recon-ssim", "recon-psnr"}
    assert set(v) == set(VolumeSimilarity().directions())
    assert set(s) == set(SliceSimilarity().directions())


def test_region_policy_is_recorded():
    for m in (VolumeSimilarity(), SliceSimilarity()):
        pol = m.policy()
        assert pol["region"] == "bl-head-mask" and pol["box_region"] == "bl-head-box"
        assert {"ssim-box", "psnr-box"} <= set(pol["emits"]) or {"slice-ssim-box", "slice-psnr-box"} <= set(
            pol["emits"])
        assert not any(n.startswith("recon-") and n.endswith("-box") for n in pol["emits"])


def test_flipped_axial_storage_gives_same_slice_values():
    img = head()
    fu = np.clip(img * 1.1, 0, 1)
    a = values(SliceSimilarity().compute(make_ctx(img, fu, slice_range=(4, 32))))
    # same image stored with the axial axis reversed (negative z step) and the mirrored range
    ctx = make_ctx(img[:, :, ::-1], fu[:, :, ::-1], slice_range=(4, 32))
    aff = ctx.bl.affine.copy()
    aff[2, 2] = -1.0
    from harmbench.volume import Volume

    ctx.bl, ctx.fu = Volume(ctx.bl.data, aff), Volume(ctx.fu.data, aff)
    b = values(SliceSimilarity().compute(ctx))
    assert b["slice-ssim"] == pytest.approx(a["slice-ssim"], abs=1e-9)
    assert b["slice-psnr"] == pytest.approx(a["slice-psnr"], abs=1e-9)


def test_grid_mismatch_is_a_one_line_error():
    img = head()
    with pytest.raises(DataError, match="shape"):
        VolumeSimilarity().compute(make_ctx(img, img[:-1]))
