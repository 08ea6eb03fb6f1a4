from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from harmbench.data.cohort import Case
from harmbench.metrics.scanner_classifier import (bootstrap_auc_ci, feature_matrix, grouped_folds, out_of_fold,
                                                  scanner_auc)
from harmbench.metrics.scanner_features import FEATURE, SUBJECT, ScannerFeatures, subject_code

from .helpers import head, make_ctx

N_SUBJECTS = 12


def _rows(fu_from_bl, *, subjects: int = N_SUBJECTS, cases_per_subject: int = 1) -> pd.DataFrame:
    """results rows of ScannerFeatures over ``subjects`` subjects whose FU is ``fu_from_bl(BL, i)``."""
    metric, rows = ScannerFeatures(slices=3), []
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
    vals = {(v.metric, v.region): v.value for v in ScannerFeatures(bins=8).compute(ctx)}
    assert vals[(SUBJECT, "")] == subject_code("s0") and subject_code("s0") < 1e6
    hist_bl = [vals[(FEATURE, f"bl:hist-{i:02d}")] for i in range(8)]
    assert sum(hist_bl) == pytest.approx(1.0)
    # a brighter FU moves its median up by 20 %, BL's features stay those of BL
    assert vals[(FEATURE, "fu:q50")] == pytest.approx(1.2 * vals[(FEATURE, "bl:q50")], rel=1e-3)
    assert 0 < vals[(FEATURE, "bl:glcm-homogeneity")] <= 1


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
