"""``harmbench harmonize --manifest M --out DIR``: every FU/FU2, resume, per-image failure isolation."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harmbench.cli.main import cli
from harmbench.data.manifest import read_manifest, resolve


@pytest.fixture(autouse=True)
def _few_threads(few_threads):
    """torch on one thread (tests/conftest.py)."""


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def small_manifest(bench, tmp_path):
    """Two test cases of the raw synth-tiny manifest (absolute paths) plus a case whose FU is not an image."""
    df = read_manifest(bench.raw)
    cases = [bench.case.case_id, next(c for c in df["case"] if c != bench.case.case_id and "test" in
                                      df[df.case == c]["split"].iloc[0])]
    sub = df[df["case"].isin(cases)].copy()
    for col in ("image", "labels", "lesion"):
        sub[col] = [str(resolve(df, v)) if v else "" for v in sub[col]]
    broken = sub[sub["case"] == cases[1]].copy()
    broken["case"] = "broken"
    broken["subject"] = "s-broken"
    (tmp_path / "not-an-image.nii.gz").write_text("no")
    broken.loc[broken["session"] == "FU", "image"] = str(tmp_path / "not-an-image.nii.gz")
    path = tmp_path / "in" / "manifest.csv"
    path.parent.mkdir()
    pd.concat([sub, broken]).to_csv(path, index=False)
    return path


def test_batch_harmonizes_every_follow_up_and_isolates_a_failure(bench, small_manifest, tmp_path):
    out = tmp_path / "out"
    res = run("harmonize", "nyul", "--model", bench.models["nyul"], "--manifest", small_manifest,
              "--out", out)
    assert res.exit_code == 1, res.output            # one image failed; the others were written
    summary = json.loads((out / "harmonize.json").read_text())
    assert [(f["case"], f["session"]) for f in summary["failures"]] == [("broken", "FU")]
    assert "not a readable NIfTI" in summary["failures"][0]["error"]
    assert summary["harmonized"] == 5 and summary["images"] == 6   # FU + FU2 of three cases, one broken
    df, src = read_manifest(out / "manifest.csv"), read_manifest(small_manifest)
    pairs = [(c, s) for c, s in zip(src["case"], src["session"]) if (c, s) != ("broken", "FU")]
    assert list(zip(df["case"], df["session"])) == pairs   # BL rows kept, the failed image left out
    assert all(resolve(df, p).exists() for p in df["image"])
    # the same numbers as the single-file command (and so as the benchmark)
    single = tmp_path / "single.nii.gz"
    assert run("harmonize", "nyul", "--model", bench.models["nyul"],
               "--input", bench.raw_case.ref("FU").image, "--reference", bench.raw_case.ref("BL").image,
               "--output", single).exit_code == 0
    batch = nib.load(out / "cases" / bench.case.case_id / "FU_harmonized.nii.gz").get_fdata()
    np.testing.assert_array_equal(batch, nib.load(single).get_fdata())


def test_batch_resumes_without_redoing_finished_images(bench, small_manifest, tmp_path, monkeypatch):
    out = tmp_path / "out"
    args = ("harmonize", "nyul", "--model", bench.models["nyul"], "--manifest", small_manifest, "--out", out)
    run(*args)
    first = (out / "manifest.csv").read_text()
    import harmbench.harmonize_file as hf

    def boom(*a, **k):
        raise AssertionError("redid a finished image")

    monkeypatch.setattr(hf, "harmonize_volumes", boom)
    res = run(*args)
    assert res.exit_code == 1 and "5 already done" in res.output, res.output
    assert (out / "manifest.csv").read_text() == first


def test_batch_declines_unseen_scanner_per_image_for_combat(bench, small_manifest, tmp_path):
    df = pd.read_csv(small_manifest, dtype=str, keep_default_na=False)
    df.loc[(df.case == "broken") & (df.session == "FU2"), "scanner"] = "ge-signa-bravo"
    df.to_csv(small_manifest, index=False)
    out = tmp_path / "out"
    res = run("harmonize", "combat", "--model", bench.models["combat"], "--manifest", small_manifest,
              "--out", out)
    assert res.exit_code == 1, res.output
    failures = json.loads((out / "harmonize.json").read_text())["failures"]
    errors = {(f["case"], f["session"]): f["error"] for f in failures}
    assert set(errors) == {("broken", "FU"), ("broken", "FU2")}
    assert "combat cannot harmonize FU scanner 'ge-signa-bravo'" in errors[("broken", "FU2")]


@pytest.mark.parametrize("case,needle", [
    ("prepared", "is a prepared manifest"),
    ("foreign-out", "did not write"),
    ("both", "either --input"),
    ("no-out", "--manifest needs --out"),
])
def test_batch_refusals_are_one_line(bench, small_manifest, tmp_path, case, needle):
    out = tmp_path / "out"
    manifest = bench.prepared if case == "prepared" else small_manifest
    if case == "foreign-out":
        out.mkdir()
        (out / "mine.txt").write_text("x")
    extra = {"both": ("--input", small_manifest), "no-out": ()}.get(case, ("--out", out))
    res = run("harmonize", "nyul", "--model", bench.models["nyul"], "--manifest", manifest, *extra)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], res.output
