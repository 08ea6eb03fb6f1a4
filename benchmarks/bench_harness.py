"""Cold vs warm evaluation: a rerun with nothing changed must only read cached records.

Usage: python benchmarks/bench_harness.py [--dataset synth-quick] [--methods identity,histmatch,nyul]
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
    args = ap.parse_args()
    os.environ.setdefault("HARMBENCH_QUIET", "1")
    from harmbench.harness.plan import EvalConfig
    from harmbench.harness.runner import evaluate
    from harmbench.resolve import prepared_manifest
    from harmbench.runspec import parse_specs

    t0 = time.perf_counter()
    prepared_manifest(args.dataset)
    data_s = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="bench-harness-"))
    cfg = EvalConfig(dataset=args.dataset, methods=parse_specs(args.methods), out=tmp / "lb",
                     work_dir=tmp / "work", metrics=args.metrics.split(",") if args.metrics else None)
    t0 = time.perf_counter()
    cold = evaluate(cfg)
    cold_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluate(cfg)
    warm_s = time.perf_counter() - t0
    n_cases = cold.results["case"].nunique()
    per_metric = cold.runs.get("metric_seconds_per_case", {})
    shutil.rmtree(tmp, ignore_errors=True)
    save("harness", {
        "dataset": args.dataset, "methods": args.methods, "test_cases": int(n_cases),
        "data_ready_seconds": round(data_s, 2), "cold_seconds": round(cold_s, 2), "warm_seconds": round(warm_s, 2),
        "warm_over_cold": round(warm_s / cold_s, 3), "stage_seconds_cold": cold.runs["timings"],
        "metric_seconds_per_case": per_metric,
    })


if __name__ == "__main__":
    main()
