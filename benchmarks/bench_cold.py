"""Cold ``harmbench evaluate``: this checkout with its seeds vs an earlier commit with one seed, one host.

Usage: python benchmarks/bench_cold.py [--baseline 1d09677] [--dataset synth-quick]
       [--seeds 3] [--baseline-seeds 0,] [--methods M,...] [--order new-first]

Issue #18 item 1 asks that the default evaluation with three training seeds run cold in no more
wall time than the one-seed default of the last commit before the speed work, on the same host.
This script runs both, one after the other (never at the same time), each from its own code tree
(the baseline is exported with ``git archive``) and its own empty ``HOME``, so each builds and
prepares its data, fits, harmonizes and scores from nothing:

    harmbench evaluate --dataset D --seeds S --force --out <tmp>/lb      (PYTHONPATH = that tree)

Reports each run's wall time, its stage times and the ratio this checkout / baseline (target
≤ 1.0). Stage times come from ``runs.json``; a version that fails after scoring (1d09677 does with
pingouin ≥ 0.6, whose ICC rows were renamed after that commit) writes no ``runs.json``, and its
stages are then read off the modification times of its cache folders (data: until the prepared
manifest; fit: until the last model file; harmonize: until the last harmonized file; score: the
first to the last score record), marked ``"source": "mtimes"``. The two runs do different amounts of
work (three seeds vs one), which is the point: the ratio is what a user waits.

The entry points (plugin modules) must be the same in both versions, because they come from the
installed distribution; they have not changed since 1d09677.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import export_revision, save

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = "1d09677"
STAGES = ("data", "fit", "harmonize", "score", "total")


def run(tree: Path, home: Path, dataset: str, seeds: str, log: Path, methods: str | None = None) -> dict:
    """One cold evaluation from ``tree`` with ``HOME=home``: wall time, return code, stage times."""
    home.mkdir(parents=True)
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'plugins'}",
           "HARMBENCH_QUIET": "1"}
    out = home / "lb"
    cmd = ["harmbench", "evaluate", "--dataset", dataset, "--seeds", seeds, "--force", "--out", str(out)]
    if methods:
        cmd += ["--methods", methods]
    t0, start = time.perf_counter(), time.time()
    with log.open("w") as fh:
        rc = subprocess.run(cmd, env=env, cwd=str(home), stdout=fh, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t0
    runs = out / "runs.json"
    if runs.exists():
        stages = {k: v for k, v in json.loads(runs.read_text())["timings"].items() if k in STAGES}
        source = "runs.json"
    else:
        stages, source = stages_from_mtimes(home / ".cache" / "harmbench", start), "mtimes"
    return {"command": " ".join(cmd), "returncode": rc, "wall_s": wall, "stages_s": stages,
            "stages_source": source, "log_tail": log.read_text()[-600:] if rc else ""}


def stages_from_mtimes(cache: Path, start: float) -> dict[str, float]:
    """Stage times from the cache folders' file times (module docstring)."""
    def times(folder: Path) -> list[float]:
        return sorted(p.stat().st_mtime for p in folder.rglob("*") if p.is_file()) if folder.exists() else []

    prepared = [p.stat().st_mtime for p in cache.glob("datasets/*/*/prepared/manifest.csv")]
    work = [p for p in (cache / "work").iterdir() if p.is_dir()] if (cache / "work").exists() else []
    if not prepared or len(work) != 1:
        return {}
    models, harm, scores = (times(work[0] / f) for f in ("models", "harmonized", "scores"))
    data_end = max(prepared)
    fit_end = models[-1] if models else data_end
    harm_end = harm[-1] if harm else fit_end
    out = {"data": data_end - start, "fit": fit_end - data_end, "harmonize": harm_end - fit_end}
    if scores:
        out["score"] = scores[-1] - scores[0]
        out["total"] = scores[-1] - start
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare with")
    ap.add_argument("--dataset", default="synth-quick")
    ap.add_argument("--seeds", default="3", help="this checkout's --seeds (default: 3, the default)")
    ap.add_argument("--baseline-seeds", default="0,", help="the baseline's --seeds (default: one seed, 0)")
    ap.add_argument("--methods", default=None, help="--methods for both runs (default: every method)")
    ap.add_argument("--order", choices=("new-first", "baseline-first"), default="new-first")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    try:
        base = export_revision(args.baseline, tmp / "baseline")
        jobs = {"now": (ROOT, args.seeds), "baseline": (base, args.baseline_seeds)}
        order = ["now", "baseline"] if args.order == "new-first" else ["baseline", "now"]
        res = {}
        for label in order:
            tree, seeds = jobs[label]
            res[label] = run(tree, tmp / f"home-{label}", args.dataset, seeds, tmp / f"{label}.log",
                              args.methods)
            print(f"{label}: {res[label]['wall_s']:.0f} s (rc {res[label]['returncode']})", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    now, old = res["now"], res["baseline"]
    ratios = {"wall": round(now["wall_s"] / old["wall_s"], 3)}
    for k in STAGES:
        if k in now["stages_s"] and old["stages_s"].get(k):
            ratios[k] = round(now["stages_s"][k] / old["stages_s"][k], 3)
    save(f"bench_cold-{args.dataset}", {
        "dataset": args.dataset, "baseline": args.baseline, "order": order, "methods": args.methods or "all",
        "runs": res, "ratio_now_over_baseline": ratios, "target": "wall ratio <= 1.0 (issue #18 item 1)"})


if __name__ == "__main__":
    main()
