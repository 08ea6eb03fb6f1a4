"""Build and prepare synth-quick, time both, and measure the cohort's realism.

Usage::

    python benchmarks/bench_data.py [--preset synth-quick] [--out DIR | --cache] [--seed 0] [--skip-build]

``--cache`` uses the registry's dataset cache (``$HARMBENCH_DATA/NAME/seed-N/raw`` and
``.../prepared``, where ``harmbench evaluate --dataset NAME`` looks), so a measured build is the one
evaluations use.

Reports wall-clock and CPU time of the build and of the preparation (first and cached second
call), then on the prepared test-A split: PSNR/SSIM of original FU and of FU2 against BL (whole
volume and BL head box), regional |ΔCNR| (Table-4 regions), the residual left by the best
monotone intensity map, registration error against the simulated head poses, and the target-lesion
volume agreement (test-A: FU = BL; test-B: FU/BL = 1 + change). Writes
``benchmarks/results/bench_data_<preset>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import save


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _timed(fn, *args, **kw):
    w0, c0 = time.perf_counter(), _cpu()
    out = fn(*args, **kw)
    return out, time.perf_counter() - w0, _cpu() - c0


def registration_errors(raw_dir: Path, prepared: Path) -> list[float]:
    """Mean displacement error (mm, over BL head voxels) of FU->BL and FU2->BL registration,
    against the simulated poses (the scanner's residual distortion is not part of the truth)."""
    from bench_register import error_mm, pairs

    from harmbench.preprocess.register import register_rigid

    return [error_mm(register_rigid(fixed, aff, mov, maff), world, true)
            for fixed, aff, mov, maff, world, true in pairs(raw_dir, prepared)]


def lesion_agreement(prepared: Path) -> dict:
    """Relative target-lesion volume error (prepared masks on the BL grid)."""
    from harmbench.data.cohort import Cohort

    out: dict = {"test-A": [], "test-B": []}
    for case in Cohort.from_manifest(prepared).cases:
        if case.split not in out:
            continue
        v_bl, v_fu = float(case.lesion("BL").sum()), float(case.lesion("FU").sum())
        out[case.split].append(v_fu / v_bl / (1.0 + (case.change or 0.0)) - 1.0)
    return {k: {"mean_abs": float(np.mean(np.abs(v))), "max_abs": float(np.max(np.abs(v)))} for k, v in out.items() if v}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="synth-quick")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--skip-build", action="store_true", help="reuse an existing build in --out")
    ap.add_argument("--cache", action="store_true",
                    help="build/prepare in the registry's dataset cache (instead of --out)")
    args = ap.parse_args(argv)

    from harmbench_synth.realism import realism_report

    from harmbench.data.cohort import Cohort
    from harmbench.preprocess import prepare_manifest
    from harmbench.registry import get_dataset

    spec = get_dataset(args.preset)
    seed = spec.default_seed if args.seed is None else args.seed
    if args.cache:
        from harmbench.data.datasets import data_root

        out = data_root() / args.preset / f"seed-{seed}" / "raw"
    else:
        out = args.out or Path(tempfile.mkdtemp(prefix=f"{args.preset}-"))
    prep_kw = dict(spec.prepare or {})
    if args.cache:
        prep_kw["out_dir"] = out.parent / "prepared"
    res: dict = {"preset": args.preset, "seed": seed, "cpus": os.cpu_count(),
                 "load_avg_start": os.getloadavg()[0]}
    if args.skip_build:
        manifest = out / "manifest.csv"
    else:
        manifest, res["build_wall_s"], res["build_cpu_s"] = _timed(spec.build, out, seed)
    prepared, res["prepare_wall_s"], res["prepare_cpu_s"] = _timed(prepare_manifest, manifest, **prep_kw)
    _, res["prepare_cached_wall_s"], _ = _timed(prepare_manifest, manifest, **prep_kw)
    res["load_avg_end"] = os.getloadavg()[0]
    cohort = Cohort.from_manifest(prepared)
    res["grid"] = list(cohort.cases[0].volume("BL").shape)
    rep_a = realism_report(cohort, split="test-A")
    res["realism_test_a"] = rep_a["mean"]
    res["realism_test_a_spread"] = {
        k: {"sd": float(np.std([c[k] for c in rep_a["cases"]], ddof=1)),
            "min": float(min(c[k] for c in rep_a["cases"])), "max": float(max(c[k] for c in rep_a["cases"]))}
        for k in ("psnr_fu", "ssim_fu", "psnr_fu2", "ssim_fu2") if len(rep_a["cases"]) > 1}
    res["realism_test_b"] = realism_report(cohort, split="test-B")["mean"]
    res["registration_error_mm"] = registration_errors(out, prepared)
    res["lesion_volume_rel_error"] = lesion_agreement(prepared)
    if "build_wall_s" in res:
        n = len(cohort.cases)
        res["ratios"] = {"build_cpu_s_per_case": res["build_cpu_s"] / n,
                         "prepare_cpu_s_per_case": res["prepare_cpu_s"] / n,
                         "prepare_over_build_wall": res["prepare_wall_s"] / res["build_wall_s"],
                         "cached_over_first_prepare": res["prepare_cached_wall_s"] / res["prepare_wall_s"]}
    save(f"bench_data_{args.preset}", json.loads(json.dumps(res, default=float)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
