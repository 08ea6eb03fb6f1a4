"""prepare_manifest: shared BL grid, registration accuracy, scaling, slice range, cache."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import SimpleITK as sitk

from harmbench.data.cohort import Cohort
from harmbench.io import load_volume
from harmbench.data.manifest import PREPARED_COLUMNS
from harmbench.preprocess import prepare_manifest
from harmbench.preprocess.grid import isotropic_grid, resample, to_sitk
from harmbench.preprocess.intensity import apply_scale, invert_scale, scale_params
from harmbench.preprocess.register import register_rigid
from harmbench.data.validate import validate_manifest
from harmbench.volume import Volume

_LPS = np.diag([-1.0, -1.0, 1.0])


def test_registration_recovers_a_known_rigid_transform(tiny_raw):
    bl = load_volume(tiny_raw.parent / "cases" / "c0008" / "BL.nii.gz")
    shape, aff = isotropic_grid(bl.shape, bl.affine, 2.0)
    fixed = resample(bl.data, bl.affine, shape, aff)
    # known motion: 4, -3, 5 degrees and (3.5, -2.0, 4.5) mm about the image centre
    centre = aff[:3, :3] @ ((np.array(shape) - 1) / 2) + aff[:3, 3]
    truth = sitk.Euler3DTransform()
    truth.SetCenter(tuple(_LPS @ centre))
    truth.SetRotation(*np.deg2rad([4.0, -3.0, 5.0]))
    truth.SetTranslation((3.5, -2.0, 4.5))
    # moving image: the same head seen through the transform, with a different (non-linear) contrast
    moving = resample(fixed, aff, shape, aff, transform=truth)
    moving = np.sqrt(np.clip(moving, 0, None)) * 40.0
    moving += np.random.default_rng(0).normal(0, 0.5, moving.shape).astype(np.float32)
    est = register_rigid(fixed, aff, moving, aff)
    # moving(x) = fixed(truth(x)), so aligning moving to fixed must find truth's inverse
    truth = truth.GetInverse()

    mask = fixed > 0.3 * np.percentile(fixed, 99)
    pts = np.argwhere(mask)[::7].T.astype(float)
    world = _LPS @ (aff[:3, :3] @ pts + aff[:3, 3:4])
    err = [np.linalg.norm(np.subtract(est.TransformPoint(tuple(p)), truth.TransformPoint(tuple(p))))
           for p in world.T]
    r_est = np.array(est.GetMatrix()).reshape(3, 3)
    r_true = np.array(truth.GetMatrix()).reshape(3, 3)
    angle = np.rad2deg(np.arccos(np.clip((np.trace(r_est @ r_true.T) - 1) / 2, -1, 1)))
    assert max(err) < 1.0, f"max displacement error {max(err):.2f} mm"
    assert angle < 1.0, f"rotation error {angle:.2f} deg"


def test_prepared_cases_share_the_bl_grid_and_pass_validation(tiny_prepared):
    df = pd.read_csv(tiny_prepared, dtype=str, keep_default_na=False)
    assert all(c in df.columns for c in PREPARED_COLUMNS)
    assert validate_manifest(tiny_prepared) == []
    cohort = Cohort.from_manifest(tiny_prepared)
    assert cohort.prepared and cohort.name == "synth-tiny" and len(cohort.dataset_hash) == 64
    for case in cohort.cases:
        bl = case.volume("BL")
        assert np.allclose(bl.spacing, 4.0)
        for s in ("FU", "FU2"):
            v = case.volume(s)
            assert v.same_grid(bl)
            assert 0.0 <= v.data.min() and v.data.max() <= 1.0
            assert case.labels(s).shape == bl.shape and case.lesion(s).shape == bl.shape
        assert case.ref("FU").slice_range == case.slice_range


def test_registration_aligns_brains_of_the_tiny_cohort(tiny_prepared):
    # brain masks of FU/FU2 (own ground truth, moved by registration) overlap BL's
    for case in Cohort.from_manifest(tiny_prepared).cases:
        b = case.labels("BL") > 0
        for s in ("FU", "FU2"):
            f = case.labels(s) > 0
            dice = 2 * (b & f).sum() / (b.sum() + f.sum())
            assert dice > 0.9, (case.case_id, s, dice)


def test_slice_range_drops_ten_percent_of_the_head(tiny_prepared):
    case = Cohort.from_manifest(tiny_prepared).cases[0]
    bl = case.volume("BL")
    lo, hi = case.slice_range
    from harmbench.masking import head_mask

    occ = np.flatnonzero(head_mask(bl.data).any(axis=(0, 1)))
    n = occ.size
    assert bl.axial_axis == 2
    assert lo == occ[0] + int(0.1 * n) and hi == occ[-1] + 1 - int(0.1 * n)


def test_scaling_is_stored_and_invertible():
    rng = np.random.default_rng(0)
    raw = np.zeros((20, 20, 20), np.float32)
    raw[4:16, 4:16, 4:16] = rng.uniform(100, 900, (12, 12, 12))
    lo, hi = scale_params(raw)
    scaled = apply_scale(raw, lo, hi)
    assert lo == 0.0 and 880 < hi <= 900
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    keep = raw <= hi
    assert np.allclose(invert_scale(scaled, lo, hi)[keep], raw[keep], atol=1e-3)


def test_prepared_intensities_map_back_to_raw_bl(tiny_prepared, tiny_raw):
    df = pd.read_csv(tiny_prepared, dtype=str, keep_default_na=False)
    row = df[(df.case == "c0000") & (df.session == "BL")].iloc[0]
    prep = load_volume(tiny_prepared.parent / row["image"])
    raw = load_volume(tiny_raw.parent / "cases" / "c0000" / "BL.nii.gz")
    assert raw.shape == prep.shape  # 4 mm native -> 4 mm prepared: same grid
    back = invert_scale(prep.data, float(row["scale_lo"]), float(row["scale_hi"]))
    keep = prep.data < 1.0
    assert np.allclose(back[keep], raw.data[keep], atol=1e-2 * float(row["scale_hi"]) / 1000)


def test_second_prepare_is_cached(tiny_raw, tiny_prepared):
    stamp = tiny_prepared.stat().st_mtime_ns
    t0 = time.perf_counter()
    again = prepare_manifest(tiny_raw, spacing=4.0)
    assert again == tiny_prepared and tiny_prepared.stat().st_mtime_ns == stamp
    assert time.perf_counter() - t0 < 5.0
    meta = json.loads((tiny_prepared.parent / "dataset.json").read_text())
    assert meta["template_space"] is False and meta["spacing"] == 4.0


def test_isotropic_grid_keeps_the_field_of_view():
    aff = np.diag([-0.9, -0.9, 0.9, 1.0])
    aff[:3, 3] = [100.0, 120.0, -90.0]
    shape, new = isotropic_grid((284, 284, 284), aff, 1.0)
    assert shape == (256, 256, 256)
    corner_old = aff[:3, :3] @ np.full(3, -0.5) + aff[:3, 3]
    corner_new = new[:3, :3] @ np.full(3, -0.5) + new[:3, 3]
    assert np.allclose(corner_old, corner_new, atol=1e-6)
    assert Volume(np.zeros(shape), new).orientation == ("L", "P", "S")


def test_sitk_round_trip_geometry():
    aff = np.array([[0, 0, -2.0, 50], [1.5, 0, 0, -20], [0, 1.0, 0, 10], [0, 0, 0, 1]])
    img = to_sitk(np.zeros((4, 5, 6), np.float32), aff)
    from harmbench.preprocess.grid import from_sitk

    data, back = from_sitk(img)
    assert data.shape == (4, 5, 6) and np.allclose(back, aff)


def test_prepare_in_two_worker_processes_writes_the_same_dataset(tiny_raw, tiny_prepared, tmp_path):
    two = prepare_manifest(tiny_raw, tmp_path / "two", spacing=4.0, workers=2)
    assert two.read_text() == tiny_prepared.read_text()
    hash_one = json.loads((tiny_prepared.parent / "dataset.json").read_text())["dataset_hash"]
    assert json.loads((two.parent / "dataset.json").read_text())["dataset_hash"] == hash_one
