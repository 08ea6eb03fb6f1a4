"""The 1.5 T scanner of ``synth-quick-15t``: field-dependent tissue tables, a subtler shift than
the Siemens -> Philips pair on the same anatomy, and the 3 T presets left untouched."""

from __future__ import annotations

import dataclasses
import hashlib

import nibabel as nib
import numpy as np
import pytest
from harmbench_synth.acquire import acquire
from harmbench_synth.anatomy import subject_anatomy
from harmbench_synth.lesions import place_lesions
from harmbench_synth.motion import Pose
from harmbench_synth.physics import mprage_signal
from harmbench_synth.presets import PRESETS
from harmbench_synth.profiles import PHILIPS_TFE, SIEMENS_AVANTO_MPRAGE, SIEMENS_MPRAGE
from harmbench_synth.realism import cortex_mask
from harmbench_synth.tissues import TISSUES, tissues_at
from scipy import ndimage

from harmbench.registry import get_dataset


def _rel_signal(p, name: str) -> float:
    tis = tissues_at(p.field_t)

    def s(t):
        return float(mprage_signal(np.array([1000 / t.t1 + t.dr1]), np.array([t.pd]),
                                   np.array([1000 / t.t2s]), 1.0, p)[0])

    return s(tis[name]) / s(tis["cerebral-wm"])


def test_field_tables_follow_the_published_field_dependence():
    assert tissues_at(3.0) is TISSUES
    t15 = tissues_at(1.5)
    for name in ("cerebral-wm", "cortex", "caudate", "putamen", "thalamus", "blood", "fat", "muscle"):
        assert t15[name].t1 < TISSUES[name].t1, name  # T1 is shorter at lower field
        assert t15[name].t2s > TISSUES[name].t2s, name  # T2* longer (R2' ∝ B0)
        assert t15[name].pd == TISSUES[name].pd
    assert t15["csf"].t1 == TISSUES["csf"].t1  # free water: field independent (Rooney 2007)
    assert 630 < t15["cerebral-wm"].t1 < 680 and 1200 < t15["cortex"].t1 < 1280
    assert t15["blood"].t1 == pytest.approx(1441.0)  # Stanisz 2005
    assert t15["cerebral-wm"].dr1 == pytest.approx(TISSUES["cerebral-wm"].dr1 * 1.04)  # Rohrer 2005
    with pytest.raises(ValueError, match="7.0 T"):
        tissues_at(7.0)


def test_tissue_contrast_ordering_holds_at_15t():
    p = SIEMENS_AVANTO_MPRAGE
    order = ["csf", "cortex", "caudate", "putamen", "thalamus", "cerebral-wm", "enhancing", "blood"]
    rel = [_rel_signal(p, n) for n in order]
    assert rel == sorted(rel), dict(zip(order, rel))
    # closer to the 3 T Siemens contrast than the Philips IR-TFE is, but not equal to it
    for name in ("cortex", "putamen"):
        s3, s15, ph = (_rel_signal(q, name) for q in (SIEMENS_MPRAGE, p, PHILIPS_TFE))
        assert abs(s15 - s3) < abs(ph - s3) and abs(s15 - s3) > 0.02, name
    # gadolinium enhances less at 1.5 T (shorter native T1, similar relaxivity)
    assert _rel_signal(p, "enhancing") < _rel_signal(SIEMENS_MPRAGE, "enhancing") - 0.1


def _on_bl_grid(img, src_affine, bl_shape, bl_affine):
    m = np.linalg.inv(src_affine) @ bl_affine
    return ndimage.affine_transform(img.astype(np.float32), m[:3, :3], m[:3, 3], output_shape=bl_shape,
                                    order=1)


def test_15t_shift_is_subtler_than_philips_on_the_same_anatomy():
    # one subject and lesion set, identity head pose, no noise (the systematic shift only; 1.5 T
    # noise is compared in docs/datasets.md): the only difference between the follow-ups is the scanner
    scale = 4.0
    anat = subject_anatomy(np.random.default_rng(np.random.SeedSequence([0, 1, 0])), scale, fields=(3.0, 1.5))
    les = place_lesions(np.random.default_rng(5), anat.labels, anat.affine, [22.0])
    pose = Pose(np.eye(3), np.zeros(3))
    fov = PRESETS["synth-tiny"].fov_mm

    def scan(p, k):
        p = dataclasses.replace(p, snr_wm=1e6)
        return acquire(anat, les, p, scale=scale, fov_mm=fov, pose=pose, rng=np.random.default_rng(k),
                       gd_delay_min=5.0)

    bl = scan(SIEMENS_MPRAGE, 1)
    lab = bl.labels
    brain = ndimage.binary_erosion(lab > 0, iterations=1)
    wm = np.isin(lab, (2, 41))

    def norm(img):
        return img.astype(np.float64) / float(np.median(img[wm]))

    ref = norm(bl.image)
    rmse = {}
    for name, p in (("philips", PHILIPS_TFE), ("15t", SIEMENS_AVANTO_MPRAGE), ("fu2", SIEMENS_MPRAGE)):
        a = scan(p, 2)
        img = _on_bl_grid(a.image, a.affine, bl.image.shape, bl.affine)
        rmse[name] = float(np.sqrt(np.mean((norm(img)[brain] - ref[brain]) ** 2)))
    assert rmse["fu2"] < rmse["15t"] < rmse["philips"], rmse
    # measured: Philips 0.091, 1.5 T 0.043, same-scanner FU2 0.003 (WM-normalised units)
    assert rmse["15t"] < 0.7 * rmse["philips"], rmse  # clearly subtler
    assert rmse["15t"] > 4.0 * rmse["fu2"], rmse  # yet a real scanner change
    # the 1.5 T scan keeps the 3 T grey/white ordering with a weaker contrast
    img = _on_bl_grid(scan(SIEMENS_AVANTO_MPRAGE, 3).image, bl.affine, bl.image.shape, bl.affine)
    ctx = cortex_mask(lab) & brain
    gw = {k: float(np.mean(v[ctx]) / np.mean(v[wm & brain])) for k, v in (("bl", ref), ("15t", norm(img)))}
    assert gw["bl"] < gw["15t"] < 0.9, gw


def test_preset_is_registered_with_a_15t_follow_up():
    spec = get_dataset("synth-quick-15t")
    assert spec.info["follow_up_scanner"] == "siemens-avanto-1.5t-mprage"
    assert spec.info["baseline_scanner"] == "siemens-skyra-mprage"
    p = PRESETS["synth-quick-15t"]
    assert (p.n_train, p.n_val, p.n_test_a, p.n_test_b, p.scale) == (30, 6, 10, 8, 2.0)
    assert p.fields_t == (3.0, 1.5)
    q = PRESETS["synth-quick"]
    assert (p.bl, p.fov_mm, p.prepare_spacing, p.target_diameter_mm) == (q.bl, q.fov_mm, q.prepare_spacing,
                                                                         q.target_diameter_mm)


def test_3t_presets_stay_at_3t():
    for name in ("synth-tiny", "synth-quick", "synth-quick-ge", "synth-paper"):
        assert PRESETS[name].fields_t == (3.0,), name
    anat = subject_anatomy(np.random.default_rng(np.random.SeedSequence([0, 1, 0])), 4.0)
    assert anat.other_fields == {}


#: sha256 of the voxel arrays of synth-tiny seed 0, case c0000, generator 3 (target lesions enhance,
#: lesion partial volume mixes signals). The same images as at the field-strength change (commit
#: 1d09677) up to generator 3: the 3 T presets must not move when another preset changes.
TINY_C0000 = {
    "BL": "10844080591c6e313545ea8ad808c1a1705d783f0b3921ffe0daf1afac4720bd",
    "FU": "2b1c9d5eb79e055d91a02e7aa5d627d4ff421876045d9b60e80e583edd105e0e",
    "FU2": "fb588fb289640caa430bde6bc75260ed15afe1470370491e2f8059a63722c413",
}


def test_synth_tiny_images_are_unchanged(tiny_raw):
    for session, digest in TINY_C0000.items():
        img = nib.load(tiny_raw.parent / "cases" / "c0000" / f"{session}.nii.gz")
        data = np.ascontiguousarray(np.asanyarray(img.dataobj))
        assert data.dtype == np.int16
        assert hashlib.sha256(data.tobytes()).hexdigest() == digest, session
