"""CLI behaviour: every bad input gives exit code 2 and a single line naming the problem."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner

from harmbench.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_line_error(res, needle):
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert needle in lines[0], lines[0]
    assert "Traceback" not in res.output


@pytest.fixture
def files(tmp_path, affine):
    d = tmp_path
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 100, (6, 7, 8)).astype(np.float32)
    nib.save(nib.Nifti1Image(img, affine), d / "fu.nii.gz")
    nib.save(nib.Nifti1Image(img * 1.1, affine), d / "bl.nii.gz")
    nib.save(nib.Nifti1Image(img[:5], affine), d / "small.nii.gz")
    shifted = affine.copy()
    shifted[0, 3] += 7
    nib.save(nib.Nifti1Image(img, shifted), d / "shifted.nii.gz")
    nib.save(nib.Nifti1Image(np.stack([img, img], -1), affine), d / "4d.nii.gz")
    bad = img.copy()
    bad[0, 0, 0] = np.inf
    nib.save(nib.Nifti1Image(bad, affine), d / "inf.nii.gz")
    (d / "text.nii.gz").write_text("not an image")
    return d


def test_version():
    res = run("--version")
    assert res.exit_code == 0 and "0.1.0" in res.output


def test_list_json():
    res = run("list", "methods", "--json")
    names = {r["name"] for r in json.loads(res.output)}
    assert {"identity", "histmatch", "nyul"} <= names


def test_harmonize_identity_roundtrip(files, tmp_path):
    """Without a reference the FU stays in its own units; on an isotropic grid identity returns it
    unchanged except the top 0.1 % of head voxels, which the [0, 1] scaling clips."""
    from harmbench.preprocess.intensity import scale_params

    img = nib.load(files / "fu.nii.gz").get_fdata().astype(np.float32)
    nib.save(nib.Nifti1Image(img, np.diag([1.5, 1.5, 1.5, 1.0])), tmp_path / "iso.nii.gz")
    res = run("harmonize", "identity", "--input", tmp_path / "iso.nii.gz",
              "--output", tmp_path / "out.nii.gz")
    assert res.exit_code == 0, res.output
    out = nib.load(tmp_path / "out.nii.gz")
    lo, hi = scale_params(img)
    keep = img <= hi
    assert keep.mean() > 0.99
    np.testing.assert_allclose(out.get_fdata()[keep], img[keep], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out.affine, np.diag([1.5, 1.5, 1.5, 1.0]))


def test_harmonize_anisotropic_input_comes_back_on_its_own_grid(files):
    res = run("harmonize", "identity", "--input", files / "fu.nii.gz", "--output", files / "out.nii.gz")
    assert res.exit_code == 0, res.output
    a, b = nib.load(files / "out.nii.gz"), nib.load(files / "fu.nii.gz")
    assert a.shape == b.shape
    np.testing.assert_allclose(a.affine, b.affine)


@pytest.mark.parametrize("case,needle", [
    (("harmonize", "identity", "--input", "{d}/missing.nii.gz", "--output", "{d}/o.nii.gz"), "file not found"),
    (("harmonize", "identity", "--input", "{d}/text.nii.gz", "--output", "{d}/o.nii.gz"), "not a readable NIfTI"),
    (("harmonize", "identity", "--input", "{d}/4d.nii.gz", "--output", "{d}/o.nii.gz"), "expected a 3-D image"),
    (("harmonize", "identity", "--input", "{d}/inf.nii.gz", "--output", "{d}/o.nii.gz"), "NaN/Inf voxels"),
    (("harmonize", "identity", "--input", "{d}/fu.nii.gz", "--output", "{d}/o.nii.gz", "--space", "bl"),
     "--space bl needs --reference"),
    (("harmonize", "identity", "--output", "{d}/o.nii.gz"), "give either --input (one file) or --manifest"),
    (("harmonize", "identity", "--input", "{d}/fu.nii.gz"), "--input needs --output"),
    (("harmonize", "histmatch", "--input", "{d}/fu.nii.gz", "--output", "{d}/o.nii.gz"), "needs --reference"),
    (("harmonize", "histmach", "--input", "{d}/fu.nii.gz", "--output", "{d}/o.nii.gz"), "did you mean histmatch"),
    (("harmonize", "nyul", "--input", "{d}/fu.nii.gz", "--output", "{d}/o.nii.gz"), "must be fitted first"),
    (("harmonize", "identity", "--input", "{d}/fu.nii.gz", "--output", "{d}/fu.nii.gz"), "refusing to overwrite"),
    (("harmonize", "nyul[n_landmark=3]", "--input", "{d}/fu.nii.gz", "--output", "{d}/o.nii.gz"),
     "unknown parameter 'n_landmark'"),
    (("fit", "nyul", "--data", "{d}/nope.csv", "--out", "{d}/m"), "manifest not found"),
])
def test_bad_input_exit_2(files, case, needle):
    res = run(*[a.format(d=files) for a in case])
    _one_line_error(res, needle)


def test_model_from_other_method(files, toy_manifest, tmp_path):
    assert run("fit", "nyul", "--data", toy_manifest, "--out", tmp_path / "m").exit_code == 0
    res = run("harmonize", "histmatch", "--model", tmp_path / "m", "--input", files / "fu.nii.gz",
              "--reference", files / "bl.nii.gz", "--output", files / "o.nii.gz")
    _one_line_error(res, "saved by method 'nyul'; expected 'histmatch'")
    meta = json.loads((tmp_path / "m" / "artifact.json").read_text())
    meta["format_version"] = 7
    (tmp_path / "m" / "artifact.json").write_text(json.dumps(meta))
    res = run("harmonize", "nyul", "--model", tmp_path / "m", "--input", files / "fu.nii.gz",
              "--output", files / "o.nii.gz")
    _one_line_error(res, "format version 7")


def test_debug_shows_traceback(files):
    res = CliRunner().invoke(cli, ["--debug", "harmonize", "identity", "--input", str(files / "missing.nii.gz"),
                                   "--output", str(files / "o.nii.gz")])
    assert res.exit_code != 0 and res.exception is not None


def test_check_plugin_cli():
    res = run("check-plugin", "nyul", "--json")
    assert res.exit_code == 0, res.output
    results = json.loads(res.output)
    assert [r["name"] for r in results if not r["passed"]] == []
    names = {r["name"] for r in results}
    assert {"parameter constraints name __init__ parameters",
            "defaults and presets satisfy the parameter constraints",
            "check_params refuses an out-of-constraint value with a one-line DataError"} <= names


def test_evaluate_refuses_a_bad_parameter_at_planning(toy_manifest, tmp_path):
    """One line naming the parameter and the value, exit 2, and no model, image or score written."""
    work, out = tmp_path / "work", tmp_path / "lb"
    res = run("evaluate", "--dataset", toy_manifest, "--methods", "identity,histmatch[mask=x]",
              "--work-dir", work, "--out", out)
    _one_line_error(res, "'mask'")
    assert "'x'" in res.output
    written = [p for d in (work, out) if d.exists() for p in d.rglob("*") if p.is_file()]
    assert not [p for p in written if p.name in ("artifact.json", "results.csv", "record.json")
                or p.name.endswith(".nii.gz")], written


@pytest.mark.parametrize("spec, needle", [
    ("nyul[n_landmarks=2]", "'n_landmarks' must be an int in [3, inf); got 2"),
    ("nyul[i_min=50,i_max=20]", "need i_min < i_max"),
    ("combat[mode=pixel]", "'mode' must be one of {'landmark', 'voxel'}; got 'pixel'"),
])
def test_fit_refuses_bad_parameters_before_reading_data(tmp_path, spec, needle):
    res = run("fit", spec, "--data", tmp_path / "missing.csv", "--out", tmp_path / "m")
    _one_line_error(res, needle)  # not "manifest not found": the parameters are checked first
    assert not (tmp_path / "m").exists()


def test_harmonize_refuses_a_bad_parameter_before_reading_images(files):
    res = run("harmonize", "histmatch[mask=x]", "--input", files / "fu.nii.gz", "--reference",
              files / "bl.nii.gz", "--output", files / "o.nii.gz")
    _one_line_error(res, "histmatch: parameter 'mask' must be one of {'head', 'none'}; got 'x'")
    assert not (files / "o.nii.gz").exists()


def test_evaluate_refuses_invalid_manifest(tmp_path):
    (tmp_path / "manifest.csv").write_text(
        "case,subject,session,scanner,vendor,split,image\nc1,s1,BL,a,x,train,missing.nii.gz\n")
    res = run("evaluate", "--dataset", tmp_path / "manifest.csv", "--out", tmp_path / "lb")
    _one_line_error(res, "problem(s), first:")


def test_unknown_dataset_name():
    res = run("evaluate", "--dataset", "synth-quik")
    _one_line_error(res, "did you mean synth-quick")


@pytest.mark.parametrize("args, needle", [
    (["--seeds", "0"], "--seeds '0' asks for no seed"),
    (["--seeds", "a"], "--seeds 'a' is neither a number"),
    (["--seeds", "0,b"], "holds a value that is not an integer"),
    (["--seeds", "0,4,0"], "seed(s) 0 given twice"),
    (["--seeds", "1,-3"], "seed -3 is not a non-negative integer"),
    (["--seed", "-1"], "seed -1 is not a non-negative integer"),
    (["--seed", "1", "--seeds", "2"], "--seed 1 and --seeds 2 both choose the training seeds"),
])
def test_evaluate_refuses_bad_seeds_before_any_work(toy_manifest, tmp_path, args, needle):
    res = run("evaluate", "--dataset", toy_manifest, "--methods", "identity", "--out", tmp_path / "lb",
              "--work-dir", tmp_path / "work", *args)
    _one_line_error(res, needle)
    assert not (tmp_path / "lb").exists() and not (tmp_path / "work").exists()
