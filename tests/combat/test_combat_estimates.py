"""ComBat on feature tables: removes a known site effect, keeps a covariate, matches neuroHarmonize."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest

from harmbench.errors import DataError
from harmbench_combat.estimates import ComBatEstimates, fit_combat


def _synthetic(seed: int = 0, n_per_site: int = 60, n_features: int = 8):
    """Two sites; site "b" = 1.6 x (site-free value) + 3.0 (per-feature jitter); age slope 0.04/yr."""
    rng = np.random.default_rng(seed)
    sites = np.array(["a"] * n_per_site + ["b"] * n_per_site)
    age = rng.uniform(20, 80, sites.size)
    base = rng.normal(10, 1, n_features)
    slope = np.full(n_features, 0.04)
    clean = base + age[:, None] * slope + rng.normal(0, 0.5, (sites.size, n_features))
    mult = 1.6 + rng.normal(0, 0.05, n_features)
    add = 3.0 + rng.normal(0, 0.2, n_features)
    x = clean.copy()
    b = sites == "b"
    mean_b = base + age[b, None] * slope
    x[b] = mean_b + (clean[b] - mean_b) * mult + add
    return x, clean, sites, age, slope


def test_removes_additive_and_multiplicative_site_effect_and_keeps_covariate():
    x, clean, sites, age, slope = _synthetic()
    est = fit_combat(x, sites, covariates=age[:, None], covariate_names=["age"], ref_site="a")
    adj = est.apply(x, sites, age[:, None])
    a, b = sites == "a", sites == "b"
    np.testing.assert_array_equal(adj[a], x[a])  # reference site untouched
    # residuals after removing the known age effect: site b now has site a's location and scale
    res = adj - age[:, None] * slope
    gap_before = np.abs((x - age[:, None] * slope)[b].mean(0) - res[a].mean(0))
    gap_after = np.abs(res[b].mean(0) - res[a].mean(0))
    assert gap_before.min() > 2.5
    assert gap_after.max() < 0.25                      # additive effect removed to < 0.25 (of 3.0)
    ratio = res[b].std(0) / res[a].std(0)
    assert np.all(np.abs(ratio - 1.0) < 0.25)          # multiplicative 1.6 -> within 25 % of 1
    # the covariate effect survives: regress the harmonized site-b features on age
    fitted_slope = np.polyfit(age[b], adj[b], 1)[0]
    np.testing.assert_allclose(fitted_slope, slope, atol=0.012)


def test_apply_matches_neuroharmonize_adjusted_training_data():
    from neuroHarmonize import harmonizationLearn

    x, _, sites, age, _ = _synthetic(seed=1, n_per_site=25, n_features=5)
    for ref in (None, "a"):
        est = fit_combat(x, sites, covariates=age[:, None], covariate_names=["age"], ref_site=ref)
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, expected = harmonizationLearn(x, pd.DataFrame({"SITE": sites, "age": age}), ref_batch=ref)
        # neuroCombat casts covariates to float32 in its design matrix: agreement to ~1e-7
        np.testing.assert_allclose(est.apply(x, sites, age[:, None]), expected, atol=1e-6)


def test_state_round_trip_is_exact():
    x, _, sites, _, _ = _synthetic(seed=2, n_per_site=10, n_features=4)
    est = fit_combat(x, sites, ref_site="a")
    arrays, meta = est.to_state()
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    again = ComBatEstimates.from_state(arrays, meta)
    np.testing.assert_array_equal(again.apply(x, sites), est.apply(x, sites))


@pytest.mark.parametrize("case, message", [
    ("one_image_site", "needs >= 2 images per scanner; got {'b': 1}"),
    ("constant_feature", "constant within scanner"),
    ("nan", "NaN/Inf"),
    ("one_site", "needs >= 2 scanners"),
])
def test_bad_training_input_is_a_one_line_error(case, message):
    x, _, sites, _, _ = _synthetic(seed=3, n_per_site=6, n_features=3)
    if case == "one_image_site":
        x, sites = x[:7], sites[:7]
    elif case == "constant_feature":
        x[sites == "a", 1] = 4.0
    elif case == "nan":
        x[2, 0] = np.nan
    elif case == "one_site":
        sites = np.array(["a"] * len(sites))
    with pytest.raises(DataError) as err:
        fit_combat(x, sites, ref_site=None)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unseen_site_at_apply_raises_instead_of_nan():
    x, _, sites, _, _ = _synthetic(seed=4, n_per_site=6, n_features=3)
    est = fit_combat(x, sites, ref_site="a")
    with pytest.raises(DataError, match=r"scanner\(s\) \['c'\] were not in the training data"):
        est.apply(x[:1], ["c"])
