"""The ``combat`` method: conformance, harmonization on the phantom, modes and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harmbench.data.cohort import Cohort
from harmbench.errors import DataError, MethodDeclined
from harmbench.testing import check_method
from harmbench_combat.combat import ComBatHarmonization


def _template_copy(toy_manifest, tmp_path):
    """The phantom cohort (all images on one grid) declared as template-space data."""
    df = pd.read_csv(toy_manifest, dtype=str, keep_default_na=False)
    base = toy_manifest.parent
    for col in ("image", "labels", "lesion"):
        df[col] = [str(base / v) for v in df[col]]
    out = tmp_path / "template"
    out.mkdir()
    df.to_csv(out / "manifest.csv", index=False)
    (out / "dataset.json").write_text(json.dumps({"name": "toy-template", "template_space": True}))
    return out / "manifest.csv"


def test_conformance_landmark(toy_manifest, tmp_path):
    check_method(lambda: ComBatHarmonization(), tmp_path, manifest=toy_manifest)


def test_conformance_voxel_on_template_space(toy_manifest, tmp_path):
    manifest = _template_copy(toy_manifest, tmp_path)
    check_method(lambda: ComBatHarmonization(mode="voxel"), tmp_path, manifest=manifest)


def test_landmark_mode_shrinks_the_scanner_gap(toy_manifest):
    cohort = Cohort.from_manifest(toy_manifest)
    m = ComBatHarmonization().fit(cohort)
    assert m.estimates_.ref_site == "toy-s"
    for case in cohort.split("test-A"):
        bl, fu = case.volume("BL"), case.volume("FU")
        out = m.transform(fu)
        before, after = np.abs(fu.data - bl.data).mean(), np.abs(out.data - bl.data).mean()
        assert after < 0.6 * before, (before, after)  # measured: 0.0213 -> 0.0088
        order = np.argsort(fu.data, axis=None)
        assert np.all(np.diff(out.data.ravel()[order]) >= -1e-6)  # monotone intensity map
        assert float(out.data[fu.data == 0].max(initial=0)) == 0.0  # background stays 0


def test_voxel_mode_declines_native_space(toy_manifest):
    cohort = Cohort.from_manifest(toy_manifest)
    m = ComBatHarmonization(mode="voxel")
    assert "template space" in m.decline(cohort)
    with pytest.raises(MethodDeclined, match="native space"):
        m.fit(cohort)
    assert ComBatHarmonization().decline(cohort) is None


def test_voxel_mode_shrinks_the_scanner_gap(toy_manifest, tmp_path):
    cohort = Cohort.from_manifest(_template_copy(toy_manifest, tmp_path))
    m = ComBatHarmonization(mode="voxel").fit(cohort)
    case = cohort.split("test-A")[0]
    bl, fu = case.volume("BL"), case.volume("FU")
    inside = m.voxel_mask_
    before = np.abs(fu.data - bl.data)[inside].mean()
    after = np.abs(m.transform(fu).data - bl.data)[inside].mean()
    assert after < 0.8 * before, (before, after)


def test_unseen_scanner_at_transform_is_a_clear_error(toy_manifest):
    cohort = Cohort.from_manifest(toy_manifest)
    m = ComBatHarmonization().fit(cohort)
    fu = cohort.split("test-A")[0].volume("FU")
    with pytest.raises(DataError, match=r"FU scanner 'ge-signa' was not in the training data"):
        m.transform(fu.with_data(fu.data, scanner="ge-signa"))


def test_nan_image_at_transform_is_a_clear_error(toy_manifest):
    cohort = Cohort.from_manifest(toy_manifest)
    m = ComBatHarmonization().fit(cohort)
    fu = cohort.split("test-A")[0].volume("FU")
    bad = fu.data.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="1 NaN/Inf voxels"):
        m.transform(fu.with_data(bad))


def test_too_few_subjects_per_scanner_declines(toy_manifest):
    df = pd.read_csv(toy_manifest, dtype=str, keep_default_na=False)
    df = df[(df.split != "train") | (df.case == "toy000")]  # one training subject
    df.attrs["path"] = str(toy_manifest)
    cohort = Cohort.from_frame(df)
    with pytest.raises(MethodDeclined, match=r"needs >= 2 training subjects per scanner"):
        ComBatHarmonization().fit(cohort)


def test_bad_parameters_are_one_line_errors(toy_manifest):
    cohort = Cohort.from_manifest(toy_manifest)
    with pytest.raises(DataError, match=r"'mode' must be one of \{'landmark', 'voxel'\}; got 'pixel'"):
        ComBatHarmonization(mode="pixel").fit(cohort)
    with pytest.raises(DataError, match="percentiles must be"):
        ComBatHarmonization(percentiles=(50.0, 10.0)).fit(cohort)


def test_covariates_come_from_the_manifest_and_fu_metadata(toy_manifest, tmp_path):
    df = pd.read_csv(toy_manifest, dtype=str, keep_default_na=False)
    base = toy_manifest.parent
    for col in ("image", "labels", "lesion"):
        df[col] = [str(base / v) for v in df[col]]
    df["age"] = [str(40 + i) for i in range(len(df))]
    (tmp_path / "cov").mkdir()
    df.to_csv(tmp_path / "cov" / "manifest.csv", index=False)
    cohort = Cohort.from_manifest(tmp_path / "cov" / "manifest.csv")
    m = ComBatHarmonization(covariates=("age",)).fit(cohort)
    assert m.estimates_.covariates == ("age",) and m.estimates_.beta_cov.shape == (1, 13)
    fu = cohort.split("test-A")[0].volume("FU")
    with pytest.raises(DataError, match=r"lacks covariate value\(s\) \['age'\]"):
        m.transform(fu)
    out = m.transform(fu.with_data(fu.data, age=55))
    assert np.isfinite(out.data).all()
    m2 = ComBatHarmonization.load(m.save(tmp_path / "model"))
    assert m2.covariates == ("age",)
    np.testing.assert_array_equal(m2.transform(fu.with_data(fu.data, age=55)).data, out.data)
