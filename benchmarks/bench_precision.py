"""Training speed of every deep method's quick preset in fp32 and in bfloat16 autocast, as a ratio in one run.

Issue #18 item 2: on a CPU with native bf16 units (AVX-512 BF16 or AMX; ``machine.cpu_native_bf16``
in the record) ``precision="auto"`` trains in bfloat16. This script fits each method's ``quick``
preset on a prepared dataset's training split (no validation split, so the timing is training
steps only) for a fixed number of iterations, once with ``precision="fp32"`` and once with
``precision="mixed"`` (bfloat16 on the CPU), alternating the two ``--repeats`` times so that a
change of machine load hits both. The rate is taken over the periods after the first (the first
includes warm-up); the ratio is bf16 iterations/s over fp32 iterations/s of the same repeat.

The quality side (validation SSIM and test-A gain within the fp32 seed spread) is
``bench_cyclegan_quick.py`` with ``HARMBENCH_CPU_BF16=1`` and, for STGAN, ``bench_stgan_quick.py``.

Usage::

    python benchmarks/bench_precision.py [--dataset synth-quick] [--methods pix2pix,cyclegan,...]
        [--iterations 40] [--repeats 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from _common import quick_params, save
from harmbench.data.cohort import Cohort
from harmbench.data.resolve import prepared_manifest
from harmbench.registry import build_method

METHODS = ("pix2pix", "cyclegan", "cyclegan-id", "oml-cyclegan", "stgan")


def rate(method: str, cohort: Cohort, precision: str, iterations: int) -> float:
    """Training iterations per second after the first period (``val_every`` = a quarter of the run)."""
    period = max(iterations // 4, 1)
    params = {**quick_params([]), "precision": precision, "time_cap": 0, "patience": 0, "seed": 0}
    if method == "stgan":
        params.update(iterations=4 * period, val_every=period)
    else:   # the slice GANs count epochs of iters_per_epoch iterations, one history row each
        params.update(epochs=4, iters_per_epoch=period)
    m = build_method(method, params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(cohort)
    rows = m.training_history_.rows
    first, last = rows[0], rows[-1]
    return (last["iteration"] - first["iteration"]) / (last["seconds"] - first["seconds"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="synth-quick")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cohort = Cohort.from_manifest(prepared_manifest(a.dataset)).subset(("train",))
    rows = {}
    for method in a.methods.split(","):
        runs: dict[str, list[float]] = {"fp32": [], "bf16": []}
        t0 = time.perf_counter()
        for _ in range(a.repeats):
            for label, precision in (("fp32", "fp32"), ("bf16", "mixed")):
                runs[label].append(rate(method, cohort, precision, a.iterations))
        ratios = [b / f for f, b in zip(runs["fp32"], runs["bf16"])]
        rows[method] = {"fp32_it_per_s": [round(r, 3) for r in runs["fp32"]],
                        "bf16_it_per_s": [round(r, 3) for r in runs["bf16"]],
                        "bf16_over_fp32": [round(r, 3) for r in ratios],
                        "median_ratio": round(statistics.median(ratios), 3),
                        "wall_seconds": round(time.perf_counter() - t0, 1)}
        print(method, rows[method], flush=True)
    save(f"bench_precision-{a.dataset}", {"dataset": a.dataset, "iterations": a.iterations, "repeats": a.repeats,
                                          "threads": a.threads, "rows": rows})


if __name__ == "__main__":
    main()
