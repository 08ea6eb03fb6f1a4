"""Screening of the CycleGAN family's quick preset: test-A volume PSNR gain over the original FU, per seed.

Fits one slice-GAN method (``oml-cyclegan``, ``cyclegan``, ``cyclegan-id`` or ``pix2pix``) on the
prepared data of a dataset (train / val splits), harmonizes the test-A FU volumes with the selected
model and scores them with harmbench's own volume metric (head-masked ``psnr``, the value in a
leaderboard's ``results.csv``). Prints and records, per seed, the validation curve (gain over
the identity's validation PSNR), the stopping reason, the selected iteration and the test-A gain.

Usage::

    python benchmarks/bench_cyclegan_quick.py --method oml-cyclegan --dataset synth-quick-ge \\
        [--seeds 0,1,2] [--set intensity_curve=true] [--threads 1] [--label name]

The bf16 training check of issue #18 item 2 (``precision="auto"`` trains in bfloat16 on a CPU
with native bf16 units and validates/harmonizes in fp32): run it with ``HARMBENCH_CPU_BF16=1``
(forces that path; on a CPU without bf16 units it is emulated, ≈ 6x slower, but rounds the same
way) and compare with a run without it; ``machine.cpu_native_bf16`` records which path ran.

Fits run without the preset's time cap (``--set time_cap=600`` restores it). Timings are
seconds on a shared host. Writes
``benchmarks/results/bench_cyclegan_quick-<dataset>-<method>-<label>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from _common import quick_params, save
from harmbench.data.cohort import Cohort
from harmbench.data.resolve import prepared_manifest
from harmbench.metrics.region import head_region
from harmbench.metrics.similarity import volume_scores
from harmbench.registry import build_method


def case_psnr(bl, img) -> float:
    mask, box = head_region(bl)
    return volume_scores(bl.data, img.data, box, mask=mask)[1]


def run_seed(cohort: Cohort, method: str, params: dict, seed: int) -> dict:
    cases = cohort.split("test-A")
    identity = [case_psnr(c.volume("BL"), c.volume("FU")) for c in cases]
    m = build_method(method, {**params, "seed": seed})
    t0 = time.perf_counter()
    m.fit(cohort)
    seconds = time.perf_counter() - t0
    h = m.training_history_
    gains = [case_psnr(c.volume("BL"), m.transform(c.volume("FU"))) - i for c, i in zip(cases, identity)]
    ident = h.identity_score or 0.0
    curve = [(r["iteration"], round(r["val_psnr"] - ident, 3)) for r in h.rows]
    chosen = next((r for r in h.rows if r["iteration"] == h.selected_iteration), h.rows[-1])
    out = {"seed": seed, "selected": h.selected_iteration, "stop": h.stop_reason, "iterations_run": h.iterations_run,
           "near_identity": h.near_identity, "val_identity_psnr": round(ident, 3),
           "testA_identity_psnr": round(float(np.mean(identity)), 3), "testA_gain": round(float(np.mean(gains)), 3),
           "testA_min_case_gain": round(float(np.min(gains)), 3), "fit_seconds": round(seconds, 1),
           "val_ssim_selected": round(float(chosen["val_ssim"]), 5), "val_psnr_selected": round(float(chosen["val_psnr"]), 4),
           "iterations_per_second": round(h.iterations_run / float(h.rows[-1]["seconds"]), 3),
           "val_gain_curve": curve}
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--method", default="oml-cyclegan")
    ap.add_argument("--dataset", default="synth-quick")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--set", action="append", default=[], help="parameter override name=value (JSON value)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--label", default="quick")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    # no time cap unless asked: a screen compares settings, and the cap binds on a loaded or emulating host
    params = quick_params(["time_cap=0", *a.set])
    manifest = Path.home() / f".cache/harmbench/datasets/{a.dataset}/seed-0/prepared/manifest.csv"
    cohort = Cohort.from_manifest(prepared_manifest(str(manifest)))
    results: list[dict] = []
    for s in a.seeds.split(","):     # saved after every seed: an interrupted screen keeps what it ran
        results.append(run_seed(cohort, a.method, params, int(s)))
        save(f"bench_cyclegan_quick-{a.dataset}-{a.method}-{a.label}",
             {"dataset": a.dataset, "method": a.method, "params": params, "threads": a.threads, "seeds": results})


if __name__ == "__main__":
    main()
