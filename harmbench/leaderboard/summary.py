"""Aggregate long-form results into per-(test set, run, metric, region) statistics vs original FU."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from harmbench.stats import holm, mcnemar_test, paired_test

BASELINE = "original-fu"
CEILING = "same-scanner-fu2"
LOWER_IS_BETTER = ("lpips", "hd", "cnr-diff", "lesion-volume-change")
BINARY_PREFIX = "change-"


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


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (test_set, run, metric, region): n, mean, sd, median and P values vs original FU.

    Continuous metrics get a Wilcoxon signed-rank and a paired t-test P; binary change calls
    get McNemar's exact test. ``p_holm`` is Holm-adjusted within (test set, metric family) over
    the compared runs (the reference rows are not tested).
    """
    if results.empty:
        return pd.DataFrame(columns=["test_set", "run", "method", "metric", "region", "n", "mean", "sd",
                                     "median", "p_wilcoxon", "p_ttest", "p_mcnemar", "p_holm"])
    res = results.copy()
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
                   "p_wilcoxon": np.nan, "p_ttest": np.nan, "p_mcnemar": np.nan}
            if run not in (BASELINE, CEILING) and not base.empty:
                common = v.index.intersection(base.index)
                a, b = v.loc[common].to_numpy(float), base.loc[common].to_numpy(float)
                if metric.startswith(BINARY_PREFIX):
                    ok = ~(np.isnan(a) | np.isnan(b))
                    row["p_mcnemar"] = mcnemar_test(a[ok].astype(bool), b[ok].astype(bool))[1]
                else:
                    row["p_wilcoxon"] = paired_test(a, b, test="wilcoxon")[1]
                    row["p_ttest"] = paired_test(a, b, test="ttest")[1]
            out.append(row)
    df = pd.DataFrame(out)
    df["p_holm"] = np.nan
    for _, idx in df.groupby(["test_set", "metric", "region"]).groups.items():
        sub = df.loc[idx]
        col = np.where(sub["metric"].str.startswith(BINARY_PREFIX), sub["p_mcnemar"], sub["p_wilcoxon"])
        mask = ~np.isnan(col.astype(float))
        if mask.any():
            adj = np.full(len(sub), np.nan)
            adj[mask] = holm(col[mask].astype(float))
            df.loc[idx, "p_holm"] = adj
    return df
