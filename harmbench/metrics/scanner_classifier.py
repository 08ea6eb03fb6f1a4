"""Scanner-classifier AUC from the feature rows of :mod:`harmbench.metrics.scanner_features`.

For one run and test set the samples are the cases' BL feature vectors (class 0, BL scanner) and
their scored-image vectors (class 1). Design, chosen so that nothing about a held-out subject
reaches the model that scores it:

* folds are grouped by subject (:func:`grouped_folds`): a subject's BL and FU always sit in the
  same fold, so the classifier can never learn a subject's anatomy on one side of a split and
  recognise it on the other;
* the model is a scikit-learn pipeline (standardization, then L2 logistic regression,
  ``C = 1``), fitted inside each training fold only, so the scaling also never sees the test fold;
* every sample gets one out-of-fold probability; the AUC is computed on all of them;
* the 95 % CI is a percentile bootstrap over subjects (each resample draws subjects with
  replacement and keeps both of a subject's samples), ``n_boot`` = 1000, fixed seed.

0.5 means the scanner can no longer be told apart; the original FU is the reference (near 1.0
when scanners differ) and the same-scanner FU2 the floor.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from harmbench.metrics.scanner_features import CLASSIFIER_POLICY, FEATURE, SUBJECT

#: the summary-time classifier (recorded in runs.json with the scanner-features metric's policy)


def grouped_folds(groups: np.ndarray, n_splits: int = 5) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays of a subject-grouped K-fold (K = min(n_splits, subjects)).

    Every group lies entirely in one test fold; raises ValueError with fewer than two groups.
    """
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError(f"grouped folds need at least 2 subjects; got {n_groups}")
    yield from GroupKFold(n_splits=min(n_splits, n_groups)).split(np.zeros(len(groups)), groups=groups)


def feature_matrix(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, groups) from one run's results rows (metrics ``scanner-feature``/``scanner-subject``).

    X has one row per (case, session): y = 0 for BL, 1 for the scored image; groups = subject
    codes. Cases without a subject code are their own group; features NaN in any sample are dropped.
    """
    feats = rows[rows["metric"] == FEATURE]
    if feats.empty:
        return np.empty((0, 0)), np.empty(0), np.empty(0)
    parts = feats["region"].str.split(":", n=1, expand=True)
    wide = (feats.assign(session=parts[0], feature=parts[1])
            .pivot_table(index=["case", "session"], columns="feature", values="value", aggfunc="first", dropna=False))
    wide = wide.dropna(axis=1, how="any").sort_index()
    subj = rows[rows["metric"] == SUBJECT].drop_duplicates("case").set_index("case")["value"]
    cases = wide.index.get_level_values("case")
    groups = np.array([f"s{subj[c]:.0f}" if c in subj.index and np.isfinite(subj[c]) else f"c{c}" for c in cases])
    y = (wide.index.get_level_values("session") != "bl").astype(int)
    return wide.to_numpy(float), np.asarray(y), groups


def out_of_fold(X: np.ndarray, y: np.ndarray, groups: np.ndarray, n_splits: int = 5) -> np.ndarray:
    """Out-of-fold probability of class 1 for every sample (subject-grouped folds)."""
    prob = np.full(len(y), np.nan)
    for train, test in grouped_folds(groups, n_splits):
        if len(np.unique(y[train])) < 2:
            prob[test] = float(y[train].mean())
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        prob[test] = model.fit(X[train], y[train]).predict_proba(X[test])[:, 1]
    return prob


def bootstrap_auc_ci(y: np.ndarray, prob: np.ndarray, groups: np.ndarray, *, n_boot: int = 1000,
                     seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of the AUC over subject resamples (resamples with one class only are skipped).

    A resample draws subjects with replacement; a sample counts as often as its subject was drawn.
    Its AUC is the weighted Mann-Whitney statistic (ties count 1/2), i.e. ``roc_auc_score`` of the
    resampled rows, computed for all resamples at once from one positive-by-negative comparison matrix.
    """
    rng = np.random.default_rng(seed)
    ids, sample_group = np.unique(groups, return_inverse=True)
    draws = rng.integers(0, len(ids), (n_boot, len(ids)))
    counts = np.zeros((n_boot, len(ids)))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    weights = counts[:, sample_group]                      # resample x sample
    pos, neg = y == 1, y == 0
    wins = (prob[pos][:, None] > prob[neg][None, :]) + 0.5 * (prob[pos][:, None] == prob[neg][None, :])
    wp, wn = weights[:, pos], weights[:, neg]
    denom = wp.sum(axis=1) * wn.sum(axis=1)
    ok = denom > 0
    aucs = list(np.einsum("bi,ij,bj->b", wp[ok], wins, wn[ok]) / denom[ok])
    if not aucs:
        return math.nan, math.nan
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(aucs, [tail, 100 - tail])
    return float(lo), float(hi)


def scanner_auc(rows: pd.DataFrame) -> dict[str, float]:
    """``{"auc", "ci_lo", "ci_hi", "n"}`` of one run and test set (n = subjects; NaNs below 2 subjects)."""
    X, y, groups = feature_matrix(rows)
    n = len(np.unique(groups))
    if n < 2 or X.shape[1] == 0 or len(np.unique(y)) < 2:
        return {"auc": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "n": n}
    pol = CLASSIFIER_POLICY
    prob = out_of_fold(X, y, groups, int(pol["folds"]))
    lo, hi = bootstrap_auc_ci(y, prob, groups, n_boot=int(pol["bootstrap"]), seed=int(pol["seed"]),
                              level=float(pol["ci"]))
    return {"auc": float(roc_auc_score(y, prob)), "ci_lo": lo, "ci_hi": hi, "n": n}
