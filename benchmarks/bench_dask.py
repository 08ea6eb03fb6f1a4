"""Wall time of an evaluation with the Dask executor (2 local workers) vs the local executor.

Usage: python benchmarks/bench_dask.py [--dataset synth-quick] [--methods identity,histmatch,nyul]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import save


def run(executor: str, args, tmp: Path) -> float:
    from harmbench.harness.plan import EvalConfig
    from harmbench.harness.runner import evaluate
    from harmbench.runspec import parse_specs

    cfg = EvalConfig(dataset=args.dataset, methods=parse_specs(args.methods), out=tmp / f"lb-{executor}",
                     work_dir=tmp / f"work-{executor}", executor=executor, workers=args.workers,
                     seeds=(0,))  # one seed: the executors are compared, not the seeds
    t0 = time.perf_counter()
    evaluate(cfg)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="synth-quick")
    ap.add_argument("--methods", default="identity,histmatch,nyul")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HARMBENCH_QUIET", "1")
    from harmbench.data.resolve import prepared_manifest

    prepared_manifest(args.dataset)  # data preparation is shared and not part of either timing
    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    local_s = run("local", args, tmp)
    dask_s = run("dask", args, tmp)
    same = (tmp / "lb-local" / "results.csv").read_text() == (tmp / "lb-dask" / "results.csv").read_text()
    shutil.rmtree(tmp, ignore_errors=True)
    save("dask", {"dataset": args.dataset, "methods": args.methods, "workers": args.workers,
                  "local_seconds": round(local_s, 2), "dask_seconds": round(dask_s, 2),
                  "speedup_dask_over_local": round(local_s / dask_s, 3), "identical_results": same})


if __name__ == "__main__":
    main()
