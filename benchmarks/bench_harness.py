"""Local worker processes vs in-process, and cold vs warm evaluation.

Usage: python benchmarks/bench_harness.py [--dataset synth-quick] [--methods identity,histmatch,nyul]
       [--workers 2]

Three runs on the same (already prepared) dataset, each with its own work directory:

1. cold, ``workers=1`` — the baseline: every unit in-process, one after another;
2. cold, ``workers=N`` — harmonize and score units in N worker processes. Fits run in-process in
   both modes and give the same models, so run 1's fitted models are copied into run 2's work
   directory: the ratio isolates the stages that parallelise;
3. warm rerun of 2 — nothing changed, so it must only read cached records.

Reports the stage times, the ratios, and whether runs 1 and 2 wrote identical ``results.csv``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import save


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="synth-quick")
    ap.add_argument("--methods", default="identity,histmatch,nyul")
    ap.add_argument("--metrics", default=None)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HARMBENCH_QUIET", "1")
    from harmbench.harness.layout import WorkLayout
    from harmbench.harness.plan import EvalConfig
    from harmbench.harness.runner import evaluate
    from harmbench.data.resolve import prepared_manifest
    from harmbench.runspec import parse_specs

    t0 = time.perf_counter()
    prepared_manifest(args.dataset)
    data_s = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="bench-harness-"))

    def cfg(tag: str, workers: int) -> EvalConfig:
        return EvalConfig(dataset=args.dataset, methods=parse_specs(args.methods), out=tmp / f"lb-{tag}",
                          work_dir=tmp / f"work-{tag}", workers=workers, seeds=(0,),
                          metrics=args.metrics.split(",") if args.metrics else None)

    def timed(c: EvalConfig):
        t = time.perf_counter()
        res = evaluate(c)
        return res, time.perf_counter() - t

    serial, serial_s = timed(cfg("serial", 1))
    fitted = WorkLayout(tmp / "work-serial").models
    if fitted.exists():
        shutil.copytree(fitted, WorkLayout(tmp / "work-pool").models)
    pool, pool_s = timed(cfg("pool", args.workers))
    _, warm_s = timed(cfg("pool", args.workers))
    same = (tmp / "lb-serial" / "results.csv").read_bytes() == (tmp / "lb-pool" / "results.csv").read_bytes()
    ts, tp = serial.runs["timings"], pool.runs["timings"]
    par = {k: round(ts[k] / tp[k], 3) for k in ("harmonize", "score") if tp.get(k)}
    shutil.rmtree(tmp, ignore_errors=True)
    save("harness", {
        "dataset": args.dataset, "methods": args.methods, "workers": args.workers,
        "test_cases": int(serial.results["case"].nunique()), "data_ready_seconds": round(data_s, 2),
        "stage_seconds_serial": ts, "stage_seconds_pool": tp,
        "speedup_pool_over_serial": {**par, "harmonize+score": round(
            (ts["harmonize"] + ts["score"]) / (tp["harmonize"] + tp["score"]), 3)},
        "identical_results": same,
        "cold_seconds_serial": round(serial_s, 2), "cold_seconds_pool": round(pool_s, 2),
        "warm_seconds": round(warm_s, 2), "warm_over_cold_pool": round(warm_s / pool_s, 3),
        "metric_seconds_per_case": serial.runs.get("metric_seconds_per_case", {}),
    })


if __name__ == "__main__":
    main()
