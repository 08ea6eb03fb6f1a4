"""ComBat on a feature table, fitted through neuroHarmonize and stored as plain arrays.

The fit goes through ``neuroHarmonize.harmonizationLearn`` (location/scale model with
empirical-Bayes shrinkage, Johnson et al. 2007; Fortin et al. 2018). Its model is a pickle-only
dict, so we keep just the fitted estimates (grand mean, pooled variance, covariate
coefficients, per-site ``gamma*``/``delta*``) in :class:`ComBatEstimates` and apply the ComBat
adjustment ourselves. The apply step is the formula of neuroCombat's ``adjust_data_final``::

    z      = (x - stand_mean - cov @ beta_cov) / sqrt(var_pooled)
    x_adj  = (z - gamma*[site] (+ gamma*[ref])) / sqrt(delta*[site]) * sqrt(var_pooled)
             + stand_mean + cov @ beta_cov

with reference-site samples returned unchanged. We do not call ``harmonizationApply``: it
rebuilds the one-hot design from the sites present in the batch it is given, so applying to a
single image of one site mislabels the columns, and it returns silent NaN for unseen sites.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harmbench.errors import ArtifactError, DataError


@dataclass(frozen=True)
class ComBatEstimates:
    """Fitted ComBat parameters for ``F`` features.

    Attributes:
        sites: site (scanner) labels in neuroHarmonize's order (sorted).
        ref_site: the site whose scale the others are mapped to, or None (pooled estimate).
        covariates: names of the numeric covariates, in column order.
        stand_mean: (F,) grand mean (the reference site's intercept when ``ref_site`` is set).
        var_pooled: (F,) pooled residual variance (the reference site's when ``ref_site`` is set).
        beta_cov: (n_covariates, F) covariate coefficients.
        gamma_star: (n_sites, F) additive site effects (standardized units).
        delta_star: (n_sites, F) multiplicative site effects on the variance.
        n_per_site: number of training samples per site.
    """

    sites: tuple[str, ...]
    ref_site: str | None
    covariates: tuple[str, ...]
    stand_mean: np.ndarray
    var_pooled: np.ndarray
    beta_cov: np.ndarray
    gamma_star: np.ndarray
    delta_star: np.ndarray
    n_per_site: dict[str, int] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.stand_mean.size)

    def apply(self, features: np.ndarray, sites: Sequence[str],
              covariates: np.ndarray | None = None) -> np.ndarray:
        """Harmonize rows of ``features`` (N, F) from the given ``sites`` (N,).

        Args:
            features: (N, F) float array, the same features the estimates were fitted on.
            sites: N site labels; each must be one of :attr:`sites`.
            covariates: (N, n_covariates) values of :attr:`covariates`, or None when there are none.

        Returns:
            (N, F) float64 harmonized features.
        """
        x = _as_table(features, "features")
        if x.shape[1] != self.n_features:
            raise DataError(f"combat: features have {x.shape[1]} columns; the model was fitted on "
                            f"{self.n_features}")
        sites = [str(s) for s in sites]
        if len(sites) != x.shape[0]:
            raise DataError(f"combat: got {len(sites)} site labels for {x.shape[0]} feature rows")
        unseen = sorted(set(sites) - set(self.sites))
        if unseen:
            raise DataError(f"combat: scanner(s) {unseen} were not in the training data; known: "
                            f"{list(self.sites)}")
        cov = self._covariate_matrix(covariates, x.shape[0])
        mod_mean = cov @ self.beta_cov
        sd = np.sqrt(self.var_pooled)
        z = (x - self.stand_mean - mod_mean) / sd
        idx = np.array([self.sites.index(s) for s in sites])
        gamma = self.gamma_star[idx]
        if self.ref_site is not None:
            gamma = gamma + self.gamma_star[self.sites.index(self.ref_site)]
        out = (z - gamma) / np.sqrt(self.delta_star[idx]) * sd + self.stand_mean + mod_mean
        if self.ref_site is not None:
            is_ref = idx == self.sites.index(self.ref_site)
            out[is_ref] = x[is_ref]
        return out

    def _covariate_matrix(self, covariates: np.ndarray | None, n: int) -> np.ndarray:
        k = len(self.covariates)
        if k == 0:
            return np.zeros((n, 0))
        if covariates is None:
            raise DataError(f"combat: covariates {list(self.covariates)} are needed to apply this model")
        cov = np.asarray(covariates, dtype=np.float64).reshape(n, -1)
        if cov.shape[1] != k:
            raise DataError(f"combat: got {cov.shape[1]} covariate columns; expected {k} "
                            f"{list(self.covariates)}")
        if not np.isfinite(cov).all():
            raise DataError("combat: covariates contain NaN/Inf; expected finite numbers")
        return cov

    # ------------------------------------------------------------------ persistence
    def to_state(self, prefix: str = "combat") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays (for ``.npz``) and JSON-able metadata describing these estimates."""
        arrays = {f"{prefix}_{k}": getattr(self, k) for k in
                  ("stand_mean", "var_pooled", "beta_cov", "gamma_star", "delta_star")}
        meta = {"sites": list(self.sites), "ref_site": self.ref_site,
                "covariates": list(self.covariates), "n_per_site": dict(self.n_per_site)}
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any],
                   prefix: str = "combat") -> ComBatEstimates:
        names = ("stand_mean", "var_pooled", "beta_cov", "gamma_star", "delta_star")
        missing = [f"{prefix}_{k}" for k in names if f"{prefix}_{k}" not in arrays]
        if missing:
            raise ArtifactError(f"combat: saved model lacks arrays {missing}")
        a = {k: np.asarray(arrays[f"{prefix}_{k}"], dtype=np.float64) for k in names}
        sites, covariates = tuple(meta["sites"]), tuple(meta.get("covariates", ()))
        f = a["stand_mean"].size
        want = {"stand_mean": (f,), "var_pooled": (f,), "beta_cov": (len(covariates), f),
                "gamma_star": (len(sites), f), "delta_star": (len(sites), f)}
        for k, shape in want.items():
            if a[k].shape != shape:
                raise ArtifactError(f"combat: saved {k} has shape {a[k].shape}; expected {shape} "
                                    f"({len(sites)} sites, {len(covariates)} covariates, {f} features)")
        return cls(sites=sites, ref_site=meta.get("ref_site"), covariates=covariates,
                   n_per_site=dict(meta.get("n_per_site", {})), **a)


def fit_combat(features: np.ndarray, sites: Sequence[str], *, covariates: np.ndarray | None = None,
               covariate_names: Sequence[str] = (), ref_site: str | None = None, eb: bool = True,
               feature_names: Sequence[str] | None = None) -> ComBatEstimates:
    """Fit ComBat with neuroHarmonize and return the estimates.

    Args:
        features: (N, F) training features, one row per image.
        sites: N site (scanner) labels; every site needs >= 2 rows.
        covariates: (N, K) numeric covariates whose effects are preserved, or None.
        covariate_names: K names for ``covariates``.
        ref_site: harmonize toward this site's location/scale (it stays unchanged); None maps
            every site to the pooled estimate.
        eb: empirical-Bayes shrinkage of the site effects (needs F >= 2).
        feature_names: names used in error messages (default ``f0``, ``f1``, ...).

    Returns:
        The fitted :class:`ComBatEstimates`.
    """
    import pandas as pd
    from neuroHarmonize import harmonizationLearn

    x = _as_table(features, "features")
    n, f = x.shape
    names = list(feature_names) if feature_names is not None else [f"f{i}" for i in range(f)]
    sites = [str(s) for s in sites]
    if len(sites) != n:
        raise DataError(f"combat: got {len(sites)} site labels for {n} feature rows")
    counts = Counter(sites)
    if len(counts) < 2:
        raise DataError(f"combat: needs >= 2 scanners; got {sorted(counts)}")
    few = {s: c for s, c in sorted(counts.items()) if c < 2}
    if few:
        raise DataError(f"combat: needs >= 2 images per scanner; got {few}")
    if ref_site is not None and ref_site not in counts:
        raise DataError(f"combat: reference scanner {ref_site!r} not in the training scanners "
                        f"{sorted(counts)}")
    site_arr = np.array(sites)
    for s in sorted(counts):
        sd = x[site_arr == s].std(axis=0, ddof=1)
        flat = [names[i] for i in np.flatnonzero(sd <= 1e-12 * max(1.0, float(np.abs(x).max())))]
        if flat:
            raise DataError(f"combat: feature(s) {flat[:5]} are constant within scanner {s!r}; "
                            "ComBat needs variation")
    cov_names = tuple(str(c) for c in covariate_names)
    frame = pd.DataFrame({"SITE": sites})
    if cov_names:
        if covariates is None:
            raise DataError(f"combat: covariate names {list(cov_names)} given without values")
        cov = np.asarray(covariates, dtype=np.float64).reshape(n, -1)
        if cov.shape[1] != len(cov_names):
            raise DataError(f"combat: got {cov.shape[1]} covariate columns for names {list(cov_names)}")
        if not np.isfinite(cov).all():
            raise DataError("combat: covariates contain NaN/Inf; expected finite numbers")
        for j, c in enumerate(cov_names):
            if c.upper() == "SITE":
                raise DataError("combat: a covariate may not be named 'SITE'")
            frame[c] = cov[:, j]
    # neuroHarmonize prints progress notes; neuroCombat's EB loop divides by the reference
    # site's exactly-zero gamma (harmless: that site is reset to gamma 0, delta 1).
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        model, _ = harmonizationLearn(x, frame, eb=bool(eb and f > 1), ref_batch=ref_site)
    labels = tuple(str(s) for s in model["SITE_labels"])
    n_batch = len(labels)
    b_hat = np.asarray(model["B_hat"], dtype=np.float64)
    est = ComBatEstimates(
        sites=labels,
        ref_site=ref_site,
        covariates=cov_names,
        stand_mean=np.asarray(model["stand_mean"], dtype=np.float64)[:, 0].copy(),
        var_pooled=np.asarray(model["var_pooled"], dtype=np.float64).reshape(-1),
        beta_cov=b_hat[n_batch:].reshape(len(cov_names), f),
        gamma_star=np.asarray(model["gamma_star"], dtype=np.float64).reshape(n_batch, f),
        delta_star=np.asarray(model["delta_star"], dtype=np.float64).reshape(n_batch, f),
        n_per_site={s: int(counts[s]) for s in labels},
    )
    bad = [k for k in ("stand_mean", "var_pooled", "gamma_star", "delta_star")
           if not np.isfinite(getattr(est, k)).all()]
    if bad or (est.var_pooled <= 0).any() or (est.delta_star <= 0).any():
        what = ", ".join(bad) or "variance"
        raise DataError(f"combat: the fit produced non-finite or zero-variance estimates ({what}); "
                        "features may be (nearly) collinear or constant")
    return est


def _as_table(features: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"combat: {what} must be a 2-D (images, features) table; got shape {x.shape}")
    bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise DataError(f"combat: {what} contain {bad} NaN/Inf value(s); expected finite numbers")
    return x
