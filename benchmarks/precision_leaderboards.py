"""bf16 against fp32 training quality, read from two versions of a committed leaderboard.

    python benchmarks/precision_leaderboards.py --old-rev <commit> synth-quick synth-quick-15t ...

Issue #18 item 2 asks that ``precision="auto"`` train in bf16 on a native-bf16 CPU only where
that gives the same quality: validation SSIM within the seed spread of fp32 training. A leaderboard
regenerated on such a host (``runs.json`` → ``runs[].training.precision``) is compared here with
the same dataset's leaderboard at ``--old-rev`` (trained in fp32 on a CPU without bf16 units), per
learned run over its training seeds:

* validation SSIM and PSNR at the selected iteration (``training.curves``), mean and SD over seeds;
* test-A volume-PSNR gain over the original FU (:func:`quick_targets.per_case`), mean and SD;
* ``within_spread``: |mean(new) − mean(old)| ≤ the larger of the two seed SDs, for validation SSIM.

Only the precision should differ between the two versions for this to be a precision comparison;
the record lists what else changed (code revision, host) so a reader can judge. Writes
``results/precision_leaderboards.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from _common import save
from harmbench.leaderboard.names import BASELINE
from quick_targets import per_case

ROOT = Path(__file__).resolve().parents[1]


def read(rev: str | None, path: str) -> str:
    if rev is None:
        return (ROOT / path).read_text()
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout


def learned(rev: str | None, dataset: str) -> dict:
    folder = f"leaderboards/{dataset}"
    runs = json.loads(read(rev, f"{folder}/runs.json"))
    results = pd.read_csv(io.StringIO(read(rev, f"{folder}/results.csv")), dtype={"case": str, "region": str})
    base = per_case(results, BASELINE).iloc[:, 0]
    out: dict = {"platform": runs.get("platform", {}), "runs": {}}
    for r in runs["runs"]:
        t = r.get("training")
        if not t:
            continue
        curves, it = t.get("curves", {}), t.get("selected_iteration")
        at = {k: next((v for i, v in pts if i == it), None) for k, pts in curves.items() if k in ("val_ssim", "val_psnr")}
        gains = per_case(results, r["run"])
        seed = r["seed"] if r["seed"] is not None else -1
        gain = float(np.nanmean(gains[seed].reindex(base.index) - base)) if seed in gains.columns else None
        out["runs"].setdefault(r["run"], []).append(
            {"seed": r["seed"], "precision": t.get("precision") or "fp32 (not recorded)", "val_ssim": at.get("val_ssim"),
             "val_psnr": at.get("val_psnr"), "testA_gain_db": gain, "selected": it, "iterations_run": t.get("iterations_run"),
             "stop": t.get("stop_reason")})
    return out


def stats(values: list[float | None]) -> dict:
    v = np.array([x for x in values if x is not None], float)
    return {"mean": round(float(v.mean()), 4) if v.size else None,
            "sd": round(float(v.std(ddof=1)), 4) if v.size > 1 else None, "values": [round(float(x), 4) for x in v]}


def compare(old_rev: str, dataset: str) -> dict:
    old, new = learned(old_rev, dataset), learned(None, dataset)
    rows = {}
    for run in sorted(set(old["runs"]) & set(new["runs"])):
        o, n = old["runs"][run], new["runs"][run]
        row = {"precision_old": sorted({x["precision"] for x in o}), "precision_new": sorted({x["precision"] for x in n})}
        for key in ("val_ssim", "val_psnr", "testA_gain_db"):
            row[key] = {"old": stats([x[key] for x in o]), "new": stats([x[key] for x in n])}
        so, sn = row["val_ssim"]["old"], row["val_ssim"]["new"]
        spread = max(so["sd"] or 0.0, sn["sd"] or 0.0)
        row["val_ssim_within_spread"] = (so["mean"] is not None and sn["mean"] is not None
                                         and abs(sn["mean"] - so["mean"]) <= spread)
        row["fits_new"] = n
        rows[run] = row
        print(f"{dataset:18s} {run:14s} {row['precision_old']} -> {row['precision_new']}  val SSIM "
              f"{so['mean']} (SD {so['sd']}) -> {sn['mean']} (SD {sn['sd']})  within={row['val_ssim_within_spread']}  "
              f"gain {row['testA_gain_db']['old']['mean']} -> {row['testA_gain_db']['new']['mean']}")
    return {"old_rev": old_rev, "old_platform": old["platform"], "new_platform": new["platform"], "runs": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old-rev", required=True)
    ap.add_argument("datasets", nargs="+")
    a = ap.parse_args()
    save("precision_leaderboards", {"datasets": {d: compare(a.old_rev, d) for d in a.datasets}})


if __name__ == "__main__":
    main()
