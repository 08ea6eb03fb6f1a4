"""``harmbench datasets from-bids``: a small BIDS tree with sidecars, through to a leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harmbench.cli.main import cli
from harmbench.io import save_labels, save_volume
from harmbench.testing.toy import _phantom, _render
from harmbench.data.validate import validate_manifest
from harmbench.volume import Volume

SHAPE = (24, 28, 24)
SIEMENS = {"Manufacturer": "Siemens", "ManufacturersModelName": "Prisma_fit", "MagneticFieldStrength": 3,
           "DeviceSerialNumber": "166038"}
PHILIPS = {"Manufacturer": "Philips Medical Systems", "ManufacturersModelName": "Achieva dStream",
           "MagneticFieldStrength": 3.0}
# subject -> [(session, scanner, acq_time)]; sub-02's times are in scans.tsv and run against label order
SESSIONS = {
    "01": [("1", SIEMENS, "2020-01-10T09:00:00"), ("2", PHILIPS, "2020-03-01T10:00:00"),
           ("3", SIEMENS, "2020-05-01T11:00:00")],
    "02": [("1", PHILIPS, "2021-06-01T09:00:00"), ("2", SIEMENS, "2021-01-01T09:00:00")],
    "03": [("1", SIEMENS, "2020-02-01T09:00:00"), ("2", PHILIPS, "2020-02-15T09:00:00")],
    "04": [("1", SIEMENS, "2020-04-01T09:00:00"), ("2", PHILIPS, "2020-04-20T09:00:00")],
    "05": [("1", SIEMENS, "2020-01-01T09:00:00"), ("2", SIEMENS, "2020-02-01T09:00:00")],
}
SIEMENS_ID = "siemens-prisma-fit-3t-166038"
PHILIPS_ID = "philips-achieva-dstream-3t"


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj) if isinstance(obj, dict) else obj)


def _tsv(rows: list[tuple[str, ...]]) -> str:
    return "".join("\t".join(r) + "\n" for r in rows)


def make_bids(root: Path) -> Path:
    """Five subjects, two or three sessions each, Siemens- and Philips-style phantom images."""
    rng = np.random.default_rng(0)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = -np.array(SHAPE) + 1.0
    _write(root / "dataset_description.json", {"Name": "toy", "BIDSVersion": "1.8.0"})
    _write(root / "participants.tsv", _tsv([("participant_id",)] + [(f"sub-{s}",) for s in SESSIONS]))
    for sub, sessions in SESSIONS.items():
        lab, les, grid = _phantom(SHAPE, rng)
        for ses, meta, when in sessions:
            anat = root / f"sub-{sub}" / f"ses-{ses}" / "anat"
            stem = f"sub-{sub}_ses-{ses}_ce-gadolinium_T1w"
            gain, style = (450.0, 0) if meta is SIEMENS else (1400.0, 1)
            anat.mkdir(parents=True, exist_ok=True)
            save_volume(Volume(_render(lab, les, grid, style, rng) * gain, affine), anat / f"{stem}.nii.gz")
            _write(anat / f"{stem}.json", {**meta, "RepetitionTime": 2.3})
            if sub == "02":
                _write(anat.parent / f"sub-{sub}_ses-{ses}_scans.tsv",
                       _tsv([("filename", "acq_time"), (f"anat/{stem}.nii.gz", when)]))
            if sub == "01":
                seg = root / "derivatives" / "synthseg" / f"sub-{sub}" / f"ses-{ses}" / "anat"
                seg.mkdir(parents=True, exist_ok=True)
                save_labels(lab, affine, seg / f"sub-{sub}_ses-{ses}_ce-gadolinium_desc-synthseg_dseg.nii.gz")
        if sub != "02":
            _write(root / f"sub-{sub}" / f"sub-{sub}_sessions.tsv",
                   _tsv([("session_id", "acq_time")] + [(f"ses-{s}", w) for s, _, w in sessions]))
    _write(root / "derivatives" / "synthseg" / "dataset_description.json",
           {"Name": "synthseg", "BIDSVersion": "1.8.0", "DatasetType": "derivative"})
    return root


@pytest.fixture(scope="module")
def bids_root(tmp_path_factory):
    return make_bids(tmp_path_factory.mktemp("bids") / "ds")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_line_error(res, *needles):
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def _rows(manifest: Path) -> dict[tuple[str, str], dict]:
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    return {(r["case"], r["session"]): r for r in df.to_dict("records")}


def test_from_bids_to_leaderboard(bids_root, tmp_path):
    manifest = tmp_path / "out" / "manifest.csv"
    res = run("datasets", "from-bids", bids_root, "--out", manifest)
    assert res.exit_code == 0, res.output
    assert "4 case(s)" in res.output and "1 subject(s) skipped" in res.output  # sub-05: Siemens only
    assert validate_manifest(manifest, deep=True) == []
    rows = _rows(manifest)
    assert set(rows) == {("sub-01", "FU2")} | {(f"sub-0{i}", s) for i in range(1, 5) for s in ("BL", "FU")}
    # sessions.tsv order: BL ses-1 Siemens, FU ses-2 Philips, FU2 ses-3 back on the Siemens
    assert [(manifest.parent / rows[("sub-01", s)]["image"]).resolve() for s in ("BL", "FU", "FU2")] == [
        bids_root / f"sub-01/ses-{k}/anat/sub-01_ses-{k}_ce-gadolinium_T1w.nii.gz" for k in (1, 2, 3)]
    assert rows[("sub-01", "BL")]["image"].startswith("../")  # relative to the manifest's folder
    assert (rows[("sub-01", "BL")]["scanner"], rows[("sub-01", "FU")]["scanner"]) == (SIEMENS_ID, PHILIPS_ID)
    assert (rows[("sub-01", "BL")]["vendor"], rows[("sub-01", "FU")]["vendor"]) == ("siemens", "philips")
    # scans.tsv order beats label order: sub-02's ses-2 was acquired first
    assert "ses-2" in rows[("sub-02", "BL")]["image"] and rows[("sub-02", "BL")]["scanner"] == SIEMENS_ID
    assert rows[("sub-01", "FU2")]["labels"].endswith("sub-01_ses-3_ce-gadolinium_desc-synthseg_dseg.nii.gz")
    assert rows[("sub-03", "BL")]["labels"] == ""
    splits = {r["split"] for r in rows.values()}
    assert splits == {"train", "test-A"}
    assert sum(r["split"] == "test-A" for (c, s), r in rows.items() if s == "BL") == 1
    # the same command again rewrites the same file without --force
    assert run("datasets", "from-bids", bids_root, "--out", manifest).exit_code == 0

    res = run("evaluate", "--dataset", manifest, "--methods", "identity,histmatch", "--metrics", "similarity",
              "--test-sets", "A", "--workers", "1", "--out", tmp_path / "lb", "--work-dir", tmp_path / "work")
    assert res.exit_code == 0, res.output
    results = pd.read_csv(tmp_path / "lb" / "results.csv")
    assert {"identity", "histmatch"} <= set(results["run"])
    psnr = results[(results["metric"] == "psnr") & (results["test_set"] == "A")]
    psnr = psnr.groupby("run")["value"].mean()
    assert psnr["histmatch"] > psnr["identity"]  # the Philips-style FU is brought closer to BL


def test_missing_sidecar_names_the_file(bids_root, tmp_path):
    sidecar = bids_root / "sub-03" / "ses-2" / "anat" / "sub-03_ses-2_ce-gadolinium_T1w.json"
    hidden = sidecar.with_suffix(".bak")
    sidecar.rename(hidden)
    try:
        res = run("datasets", "from-bids", bids_root, "--out", tmp_path / "m.csv")
    finally:
        hidden.rename(sidecar)
    _one_line_error(res, "missing JSON sidecar", "sub-03_ses-2_ce-gadolinium_T1w.json")


def test_two_matching_images_name_the_session(bids_root, tmp_path):
    anat = bids_root / "sub-04" / "ses-1" / "anat"
    extra = anat / "sub-04_ses-1_ce-gadolinium_run-2_T1w.nii.gz"
    extra.write_bytes((anat / "sub-04_ses-1_ce-gadolinium_T1w.nii.gz").read_bytes())
    try:
        res = run("datasets", "from-bids", bids_root, "--out", tmp_path / "m.csv")
    finally:
        extra.unlink()
    _one_line_error(res, "sub-04 ses-1 has 2 images", "sub-04_ses-1_ce-gadolinium_run-2_T1w.nii.gz",
                    "sub-04_ses-1_ce-gadolinium_T1w.nii.gz", "--run")


def test_bl_session_and_label_order(bids_root, tmp_path):
    m = tmp_path / "bl2.csv"
    assert run("datasets", "from-bids", bids_root, "--out", m, "--bl-session", "ses-2").exit_code == 0
    rows = _rows(m)
    # BL forced to ses-2 (Philips); FU = the first other session on another scanner (ses-1); no FU2
    assert "ses-2" in rows[("sub-01", "BL")]["image"] and "ses-1" in rows[("sub-01", "FU")]["image"]
    assert rows[("sub-01", "BL")]["scanner"] == PHILIPS_ID and ("sub-01", "FU2") not in rows
    assert validate_manifest(m, deep=False) == []
    m = tmp_path / "label.csv"
    assert run("datasets", "from-bids", bids_root, "--out", m, "--session-order", "label").exit_code == 0
    assert "ses-1" in _rows(m)[("sub-02", "BL")]["image"]


def test_splits_tsv_overrides_the_draw(bids_root, tmp_path):
    tsv = tmp_path / "splits.tsv"
    tsv.write_text(_tsv([("participant_id", "split"), ("sub-01", "test-B"), ("02", "val"),
                         ("sub-03", "test")]))
    m = tmp_path / "m.csv"
    assert run("datasets", "from-bids", bids_root, "--out", m, "--splits", tsv).exit_code == 0
    split = {c: r["split"] for (c, s), r in _rows(m).items()}
    assert split == {"sub-01": "test-B", "sub-02": "val", "sub-03": "test-A", "sub-04": "test-A"}
    tsv.write_text(_tsv([("participant_id", "split"), ("sub-09", "train")]))
    _one_line_error(run("datasets", "from-bids", bids_root, "--out", m, "--splits", tsv, "--force"),
                    "line 2", "sub-09 is not a subject")


def test_other_one_line_errors(bids_root, tmp_path):
    _one_line_error(run("datasets", "from-bids", tmp_path, "--out", tmp_path / "m.csv"),
                    "no dataset_description.json")
    scans = bids_root / "sub-02" / "ses-1" / "sub-02_ses-1_scans.tsv"
    text = scans.read_text()
    scans.unlink()
    try:
        _one_line_error(run("datasets", "from-bids", bids_root, "--out", tmp_path / "m.csv"),
                        "no acq_time for sub-02 ses-1", "sub-02_sessions.tsv", "sub-02_ses-1_scans.tsv")
    finally:
        scans.write_text(text)
    seg = bids_root / "derivatives/fs/sub-03/ses-1/anat/sub-03_ses-1_desc-aseg_dseg.nii.gz"
    seg.parent.mkdir(parents=True)
    save_labels(np.zeros((4, 4, 4), np.int16), np.eye(4), seg)
    try:
        _one_line_error(run("datasets", "from-bids", bids_root, "--out", tmp_path / "m.csv"),
                        "sub-03_ses-1_desc-aseg_dseg.nii.gz", "(4, 4, 4)", "not on the grid", "--labels none")
        res = run("datasets", "from-bids", bids_root, "--out", tmp_path / "s.csv", "--labels", "synthseg")
        assert res.exit_code == 0, res.output
    finally:
        seg.unlink()
    m = tmp_path / "m.csv"
    m.write_text("hand-written\n")
    _one_line_error(run("datasets", "from-bids", bids_root, "--out", m), "exists and differs", "--force")
    _one_line_error(run("datasets", "from-bids", bids_root, "--out", m, "--split-fractions", "1,2"),
                    "--split-fractions")
    _one_line_error(run("datasets", "from-bids", bids_root, "--out", tmp_path / "x.csv", "--bl-session", "9"),
                    "--bl-session 9: no subject has a session ses-9")
    _one_line_error(run("datasets", "from-bids", bids_root, "--out", tmp_path / "x.csv", "--ce", "none"),
                    "matches T1w without ce-")
