from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi
from sklearn.metrics import roc_auc_score

from harmbench.data.cohort import Case
from harmbench.metrics.scanner_classifier import (bootstrap_auc_ci, feature_matrix, grouped_folds, out_of_fold,
                                                  scanner_auc)
from harmbench.metrics.scanner_features import FEATURE, SUBJECT, ScannerFeatures, subject_code

from .helpers import head, make_ctx

N_SUBJECTS = 12


def _rows(fu_from_bl, *, subjects: int = N_SUBJECTS, cases_per_subject: int = 1,
          metric: ScannerFeatures | None = None) -> pd.DataFrame:
    """results rows of ScannerFeatures over ``subjects`` subjects whose FU is ``fu_from_bl(BL, i)``."""
    metric, rows = metric or ScannerFeatures(slices=3), []
    for s in range(subjects):
        for k in range(cases_per_subject):
            i = s * cases_per_subject + k
            bl = head(shape=(24, 26, 22), seed=i) * (0.8 + 0.03 * s)    # subjects differ in brightness
            ctx = make_ctx(bl, fu_from_bl(bl, i))
            ctx.case = Case(f"c{i:02d}", f"s{s:02d}", "test-A")
            rows += [{"case": f"c{i:02d}", "metric": v.metric, "region": v.region, "value": v.value}
                     for v in metric.compute(ctx)]
    return pd.DataFrame(rows)


def test_identical_images_from_two_scanners_give_auc_one_half():
    a = scanner_auc(_rows(lambda bl, i: bl.copy()))
    assert a["auc"] == pytest.approx(0.5, abs=1e-9)
    assert a["n"] == N_SUBJECTS and a["ci_lo"] <= 0.5 <= a["ci_hi"]


def test_clearly_different_intensity_profiles_give_auc_near_one():
    # the "FU scanner" compresses contrast towards 0.3 and adds noise: a different histogram and texture
    rng = np.random.default_rng(1)
    a = scanner_auc(_rows(lambda bl, i: np.clip(0.3 + 0.5 * (bl - 0.3) + (bl > 0) * rng.normal(0, 0.05, bl.shape),
                                                0, 1)))
    assert a["auc"] >= 0.95 and a["ci_lo"] >= 0.8


def _rescan_rows(metric: ScannerFeatures) -> pd.DataFrame:
    """BL and a same-scanner rescan per subject: the same anatomy and noise level, but the rescan's
    noise went through a half-voxel linear resampling (as a registered FU does) and the image was
    rescaled on its own 99.5th percentile, the processing BL never sees."""
    rows = []
    for s in range(N_SUBJECTS):
        rng = np.random.default_rng(200 + s)
        anatomy = ndi.gaussian_filter(head(shape=(24, 26, 22), seed=s), 1.0) * (0.8 + 0.03 * s)
        inside = anatomy > 0.05
        bl = np.where(inside, anatomy + rng.normal(0, 0.03, anatomy.shape), 0.0)
        noise = rng.normal(0, 0.03, anatomy.shape)
        rescan = np.where(inside, anatomy + 0.5 * (noise + np.roll(noise, 1, axis=1)), 0.0)
        rescan = np.clip(rescan / np.percentile(rescan[inside], 99.5), 0, 1)
        ctx = make_ctx(bl.astype(np.float32), rescan.astype(np.float32))
        ctx.case = Case(f"c{s:02d}", f"s{s:02d}", "test-A")
        rows += [{"case": f"c{s:02d}", "metric": v.metric, "region": v.region, "value": v.value}
                 for v in metric.compute(ctx)]
    return pd.DataFrame(rows)


def test_same_scanner_rescan_is_not_told_apart_by_processing_alone():
    # without the smoothing and median scale, interpolation smoothness and percentile scale
    # separate a same-scanner rescan from BL (the floor failure seen on synth-quick's FU2) ...
    raw = scanner_auc(_rescan_rows(ScannerFeatures(slices=3, smooth_sigma=0, normalize="none")))
    assert raw["auc"] >= 0.95
    # ... the default preprocessing removes both, so the rescan sits at the floor
    floor = scanner_auc(_rescan_rows(ScannerFeatures(slices=3)))
    assert floor["ci_lo"] <= 0.5 <= floor["ci_hi"] and floor["auc"] <= 0.75


def test_bad_preprocessing_parameters_are_refused():
    with pytest.raises(ValueError, match="normalize"):
        ScannerFeatures(normalize="zscore")
    with pytest.raises(ValueError, match="smooth_sigma"):
        ScannerFeatures(smooth_sigma=-1)


def test_grouped_folds_never_split_a_subject():
    rows = _rows(lambda bl, i: bl * 0.9, subjects=7, cases_per_subject=2)
    X, y, groups = feature_matrix(rows)
    assert X.shape == (28, 23) and y.sum() == 14
    assert len(np.unique(groups)) == 7                 # two cases of one subject share a group
    tested = []
    for train, test in grouped_folds(groups):
        assert not set(groups[train]) & set(groups[test])
        tested += list(test)
    assert sorted(tested) == list(range(len(y)))       # every sample predicted exactly once
    prob = out_of_fold(X, y, groups)
    assert np.isfinite(prob).all()


def test_grouped_folds_need_two_subjects():
    with pytest.raises(ValueError, match="at least 2 subjects"):
        list(grouped_folds(np.array(["s0", "s0"])))


def test_features_are_emitted_for_bl_and_the_scored_image_with_a_subject_code():
    bl = head(shape=(24, 26, 22))
    ctx = make_ctx(bl, np.clip(bl * 1.2, 0, 1))
    raw = ScannerFeatures(bins=8, smooth_sigma=0, normalize="none")
    vals = {(v.metric, v.region): v.value for v in raw.compute(ctx)}
    assert vals[(SUBJECT, "")] == subject_code("s0") and subject_code("s0") < 1e6
    hist_bl = [vals[(FEATURE, f"bl:hist-{i:02d}")] for i in range(8)]
    assert sum(hist_bl) == pytest.approx(1.0)
    # a brighter FU moves its median up by 20 %, BL's features stay those of BL
    assert vals[(FEATURE, "fu:q50")] == pytest.approx(1.2 * vals[(FEATURE, "bl:q50")], rel=1e-3)
    assert 0 < vals[(FEATURE, "bl:glcm-homogeneity")] <= 1
    # the default median scale makes a global brightness change invisible to the quantiles
    vals = {(v.metric, v.region): v.value for v in ScannerFeatures(bins=8).compute(ctx)}
    assert vals[(FEATURE, "fu:q50")] == pytest.approx(0.5, abs=1e-6) == vals[(FEATURE, "bl:q50")]


def test_bootstrap_ci_equals_roc_auc_of_explicit_subject_resamples():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(15), 2)
    y = np.tile([0, 1], 15)
    prob = np.round(rng.random(30) + 0.4 * y, 1)           # rounded: ties between classes occur
    lo, hi = bootstrap_auc_ci(y, prob, groups, n_boot=200, seed=5)
    draws = np.random.default_rng(5).integers(0, 15, (200, 15))
    aucs = []
    for d in draws:
        idx = np.concatenate([np.flatnonzero(groups == g) for g in d])
        if len(np.unique(y[idx])) == 2:
            aucs.append(roc_auc_score(y[idx], prob[idx]))
    assert (lo, hi) == pytest.approx(tuple(np.percentile(aucs, [2.5, 97.5])), abs=1e-12)
