"""``harmbench harmonize`` on raw files: the benchmark's preprocessing, its numbers, BL units, grids."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner

from harmbench.cli.main import cli
from harmbench.metrics.similarity import psnr
from harmbench.preprocess.settings import PREPROCESSING_FILE, read_preprocessing


@pytest.fixture(autouse=True)
def _few_threads(few_threads):
    """torch on one thread (tests/conftest.py)."""


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _harmonize_raw(bench, method, out, *extra):
    res = run("harmonize", method, "--model", bench.models[method], "--input", bench.raw_case.ref("FU").image,
              "--reference", bench.raw_case.ref("BL").image, "--output", out, *extra)
    assert res.exit_code == 0, res.output
    return nib.load(out)


# ---------------------------------------------------------------- item 3: same numbers as the benchmark
@pytest.mark.parametrize("method", ["nyul", "pix2pix"])
def test_raw_files_give_the_benchmarks_harmonized_volume(bench, method, tmp_path):
    img = _harmonize_raw(bench, method, tmp_path / "out.nii.gz")
    scored = nib.load(bench.harmonized[method]["harmonized"])
    np.testing.assert_allclose(img.affine, scored.affine, atol=1e-5)   # the prepared BL grid
    lo, hi = bench.case.ref("BL").scale
    prepared_scale = (img.get_fdata() - lo) / (hi - lo)                  # BL units -> prepared scale
    diff = np.abs(prepared_scale - scored.get_fdata()).max()
    assert diff <= 1e-4, f"{method}: max |difference| {diff:.3g} in prepared scale"


def test_benchmarks_native_file_is_in_bl_units_like_the_cli(bench, tmp_path):
    files = bench.harmonized["nyul"]
    lo, hi = bench.case.ref("BL").scale
    native = nib.load(files["native"]).get_fdata()
    h = nib.load(files["harmonized"]).get_fdata()
    np.testing.assert_allclose(native, h * (hi - lo) + lo, rtol=1e-6, atol=1e-6 * (hi - lo))
    cli_out = _harmonize_raw(bench, "nyul", tmp_path / "out.nii.gz").get_fdata()
    assert np.abs(cli_out - native).max() <= 1e-4 * (hi - lo)


# ---------------------------------------------------------------- item 1: the model records its preprocessing
def test_model_records_its_preprocessing(bench):
    meta = json.loads((bench.models["nyul"] / PREPROCESSING_FILE).read_text())
    prepared = json.loads((bench.prepared.parent / "dataset.json").read_text())
    assert meta["spacing_mm"] == 4.0
    assert meta["dataset"]["dataset_hash"] == prepared["dataset_hash"]
    assert meta["scaling"]["upper_percentile"] == 99.9 and meta["slice_range"]["drop"] == 0.1
    assert meta["registration"]["bins"] == 32 and meta["axial_axis"]["rule"]
    assert meta["scanners"]["FU"] == [bench.raw_case.ref("FU").scanner]
    rec = read_preprocessing(bench.models["nyul"])
    assert rec.settings.spacing == 4.0 and rec.bl_scale[1] > rec.bl_scale[0]


def test_cli_fit_records_the_preprocessing(bench, tmp_path):
    res = run("fit", "nyul", "--data", bench.prepared, "--out", tmp_path / "m")
    assert res.exit_code == 0, res.output
    a = json.loads((tmp_path / "m" / PREPROCESSING_FILE).read_text())
    b = json.loads((bench.models["nyul"] / PREPROCESSING_FILE).read_text())
    assert a["dataset"]["dataset_hash"] == b["dataset"]["dataset_hash"] and a["spacing_mm"] == b["spacing_mm"]


# ---------------------------------------------------------------- item 2: grids and units
def test_space_fu_and_bl_native_write_on_the_files_own_grids(bench, tmp_path):
    fu = nib.load(bench.raw_case.ref("FU").image)
    bl = nib.load(bench.raw_case.ref("BL").image)
    on_fu = _harmonize_raw(bench, "nyul", tmp_path / "fu.nii.gz", "--space", "fu")
    on_bl = _harmonize_raw(bench, "nyul", tmp_path / "bl.nii.gz", "--space", "bl-native")
    assert on_fu.shape == fu.shape and np.allclose(on_fu.affine, fu.affine, atol=1e-4)
    assert on_bl.shape == bl.shape and np.allclose(on_bl.affine, bl.affine, atol=1e-4)
    # the harmonized FU sits where the FU's head is (inverse registration), in BL units
    head = fu.get_fdata() > 0.2 * np.percentile(fu.get_fdata(), 99)
    r = np.corrcoef(on_fu.get_fdata()[head], fu.get_fdata()[head])[0, 1]
    assert r > 0.8, r
    lo, hi = bench.case.ref("BL").scale
    assert on_bl.get_fdata().max() <= hi * 1.5 and np.percentile(on_bl.get_fdata(), 99.9) > 0.5 * hi


def test_without_reference_the_fu_is_resampled_scaled_and_given_typical_bl_units(bench, tmp_path):
    out = tmp_path / "out.nii.gz"
    res = run("harmonize", "nyul", "--model", bench.models["nyul"], "--input", bench.raw_case.ref("FU").image,
              "--output", out)
    assert res.exit_code == 0, res.output
    assert "typical BL-scanner units" in res.output
    fu = nib.load(bench.raw_case.ref("FU").image)
    img = nib.load(out)
    assert img.shape == fu.shape and np.allclose(img.affine, fu.affine, atol=1e-4)
    lo, hi = read_preprocessing(bench.models["nyul"]).bl_scale
    with_ref = _harmonize_raw(bench, "nyul", tmp_path / "ref.nii.gz", "--space", "fu").get_fdata()
    head = with_ref > lo + 0.2 * (hi - lo)
    # nyul maps onto one standard scale, so the typical BL units land close to this BL's own
    rel = np.median(np.abs(img.get_fdata()[head] - with_ref[head])) / (hi - lo)
    assert rel < 0.05, rel


def test_bl_units_recover_a_monotone_scanner_map(tmp_path):
    """Issue #19: FU = 1.4 BL^1.8 + 30; histmatch against BL must raise PSNR in raw BL units."""
    from harmbench.testing.toy import _phantom, _render

    rng = np.random.default_rng(0)
    lab, les, grid = _phantom((40, 44, 36), rng)
    bl = 1000.0 * _render(lab, les, grid, 0, rng) / 1.05
    fu = (1.4 * np.clip(bl / 1000.0, 0, None) ** 1.8 * 1000.0 + 30.0).astype(np.float32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    nib.save(nib.Nifti1Image(bl.astype(np.float32), affine), tmp_path / "bl.nii.gz")
    nib.save(nib.Nifti1Image(fu, affine), tmp_path / "fu.nii.gz")
    res = run("harmonize", "histmatch", "--input", tmp_path / "fu.nii.gz",
              "--reference", tmp_path / "bl.nii.gz", "--output", tmp_path / "out.nii.gz")
    assert res.exit_code == 0, res.output
    out = nib.load(tmp_path / "out.nii.gz").get_fdata()

    def db(x):
        return psnr(x / 1000.0, bl / 1000.0, max_db=100)

    assert db(out) > db(fu) + 10 and db(out) > 25, (db(fu), db(out))


# ---------------------------------------------------------------- item 6: unseen scanners
def test_unseen_scanner_warns_in_one_line(bench, tmp_path):
    res = run("harmonize", "nyul", "--model", bench.models["nyul"], "--input", bench.raw_case.ref("FU").image,
              "--reference", bench.raw_case.ref("BL").image, "--output", tmp_path / "o.nii.gz",
              "--scanner", "ge-signa-bravo")
    assert res.exit_code == 0, res.output
    warnings = [ln for ln in res.output.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "'ge-signa-bravo' was not in nyul's training data" in warnings[0]


def test_combat_declines_an_unseen_scanner_and_takes_a_seen_one(bench, tmp_path):
    base = ("harmonize", "combat", "--model", bench.models["combat"],
            "--input", bench.raw_case.ref("FU").image, "--reference", bench.raw_case.ref("BL").image,
            "--output", tmp_path / "o.nii.gz")
    res = run(*base, "--scanner", "ge-signa-bravo")
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "combat cannot harmonize FU scanner 'ge-signa-bravo'" in lines[0]
    assert not (tmp_path / "o.nii.gz").exists()
    res = run(*base, "--scanner", bench.raw_case.ref("FU").scanner)
    assert res.exit_code == 0 and "warning" not in res.output, res.output
