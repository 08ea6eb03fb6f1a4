"""Aggregate long-form results into per-(test set, run, metric, region) statistics vs original FU.

Besides P values, every compared run gets an effect size: the mean paired difference from the
original FU with its 95 % t-interval (:func:`harmbench.stats.paired_difference`). Two documented
thresholds decide what the tables may call an improvement:

* :data:`IDENTITY_RMS_FLOOR`: a run whose mean ``input-rms-change`` (RMS of output − input over
  the BL head mask, [0, 1] units; :mod:`harmbench.metrics.input_change`) is below it is
  "≈ identity" (:func:`near_identity_runs`), whatever its P values say.
* :data:`MIN_MEANINGFUL`: the smallest difference from the original FU, per metric, worth
  highlighting (:func:`meaningful_improvement`).

Training seeds (results schema 2, a ``seed`` column): every statistic here is computed on per-case
values averaged over a run's seeds (:func:`seed_average`), so one lucky seed cannot make a method
"significant"; ``seeds`` counts them and ``seed_sd`` is the between-seed SD of the per-seed means
over cases (NaN with one seed: unknown). The two-level bootstrap CIs, P(A > B) and rank groups are
in :mod:`harmbench.leaderboard.ranking`.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from harmbench.leaderboard.names import BASELINE, CEILING
from harmbench.stats import holm, mcnemar_test, paired_difference, paired_test, sign_test

LOWER_IS_BETTER = ("lpips", "hd", "cnr-diff", "lesion-volume-change")
BINARY_PREFIX = "change-"
INPUT_CHANGE = "input-rms-change"
#: A run whose mean RMS change of its input (prepared [0, 1] intensities) is below this is "≈ identity".
#: 1e-3 of the range is ~0.25 of an 8-bit grey level; a quick STGAN fit changes images by ~3e-4.
IDENTITY_RMS_FLOOR = 1e-3
_PSNR_DB, _SSIM, _LPIPS, _HD_MM = 0.5, 0.01, 0.005, 0.5
#: Minimal meaningful difference from the original FU per metric (metric units: dB, unitless, mm).
#: A run is only highlighted when its mean paired difference reaches this in the better direction.
#: Metrics not listed: 0 (any difference whose CI excludes 0).
MIN_MEANINGFUL: dict[str, float] = {
    **{m: _PSNR_DB for m in ("psnr", "slice-psnr", "psnr-box", "slice-psnr-box", "recon-psnr",
                             "recon-slice-psnr")},
    **{m: _SSIM for m in ("ssim", "slice-ssim", "ssim-box", "slice-ssim-box", "recon-ssim",
                          "recon-slice-ssim")},
    **{m: _LPIPS for m in ("slice-lpips", "recon-slice-lpips")},
    "cnr-diff": 0.05,
    "lesion-dice": 0.05,
    **{m: _HD_MM for m in ("lesion-hd", "lesion-hd95", "lesion-avg-hd")},
}
SUMMARY_COLUMNS = ["test_set", "run", "method", "metric", "region", "n", "mean", "sd", "median", "p_wilcoxon",
                   "p_ttest", "p_mcnemar", "diff_mean", "diff_lo", "diff_hi", "p_holm", "ci_lo", "ci_hi",
                   "seeds", "seed_sd"]
#: the training-seed column of results.csv (schema 2); NaN for runs that do not learn
SEED = "seed"
_KEYS = ["test_set", "run", "metric", "region"]


@functools.lru_cache(maxsize=1)
def _declared_directions() -> dict[str, bool | None]:
    from harmbench import registry

    out: dict[str, bool | None] = {}
    for reg in registry.metrics().values():
        out.update(reg.obj.directions())
    return out


def higher_is_better(metric: str) -> bool | None:
    """Direction declared by the metric plugin (``Metric.emits``); a name heuristic otherwise."""
    declared = _declared_directions()
    if metric in declared:
        return declared[metric]
    if metric.startswith(BINARY_PREFIX):
        return None
    if any(k in metric for k in LOWER_IS_BETTER):
        return False
    return True


def min_meaningful(metric: str) -> float:
    """:data:`MIN_MEANINGFUL` of ``metric`` (0 for metrics without a stated threshold)."""
    return MIN_MEANINGFUL.get(metric, 0.0)


def seed_average(results: pd.DataFrame) -> pd.DataFrame:
    """Per-case values averaged over each run's seeds (rows without a ``seed`` column pass through).

    Missing values are skipped (a case missing in one seed takes the mean of the others); the
    ``seed`` column is dropped.
    """
    if SEED not in results:
        return results
    keys = [c for c in results.columns if c not in (SEED, "value")]
    res = results.copy()
    res["region"] = res["region"].fillna("")
    return res.groupby(keys, sort=False, dropna=False)["value"].mean().reset_index()


def seed_spread(results: pd.DataFrame) -> pd.DataFrame:
    """Per (test set, run, metric, region): ``seeds`` (distinct seeds, 1 without any) and ``seed_sd``.

    ``seed_sd`` is the SD (ddof 1) over seeds of each seed's mean over cases; NaN with one seed.
    """
    res = results.copy()
    res["region"] = res["region"].fillna("")
    if SEED not in res:
        res[SEED] = np.nan
    res["_seed"] = res[SEED].fillna(-1)
    per_seed = res.groupby([*_KEYS, "_seed"], sort=False)["value"].mean().reset_index()
    out = per_seed.groupby(_KEYS, sort=False)["value"].agg(seeds="size", seed_sd="std")
    out["seed_sd"] = np.where(out["seeds"] > 1, out["seed_sd"], np.nan)
    return out.reset_index()


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (test_set, run, metric, region): n, mean, sd, median and P values vs original FU.

    Continuous metrics get a Wilcoxon signed-rank and a paired t-test P, and the effect size
    ``diff_mean`` (mean of run − original FU over the cases where both are finite) with its 95 %
    Student-t interval ``diff_lo``, ``diff_hi`` (the interval is NaN with one pair). Binary change
    calls get McNemar's exact test (their diff columns stay NaN). ``p_holm`` is Holm-adjusted
    within (test set, metric family) over the compared runs. The reference rows are not compared.

    The across-case downstream statistics (:mod:`harmbench.leaderboard.downstream`: scanner AUC,
    tissue-volume ICC) are appended as rows of their own, with their 95 % CI in ``ci_lo``,
    ``ci_hi`` (NaN for every other metric); the scanner-feature rows that feed the AUC get no row.
    """
    from harmbench.leaderboard.downstream import FEATURE_METRICS, downstream_summary

    if results.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    spread = seed_spread(results[~results["metric"].isin(FEATURE_METRICS)])
    results = seed_average(results)
    downstream = downstream_summary(results)
    res = results[~results["metric"].isin(FEATURE_METRICS)].copy()
    res["region"] = res["region"].fillna("")
    out = []
    for (ts, metric, region), grp in res.groupby(["test_set", "metric", "region"], sort=True):
        base = grp[grp["run"] == BASELINE].set_index("case")["value"]
        for run, g in grp.groupby("run", sort=False):
            v = g.set_index("case")["value"].astype(float)
            row = {"test_set": ts, "run": run, "method": g["method"].iloc[0], "metric": metric, "region": region,
                   "n": int(v.notna().sum()), "mean": float(np.nanmean(v)) if v.notna().any() else np.nan,
                   "sd": float(np.nanstd(v, ddof=1)) if v.notna().sum() > 1 else np.nan,
                   "median": float(np.nanmedian(v)) if v.notna().any() else np.nan,
                   "p_wilcoxon": np.nan, "p_ttest": np.nan, "p_mcnemar": np.nan,
                   "diff_mean": np.nan, "diff_lo": np.nan, "diff_hi": np.nan}
            if run not in (BASELINE, CEILING) and not base.empty:
                common = v.index.intersection(base.index)
                a, b = v.loc[common].to_numpy(float), base.loc[common].to_numpy(float)
                if metric.startswith(BINARY_PREFIX):
                    ok = ~(np.isnan(a) | np.isnan(b))
                    binary = np.isin(a[ok], (0.0, 1.0)).all() and np.isin(b[ok], (0.0, 1.0)).all()
                    row["p_mcnemar"] = (mcnemar_test(a[ok].astype(bool), b[ok].astype(bool))[1] if binary
                                        else sign_test(a[ok], b[ok]))
                else:
                    row["p_wilcoxon"] = paired_test(a, b, test="wilcoxon")[1]
                    row["p_ttest"] = paired_test(a, b, test="ttest")[1]
                    row["diff_mean"], row["diff_lo"], row["diff_hi"] = paired_difference(a, b)
            out.append(row)
    df = pd.DataFrame(out, columns=SUMMARY_COLUMNS[:-3])
    df["p_holm"] = np.nan
    for _, idx in df.groupby(["test_set", "metric", "region"]).groups.items():
        sub = df.loc[idx]
        col = np.where(sub["metric"].str.startswith(BINARY_PREFIX), sub["p_mcnemar"], sub["p_wilcoxon"])
        mask = ~np.isnan(col.astype(float))
        if mask.any():
            adj = np.full(len(sub), np.nan)
            adj[mask] = holm(col[mask].astype(float))
            df.loc[idx, "p_holm"] = adj
    df["ci_lo"] = np.nan
    df["ci_hi"] = np.nan
    df = df.merge(spread, on=_KEYS, how="left")
    if not downstream.empty:
        df = pd.concat([df, downstream.reindex(columns=df.columns)], ignore_index=True)
    return df


def near_identity_runs(summary: pd.DataFrame, test_set: str) -> set[str]:
    """Runs of ``test_set`` whose mean ``input-rms-change`` is below :data:`IDENTITY_RMS_FLOOR`.

    The reference rows are never flagged; the ``identity`` method is (by construction). A run
    without ``input-rms-change`` values is not flagged.
    """
    if summary.empty or "metric" not in summary:
        return set()
    s = summary[(summary["metric"] == INPUT_CHANGE) & (summary["test_set"] == test_set)
                & (summary["region"].fillna("") == "") & ~summary["run"].isin([BASELINE, CEILING])]
    return set(s.loc[s["mean"].astype(float) < IDENTITY_RMS_FLOOR, "run"])


def meaningful_improvement(row: pd.Series | dict, metric: str) -> bool:
    """True if a summary row beats the original FU by at least ``min_meaningful(metric)``.

    Requires the mean paired difference to be in the metric's better direction with magnitude
    ≥ the threshold, and its 95 % CI to exclude 0 on that side. False for metrics without a
    direction and rows without a finite CI.
    """
    hib = higher_is_better(metric)
    d, lo, hi = (float(row.get(k, np.nan)) for k in ("diff_mean", "diff_lo", "diff_hi"))
    if hib is None or not (np.isfinite(d) and np.isfinite(lo) and np.isfinite(hi)):
        return False
    sign = 1.0 if hib else -1.0
    ci_clear = lo > 0 if hib else hi < 0
    return ci_clear and sign * d >= min_meaningful(metric)
