"""Issue #24 (text and inputs): user text is never rich markup; blank or contradictory options,
header-only and half-prepared manifests are one-line errors; ``validate`` reads headers unless
``--deep``; float32 overflow is named as such; NIfTI xform codes survive a round trip.

Assertions are on exit codes, line counts and our own substrings, never on click's or rich's
layout.
"""

from __future__ import annotations

import sys
import warnings
from types import SimpleNamespace

import click
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harmbench.cli.main import cli
from harmbench.preprocess.nifti import write_nifti
from harmbench.data.validate import validate_manifest

AFF = np.diag([2.0, 2.0, 2.0, 1.0])
SHAPE = (6, 7, 5)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def lines_of(res) -> list[str]:
    return [ln for ln in res.output.splitlines() if ln.strip()]


def one_line_error(res, *needles):
    assert res.exit_code == 2, res.output
    lines = lines_of(res)
    assert len(lines) == 1, res.output
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in res.output
    return lines[0]


# --- a tiny manifest ------------------------------------------------------------------------------

def _manifest(root, rows=None, **columns):
    """Two valid cases (BL/FU/FU2) in ``root``; ``rows`` edits cells: {(row, column): value}."""
    records = []
    for case, subject, split in (("c1", "s1", "train"), ("c2", "s2", "test-A")):
        for i, (session, scanner) in enumerate((("BL", "s"), ("FU", "p"), ("FU2", "s"))):
            stem = f"{case}_{session}"
            img = np.random.default_rng(i).random(SHAPE).astype(np.float32) + 1
            write_nifti(img, AFF, root / f"{stem}.nii.gz", dtype=np.float32)
            les = np.zeros(SHAPE, np.uint8)
            les[2:4, 2:4, 2:4] = 1
            write_nifti(les, AFF, root / f"{stem}_lesion.nii.gz", dtype=np.uint8)
            records.append({"case": case, "subject": subject, "session": session, "scanner": scanner,
                            "vendor": "v", "split": split, "image": f"{stem}.nii.gz",
                            "lesion": f"{stem}_lesion.nii.gz", "change": "0", **columns})
    df = pd.DataFrame(records)
    for (r, col), value in (rows or {}).items():
        df.loc[r, col] = value
    path = root / "manifest.csv"
    df.to_csv(path, index=False)
    return path


# --- item 3: user text is printed verbatim -------------------------------------------------------

@pytest.mark.parametrize("name", ["scan[fu].nii.gz", "scan[/].nii.gz", "scan[bold]x[/bold].nii.gz"])
def test_bracketed_input_path_is_reported_verbatim(tmp_path, name):
    res = run("harmonize", "identity", "--input", tmp_path / name, "--output", tmp_path / "out.nii.gz")
    one_line_error(res, "file not found", name)


@pytest.mark.parametrize("cell, column, needle", [
    ("[bold]BL", "session", "unknown session '[bold]BL'"),
    ("c1_BL[/].nii.gz", "image", "c1_BL[/].nii.gz"),
    ("[/]", "case", "case [/]"),
])
def test_validate_prints_manifest_cells_verbatim_and_every_problem(tmp_path, cell, column, needle):
    manifest = _manifest(tmp_path, {(0, column): cell})
    problems = validate_manifest(manifest)
    res = run("datasets", "validate", manifest)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = lines_of(res)
    assert len(lines) == len(problems) >= 1, res.output  # one line per problem, none lost part-way
    assert any(needle in ln for ln in lines), res.output


def test_failure_and_skip_lines_keep_run_parameters(tmp_path, monkeypatch):
    import harmbench.cli.evaluate as evaluate_cli
    import harmbench.harness.runner as runner

    fake = SimpleNamespace(out=tmp_path, failures=[
        {"stage": "fit", "tag": ["nyul[n_landmarks=-3]"], "error": "n_landmarks must be >= 3 [got -3]"}],
        runs={"skipped": {"gan[lr=1]": "needs [paired] data"}, "timings": {"total": 1.0}})
    monkeypatch.setattr(runner, "evaluate", lambda cfg: fake)
    monkeypatch.setattr(evaluate_cli, "_print_summary", lambda out: None)
    res = run("evaluate", "--methods", "nyul[n_landmarks=-3]")
    assert res.exit_code == 1, res.output
    failed = [ln for ln in lines_of(res) if ln.startswith("failed")]
    skipped = [ln for ln in lines_of(res) if ln.startswith("skipped")]
    assert len(failed) == 1 and "nyul[n_landmarks=-3]" in failed[0] and "[got -3]" in failed[0]
    assert len(skipped) == 1 and "gan[lr=1]" in skipped[0] and "[paired]" in skipped[0]


def test_dask_install_hint_keeps_the_extra(monkeypatch):
    from harmbench.cli.base import HarmbenchGroup
    from harmbench.harness.dask_executor import _require_distributed

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError

    @click.group(cls=HarmbenchGroup)
    def group() -> None:
        pass

    @group.command()
    def go() -> None:
        _require_distributed()

    one_line_error(CliRunner().invoke(group, ["go"]), "harmbench[dask]")


def test_message_helpers_print_text_literally(monkeypatch):
    from harmbench import console

    monkeypatch.setenv("HARMBENCH_QUIET", "0")
    with console.err_console.capture() as cap:
        console.info("fitting nyul[n_landmarks=11] on scan[/].nii.gz")
        console.warn("odd cell [bold]BL")
        console.error_line("file not found:\n  scan[fu].nii.gz")
        console.problem("row 2: [red]x")
    out = cap.get().splitlines()
    assert out[0] == "fitting nyul[n_landmarks=11] on scan[/].nii.gz"
    assert out[1] == "warning: odd cell [bold]BL"
    assert out[2] == "error: file not found: scan[fu].nii.gz"
    assert out[3] == "problem: row 2: [red]x"


def test_progress_descriptions_are_plain_text():
    from harmbench.console import progress

    prog = progress()
    prog.add_task("fit nyul[n_landmarks=3] [/]", total=2)
    column = next(c for c in prog.columns if hasattr(c, "text_format"))
    assert column.render(prog.tasks[0]).plain == "fit nyul[n_landmarks=3] [/]"


def test_run_spec_with_a_grid_is_a_one_line_error_where_one_run_is_needed(tmp_path):
    res = run("harmonize", "nyul[n_landmarks=3,5]", "--input", tmp_path / "x.nii.gz",
              "--output", tmp_path / "o.nii.gz")
    one_line_error(res, "expands to 2 runs")


# --- item 9: blank and contradictory options -----------------------------------------------------

@pytest.fixture
def no_evaluation(monkeypatch, data_root):
    """Fail loudly (not after an hour of GAN training) if evaluate gets as far as running."""
    import harmbench.harness.runner as runner

    def started(cfg):
        raise AssertionError(f"evaluation started with methods={cfg.methods!r}")

    monkeypatch.setattr(runner, "evaluate", started)


@pytest.mark.parametrize("args, needles", [
    (["--methods", ","], ["names no method", "','"]),
    (["--methods", ""], ["names no method"]),
    (["--methods", " , "], ["names no method"]),
    (["--metrics", ","], ["--metrics", "names nothing"]),
    (["--test-sets", ","], ["--test-sets", "names nothing"]),
    (["--scheduler", "tcp://127.0.0.1:9"], ["--scheduler", "--executor dask"]),
    (["--cluster", "slurm"], ["--cluster", "--executor dask"]),
    (["--gpu-resources"], ["--gpu-resources", "--executor dask"]),
])
def test_blank_or_dask_only_options_are_one_line_errors(no_evaluation, args, needles):
    one_line_error(run("evaluate", *args), *needles)


# --- item 9 / item 1: manifest shape -------------------------------------------------------------

def test_header_only_manifest_is_a_problem(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text("case,subject,session,scanner,vendor,split,image\n")
    problems = validate_manifest(path)
    assert len(problems) == 1 and "no rows" in problems[0]
    res = run("datasets", "validate", path)
    assert res.exit_code == 2 and len(lines_of(res)) == 1 and "no rows" in res.output


def test_partly_prepared_manifest_names_the_missing_columns(tmp_path):
    manifest = _manifest(tmp_path, scale_lo="0", slice_start="1", slice_stop="4")
    hits = [p for p in validate_manifest(manifest) if "prepared column" in p]
    assert len(hits) == 1 and "lacks ['scale_hi']" in hits[0], hits


# --- item 9: headers by default, voxels with --deep ----------------------------------------------

def test_default_validate_reads_headers_only(tmp_path, monkeypatch):
    manifest = _manifest(tmp_path)
    assert validate_manifest(manifest) == []

    def no_voxels(*args, **kwargs):
        raise AssertionError("voxel data read")

    monkeypatch.setattr(nib.arrayproxy.ArrayProxy, "__array__", no_voxels)
    monkeypatch.setattr(nib.arrayproxy.ArrayProxy, "_get_scaled", no_voxels)
    assert validate_manifest(manifest, deep=False) == []
    res = run("datasets", "validate", manifest)
    assert res.exit_code == 0, res.output
    assert len(lines_of(res)) == 1 and "OK" in res.output


def test_deep_validate_reports_damaged_voxels_as_one_line(tmp_path):
    manifest = _manifest(tmp_path)
    f = tmp_path / "c2_FU.nii.gz"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])  # header intact, voxels cut off
    assert validate_manifest(manifest, deep=False) == []
    res = run("datasets", "validate", "--deep", manifest)
    assert res.exit_code == 2, res.output
    lines = lines_of(res)
    assert len(lines) == 1 and "c2_FU.nii.gz" in lines[0] and "cannot read the voxels" in lines[0]


def test_constant_image_names_row_case_session_and_file(tmp_path):
    manifest = _manifest(tmp_path)
    write_nifti(np.full(SHAPE, 7.0, np.float32), AFF, tmp_path / "c2_FU.nii.gz", dtype=np.float32)
    assert validate_manifest(manifest, deep=False) == []
    probs = [p for p in validate_manifest(manifest, deep=True) if "constant" in p]
    assert len(probs) == 1, probs
    for needle in ("row 6", "case c2 FU", "c2_FU.nii.gz", "7"):
        assert needle in probs[0], probs[0]


def _float64_huge(path):
    data = np.random.default_rng(0).random(SHAPE) + 1.0
    data[1, 2, 3] = 1e300
    nib.save(nib.Nifti1Image(data, AFF), path)  # float64 on disk


def test_float64_beyond_float32_is_named_without_a_warning(tmp_path):
    manifest = _manifest(tmp_path)
    _float64_huge(tmp_path / "c1_FU.nii.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probs = validate_manifest(manifest, deep=True)
        res = run("harmonize", "identity", "--input", tmp_path / "c1_FU.nii.gz", "--output", tmp_path / "o.nii.gz")
    hits = [p for p in probs if "c1_FU.nii.gz" in p]
    assert len(hits) == 1 and "float32 range" in hits[0] and "NaN/Inf" not in hits[0], probs
    line = one_line_error(res, "c1_FU.nii.gz", "float32 range", "1e+300")
    assert "NaN/Inf" not in line


# --- item 9: xform codes survive writing ---------------------------------------------------------

def test_harmonize_keeps_sform_and_qform_codes_of_a_sheared_image(tmp_path):
    sheared = AFF.copy()
    sheared[0, 1] = 0.4
    img = nib.Nifti1Image(np.random.default_rng(0).random(SHAPE).astype(np.float32) + 1, sheared)
    img.set_sform(sheared, code=2)
    img.set_qform(sheared, code=0)
    nib.save(img, tmp_path / "fu.nii.gz")
    res = run("harmonize", "identity", "--input", tmp_path / "fu.nii.gz", "--output", tmp_path / "out.nii.gz")
    assert res.exit_code == 0, res.output
    out = nib.load(tmp_path / "out.nii.gz")
    assert (int(out.header["sform_code"]), int(out.header["qform_code"])) == (2, 0)
    np.testing.assert_allclose(out.affine, sheared, atol=1e-5)


def test_write_nifti_takes_the_source_codes(tmp_path):
    write_nifti(np.zeros(SHAPE, np.float32), AFF, tmp_path / "a.nii.gz", dtype=np.float32, xform_codes=(4, 1))
    hdr = nib.load(tmp_path / "a.nii.gz").header
    assert (int(hdr["sform_code"]), int(hdr["qform_code"])) == (4, 1)
