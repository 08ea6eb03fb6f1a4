"""validate_manifest reports each listed problem as one line (tiny NIfTIs in tmp_path)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmbench.preprocess.nifti import write_nifti
from harmbench.data.validate import validate_manifest

AFF = np.diag([2.0, 2.0, 2.0, 1.0])


def _write_case(root, case, subject, split, *, fu2=True):
    rows = []
    for s, scanner, vendor in (("BL", "s", "siemens"), ("FU", "p", "philips"), ("FU2", "s", "siemens")):
        if s == "FU2" and not fu2:
            continue
        img = np.random.default_rng(0).random((6, 7, 5)).astype(np.float32)
        lab = np.full((6, 7, 5), 2, np.int16)
        les = np.zeros((6, 7, 5), np.uint8)
        les[2:4, 2:4, 2:4] = 1
        write_nifti(img, AFF, root / f"{case}_{s}.nii.gz", dtype=np.float32)
        write_nifti(lab, AFF, root / f"{case}_{s}_labels.nii.gz", dtype=np.int16)
        write_nifti(les, AFF, root / f"{case}_{s}_lesion.nii.gz", dtype=np.uint8)
        rows.append({"case": case, "subject": subject, "session": s, "scanner": scanner, "vendor": vendor,
                     "split": split, "image": f"{case}_{s}.nii.gz", "labels": f"{case}_{s}_labels.nii.gz",
                     "lesion": f"{case}_{s}_lesion.nii.gz", "change": "0"})
    return rows


@pytest.fixture
def good(tmp_path):
    rows = _write_case(tmp_path, "c1", "s1", "train") + _write_case(tmp_path, "c2", "s2", "test-A")
    return tmp_path, pd.DataFrame(rows)


def _save(root, df):
    p = root / "manifest.csv"
    df.to_csv(p, index=False)
    return p


def test_valid_manifest_has_no_problems(good):
    root, df = good
    assert validate_manifest(_save(root, df)) == []


def _one(problems, *needles):
    hits = [p for p in problems if all(n in p for n in needles)]
    assert len(hits) == 1, problems
    assert "\n" not in hits[0]
    return hits[0]


def test_missing_file(good):
    root, df = good
    (root / "c1_FU.nii.gz").unlink()
    _one(validate_manifest(_save(root, df)), "row 3", "image file not found", "c1_FU.nii.gz")


def test_unknown_split_and_session(good):
    root, df = good
    df.loc[0, "split"] = "testing"
    df.loc[4, "session"] = "FU3"
    probs = validate_manifest(_save(root, df))
    _one(probs, "row 2", "unknown split 'testing'")
    _one(probs, "row 6", "unknown session 'FU3'")


def test_case_without_bl_or_fu(good):
    root, df = good
    df = df[~((df.case == "c1") & (df.session == "BL")) & ~((df.case == "c2") & (df.session == "FU"))]
    probs = validate_manifest(_save(root, df))
    _one(probs, "case c1: no BL image")
    _one(probs, "case c2: no FU image")


def test_subject_in_two_splits(good):
    root, df = good
    df["subject"] = "s1"
    _one(validate_manifest(_save(root, df)), "subject s1 appears in 2 splits", "test-A", "train")


def test_shape_and_affine_mismatch(good):
    root, df = good
    write_nifti(np.zeros((6, 7, 4), np.int16), AFF, root / "c1_FU_labels.nii.gz", dtype=np.int16)
    shifted = AFF.copy()
    shifted[0, 3] = 5.0
    write_nifti(np.zeros((6, 7, 5), np.uint8), shifted, root / "c2_BL_lesion.nii.gz", dtype=np.uint8)
    probs = validate_manifest(_save(root, df))
    _one(probs, "row 3", "labels c1_FU_labels.nii.gz has shape (6, 7, 4); image has (6, 7, 5)")
    _one(probs, "row 5", "lesion c2_BL_lesion.nii.gz affine differs", "5 mm")


def test_non_binary_lesion_and_bad_labels(good):
    root, df = good
    les = np.zeros((6, 7, 5), np.uint8)
    les[1, 1, 1], les[2, 2, 2] = 1, 2
    write_nifti(les, AFF, root / "c1_BL_lesion.nii.gz", dtype=np.uint8)
    write_nifti(np.full((6, 7, 5), 2.5, np.float32), AFF, root / "c2_FU_labels.nii.gz", dtype=np.float32)
    probs = validate_manifest(_save(root, df))
    _one(probs, "row 2", "lesion mask c1_BL_lesion.nii.gz is not binary", "0, 1, 2")
    _one(probs, "row 6", "non-integer")


def test_missing_column_duplicates_change_scanner_and_nan(good):
    root, df = good
    assert "lacks required column(s) ['vendor']" in validate_manifest(_save(root, df.drop(columns="vendor")))[0]
    dup = pd.concat([df, df.iloc[[0]]], ignore_index=True)
    dup.loc[1, "change"] = "-1.5"
    dup.loc[2, "scanner"] = "p"
    img = np.ones((6, 7, 5), np.float32)
    img[0, 0, 0] = np.nan
    write_nifti(img, AFF, root / "c2_BL.nii.gz", dtype=np.float32)
    probs = validate_manifest(_save(root, dup))
    _one(probs, "row 8", "duplicate of row 2")
    _one(probs, "row 3", "change '-1.5'")
    _one(probs, "case c1: FU2 scanner 'p' differs from BL scanner 's'")
    _one(probs, "row 5", "1 NaN/Inf voxels")


def test_prepared_checks(good):
    root, df = good
    df["scale_lo"], df["scale_hi"] = "0", "1"
    df["slice_start"], df["slice_stop"] = "1", "4"
    assert validate_manifest(_save(root, df)) == []
    df.loc[0, "scale_hi"] = "-1"
    df.loc[3, "slice_stop"] = "3"
    write_nifti(np.zeros((6, 7, 6), np.float32), AFF, root / "c1_FU2.nii.gz", dtype=np.float32)
    probs = validate_manifest(_save(root, df))
    _one(probs, "row 2", "scale_lo 0 must be < scale_hi -1")
    _one(probs, "case c2: rows have different slice ranges")
    _one(probs, "case c1: prepared FU2 grid (6, 7, 6) differs from BL grid (6, 7, 5)")
