"""Issue #23's quality targets, per training seed, read from committed leaderboards.

    python benchmarks/quick_targets.py leaderboards/synth-quick leaderboards/synth-quick-15t

For each leaderboard folder (its ``results.csv``): on test set A, every learned run's volume-PSNR
gain over the original FU per seed (mean over cases of the paired difference) and its two-sided
Wilcoxon P (:func:`harmbench.stats.paired_test`, per seed), against two bars: histogram matching's
gain and half of Pix2Pix's seed-mean gain. Target (issue #23 item 4): every CycleGAN-family run
clears both bars with P < .05 for every seed; STGAN improves significantly (gain > 0, P < .05)
for every seed. Prints one table per folder and writes ``results/quick_targets.json``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from _common import save
from harmbench.leaderboard.names import BASELINE
from harmbench.stats import paired_test

CYCLE_FAMILY = ("cyclegan", "cyclegan-id", "oml-cyclegan")
ALPHA = 0.05


def per_case(results: pd.DataFrame, run: str) -> pd.DataFrame:
    """Test-A volume PSNR of ``run``: rows = cases, columns = seeds (one column for unseeded runs)."""
    r = results[(results["test_set"] == "A") & (results["metric"] == "psnr") & (results["run"] == run)
                & (results["region"].fillna("") == "")]
    return r.assign(seed=r["seed"].fillna(-1)).pivot_table(index="case", columns="seed", values="value")


def check(folder: Path) -> dict:
    results = pd.read_csv(folder / "results.csv", dtype={"case": str, "region": str})
    base = per_case(results, BASELINE).iloc[:, 0]

    def gains(run: str) -> dict[int, tuple[float, float]]:
        x = per_case(results, run)
        out = {}
        for seed in x.columns:
            v = x[seed].reindex(base.index)
            out[int(seed)] = (float(np.nanmean(v - base)), paired_test(v.to_numpy(), base.to_numpy())[1])
        return out

    runs = sorted(set(results["run"]) - {BASELINE})
    hist = gains("histmatch")[-1][0] if "histmatch" in runs else math.nan
    pix = np.mean([g for g, _ in gains("pix2pix").values()]) if "pix2pix" in runs else math.nan
    bar = max(hist, pix / 2)
    rows = []
    for run in [r for r in (*CYCLE_FAMILY, "stgan") if r in runs]:
        for seed, (gain, p) in gains(run).items():
            need = 0.0 if run == "stgan" else bar
            rows.append({"run": run, "seed": seed, "gain_db": gain, "p": p, "bar_db": need,
                         "met": bool(gain > need and p < ALPHA)})
    return {"folder": str(folder), "histmatch_gain_db": hist, "pix2pix_gain_db": float(pix), "rows": rows,
            "all_met": all(r["met"] for r in rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    args = ap.parse_args()
    records = [check(f) for f in args.folders]
    for rec in records:
        print(f"\n{rec['folder']}: histmatch +{rec['histmatch_gain_db']:.2f} dB, Pix2Pix +{rec['pix2pix_gain_db']:.2f} dB "
              f"(seed mean); target {'MET' if rec['all_met'] else 'NOT met'}")
        print("| run | seed | gain (dB) | P | bar (dB) | met |\n|---|---|---|---|---|---|")
        for r in rec["rows"]:
            print(f"| {r['run']} | {r['seed']} | {r['gain_db']:+.2f} | {r['p']:.3g} | {r['bar_db']:.2f} | "
                  f"{'yes' if r['met'] else 'no'} |")
    save("quick_targets", {"alpha": ALPHA, "leaderboards": records})


if __name__ == "__main__":
    main()
