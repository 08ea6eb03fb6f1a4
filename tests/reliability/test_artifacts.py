"""Damaged or hostile model directories and bad output paths give one line and exit 2 (issue #24.2/4/5).

Every case tampers with a copy of a real saved model (``nyul`` for ``arrays.npz``, a tiny
``pix2pix`` for ``.pt`` weights) and runs the CLI: the exit code is 2 and the output is a single
line without a traceback. The exact wording of each line is not asserted.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from harmbench.cli.main import cli
from harmbench.data.cohort import Cohort
from harmbench.errors import DataError
from harmbench.testing.toy import write_toy_cohort


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(res) -> str:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert "Traceback" not in res.output
    return lines[0]


@pytest.fixture(autouse=True)
def _few_threads(few_threads):
    """Every test here runs torch on one thread (tests/conftest.py)."""


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return write_toy_cohort(tmp_path_factory.mktemp("rel-toy"), n_train=2, n_val=1, n_test_a=1, n_test_b=0,
                            shape=(24, 28, 20), seed=3)


@pytest.fixture(scope="module")
def fu_image(manifest):
    cohort = Cohort.from_manifest(manifest)
    return Path(cohort.split("test-A")[0].ref("FU").image)


@pytest.fixture(scope="module")
def nyul_model(manifest, tmp_path_factory):
    from harmbench_histmatch.nyul import NyulStandardization

    d = tmp_path_factory.mktemp("nyul-model") / "m"
    NyulStandardization().fit(Cohort.from_manifest(manifest)).save(d)
    return d


@pytest.fixture(scope="module")
def gan_model(manifest, tmp_path_factory):
    from harmbench_gan.methods import Pix2Pix

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("p2p-model") / "m"
    Pix2Pix(preset="tiny", device="cpu").fit(Cohort.from_manifest(manifest)).save(d)
    torch.set_num_threads(old)
    return d


def _copy(model: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "model"
    shutil.copytree(model, dest)
    return dest


def _harmonize(method: str, model: Path, fu: Path, tmp_path: Path):
    out = tmp_path / "out.nii.gz"
    res = run("harmonize", method, "--model", model, "--input", fu, "--output", out)
    return res, out


# ---------------------------------------------------------------- controls: the untouched models work
@pytest.mark.parametrize("which", ["nyul", "pix2pix"])
def test_untouched_models_harmonize(which, nyul_model, gan_model, fu_image, tmp_path):
    res, out = _harmonize(which, nyul_model if which == "nyul" else gan_model, fu_image, tmp_path)
    assert res.exit_code == 0, res.output
    assert out.exists()


# ---------------------------------------------------------------- item 2: NaN in saved state
def test_nan_in_npz_is_refused(nyul_model, fu_image, tmp_path):
    d = _copy(nyul_model, tmp_path)
    with np.load(d / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["standard_scale"] = np.full_like(arrays["standard_scale"], np.nan)
    np.savez(d / "arrays.npz", **arrays)
    res, out = _harmonize("nyul", d, fu_image, tmp_path)
    line = one_line_error(res)
    assert "non-finite" in line
    assert not out.exists()


def test_nan_in_pt_weights_is_refused(gan_model, fu_image, tmp_path):
    d = _copy(gan_model, tmp_path)
    sd = torch.load(d / "G_fu2bl.pt", weights_only=True)
    name = next(k for k, t in sd.items() if t.is_floating_point() and t.numel() > 1)
    sd[name] = torch.full_like(sd[name], float("nan"))
    torch.save(sd, d / "G_fu2bl.pt")
    res, out = _harmonize("pix2pix", d, fu_image, tmp_path)
    line = one_line_error(res)
    assert "non-finite" in line
    assert not out.exists()


# ---------------------------------------------------------------- item 4: artifact.json
def _edit_meta(d: Path, edit) -> None:
    meta = json.loads((d / "artifact.json").read_text())
    (d / "artifact.json").write_text(json.dumps(edit(meta)))


@pytest.mark.parametrize("case", ["list", "unknown-param", "params-not-dict", "state-not-dict"])
def test_bad_artifact_json(case, nyul_model, fu_image, tmp_path):
    d = _copy(nyul_model, tmp_path)
    edits = {
        "list": lambda m: [m],
        "unknown-param": lambda m: {**m, "params": {**m["params"], "bogus": 3}},
        "params-not-dict": lambda m: {**m, "params": [1, 2]},
        "state-not-dict": lambda m: {**m, "state": "x"},
    }
    _edit_meta(d, edits[case])
    res, out = _harmonize("nyul", d, fu_image, tmp_path)
    one_line_error(res)
    assert not out.exists()


# ---------------------------------------------------------------- item 4: arrays.npz
def _truncate(f: Path) -> None:
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("case", ["missing", "truncated", "missing-key", "wrong-shape", "object-array"])
def test_bad_arrays_npz(case, nyul_model, fu_image, tmp_path):
    d = _copy(nyul_model, tmp_path)
    f = d / "arrays.npz"
    with np.load(f) as z:
        arrays = {k: z[k] for k in z.files}
    if case == "missing":
        f.unlink()
    elif case == "truncated":
        _truncate(f)
    elif case == "missing-key":
        del arrays["standard_scale"]
        np.savez(f, **arrays)
    elif case == "wrong-shape":
        arrays["standard_scale"] = arrays["standard_scale"][:5]
        np.savez(f, **arrays)
    else:  # a pickled object array: refused by allow_pickle=False, now on one line
        arrays["standard_scale"] = np.array([{"a": 1}], dtype=object)
        np.savez(f, **arrays)
    res, out = _harmonize("nyul", d, fu_image, tmp_path)
    one_line_error(res)
    assert not out.exists()


# ---------------------------------------------------------------- item 4: .pt weights
class _Evil:
    """Pickles to a call of ``print``: must be refused by ``weights_only`` loading, never run."""

    def __reduce__(self):
        return (print, ("PWNED-BY-PICKLE",))


@pytest.mark.parametrize("case", ["missing", "truncated", "wrong-keys", "wrong-shapes", "pickle",
                                  "not-a-dict"])
def test_bad_pt_weights(case, gan_model, fu_image, tmp_path):
    d = _copy(gan_model, tmp_path)
    f = d / "G_fu2bl.pt"
    sd = torch.load(f, weights_only=True)
    if case == "missing":
        f.unlink()
    elif case == "truncated":
        _truncate(f)
    elif case == "wrong-keys":
        k = next(iter(sd))
        sd["renamed." + k] = sd.pop(k)
        torch.save(sd, f)
    elif case == "wrong-shapes":
        k = next(k for k, t in sd.items() if t.ndim == 4)
        sd[k] = torch.zeros(tuple(s + 1 for s in sd[k].shape))
        torch.save(sd, f)
    elif case == "pickle":
        torch.save({**sd, "payload": _Evil()}, f)
    else:
        torch.save(list(sd.values()), f)
    res, out = _harmonize("pix2pix", d, fu_image, tmp_path)
    one_line_error(res)
    assert "PWNED-BY-PICKLE" not in res.output
    assert not out.exists()


# ---------------------------------------------------------------- item 4: absurd network sizes
@pytest.fixture
def no_allocation(monkeypatch):
    """Make building any GAN model an error: a refusal must come before it."""
    from harmbench_gan import models

    def boom(self, *a, **k):
        raise AssertionError("a network was allocated")

    monkeypatch.setattr(models.CycleModel, "__init__", boom)
    monkeypatch.setattr(models.Pix2PixModel, "__init__", boom)


@pytest.mark.parametrize("spec", ["pix2pix[ngf=100000]", "oml-cyclegan[ngf=100000]", "cyclegan[ndf=100000]",
                                  "pix2pix[depth=40]"])
def test_fit_refuses_huge_networks_before_allocating(spec, manifest, tmp_path, no_allocation):
    res = run("fit", spec, "--preset", "tiny", "--device", "cpu", "--data", manifest, "--out", tmp_path / "m")
    one_line_error(res)
    assert not (tmp_path / "m" / "artifact.json").exists()


def test_saved_huge_network_config_is_refused(gan_model, fu_image, tmp_path, no_allocation):
    d = _copy(gan_model, tmp_path)
    _edit_meta(d, lambda m: {**m, "state": {**m["state"], "config": {**m["state"]["config"], "ngf": 100000}}})
    res, out = _harmonize("pix2pix", d, fu_image, tmp_path)
    assert "100000" in one_line_error(res)
    assert not out.exists()


def test_stgan_refuses_huge_networks():
    from harmbench_stgan.stgan import StyleTransferGAN

    with pytest.raises(DataError, match="parameters"):
        StyleTransferGAN(preset="tiny", dim=100000, max_dim=100000)._build(2)
    with pytest.raises(DataError, match="image_size"):
        StyleTransferGAN(preset="tiny", image_size=100000).config()


# ---------------------------------------------------------------- item 4: bad output paths
@pytest.mark.parametrize("case", ["is-a-directory", "parent-is-a-file", "read-only-folder"])
def test_bad_output_path(case, fu_image, tmp_path):
    if case == "is-a-directory":
        out = tmp_path / "out.nii.gz"
        out.mkdir()
    elif case == "parent-is-a-file":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "out.nii.gz"
    else:
        if os.geteuid() == 0:
            pytest.skip("root ignores folder permissions, so a read-only folder is writable for root")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        out = ro / "out.nii.gz"
    try:
        res = run("harmonize", "identity", "--input", fu_image, "--output", out)
        one_line_error(res)
    finally:
        if case == "read-only-folder":
            (tmp_path / "ro").chmod(0o755)
    assert not out.is_file()


# ---------------------------------------------------------------- item 5: fit --out into another model
def test_fit_refuses_another_methods_model_dir(gan_model, manifest, tmp_path):
    d = _copy(gan_model, tmp_path)
    before = (d / "artifact.json").read_text()
    res = run("fit", "nyul", "--data", manifest, "--out", d)
    assert "pix2pix" in one_line_error(res)
    assert (d / "artifact.json").read_text() == before


def test_fit_refuses_non_model_folder(manifest, tmp_path):
    d = tmp_path / "stuff"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    one_line_error(run("fit", "nyul", "--data", manifest, "--out", d))
    assert not (d / "artifact.json").exists()


def test_fit_force_and_same_method_refit_are_allowed(gan_model, manifest, tmp_path):
    d = _copy(gan_model, tmp_path)
    res = run("fit", "nyul", "--data", manifest, "--out", d, "--force")
    assert res.exit_code == 0, res.output
    assert json.loads((d / "artifact.json").read_text())["method"] == "nyul"
    res = run("fit", "nyul[n_landmarks=5]", "--data", manifest, "--out", d)  # refitting nyul's own model
    assert res.exit_code == 0, res.output
    assert json.loads((d / "artifact.json").read_text())["params"]["n_landmarks"] == 5


def test_fit_out_is_a_file(manifest, tmp_path):
    (tmp_path / "afile").write_text("x")
    one_line_error(run("fit", "nyul", "--data", manifest, "--out", tmp_path / "afile"))
    one_line_error(run("fit", "nyul", "--data", manifest, "--out", tmp_path / "afile" / "m"))
