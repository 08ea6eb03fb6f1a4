"""Cost and accuracy of `prepare`'s rigid registration, and of cheaper settings (issue #18 item 3).

Usage: python benchmarks/bench_register.py [--root ~/.cache/harmbench/datasets/synth-quick/seed-0] [--cases 5]

Registration is ~80 % of ``prepare`` (pyinstrument, session 24: 14.5 of 17.7 s for three cases),
and ``prepare`` is two thirds of the data stage. For the first ``--cases`` test-A cases of a built
synthetic cohort (``<root>/raw`` with ``truth.json``, ``<root>/prepared``), FU→BL and FU2→BL are
registered with :func:`harmbench.preprocess.register.register_rigid`'s settings (``current``) and
with variants of them, in one run, one thread. Each variant's error is the mean displacement error
(mm) over BL head voxels against the simulated head poses (as ``bench_data.py``). The variants:

* ``gradient_filters``: whole gradient images filtered at every pyramid level (ITK's default, the
  pipeline before version 2; ``current`` takes gradients at the metric's sample points);
* ``coarse_levels``: only the 8 and 4 mm pyramid levels (no full-resolution level);
* fewer metric samples (15k); a coarser stopping step (0.02).

Any variant changes the prepared images (the transforms differ in the last digits at least), hence
every leaderboard number; this measures what such a change would buy. Writes
``benchmarks/results/bench_register.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from _common import save
from harmbench.io import load_volume
from harmbench.masking import head_mask
from harmbench.preprocess.grid import isotropic_grid, resample
from harmbench.preprocess.register import register_rigid
from harmbench_synth.motion import rotation_matrix

VARIANTS = {
    "current": {},
    "gradient_filters": {"gradient_filters": True},          # pipeline version 1
    "coarse_levels": {"shrink": (4, 2)},
    "samples_15k": {"max_samples": 15_000},
    "min_step_0.02": {"min_step": 0.02},
}
LPS = np.diag([-1.0, -1.0, 1.0])


def pairs(raw: Path, prepared: Path, n_cases: int | None = None) -> list[tuple]:
    """The FU→BL and FU2→BL registration problems of the first ``n_cases`` test-A cases (all when
    None) of a built cohort (``raw``: its folder with ``truth.json``; ``prepared``: its prepared
    ``manifest.csv``): (fixed, affine, moving, moving affine, head points (mm), their true positions
    in the moving scan)."""
    truth = {c["case"]: c for c in json.loads((raw / "truth.json").read_text())["cases"]}
    df = pd.read_csv(prepared, dtype=str, keep_default_na=False)
    spacing = json.loads((prepared.parent / "dataset.json").read_text())["spacing"]
    out = []
    for case in sorted(set(df[df.split == "test-A"].case))[:n_cases]:
        bl = load_volume(raw / "cases" / case / "BL.nii.gz")
        shape, aff = isotropic_grid(bl.shape, bl.affine, spacing)
        fixed = resample(bl.data, bl.affine, shape, aff)
        pts = np.argwhere(head_mask(fixed))[::40].T
        world = aff[:3, :3] @ pts + aff[:3, 3:4]
        poses = truth[case]["sessions"]
        rb, tb = rotation_matrix(np.array(poses["BL"]["rotation_deg"])), np.array(poses["BL"]["translation_mm"])
        for session in ("FU", "FU2"):
            mov = load_volume(raw / "cases" / case / f"{session}.nii.gz")
            rs, ts = (rotation_matrix(np.array(poses[session]["rotation_deg"])),
                      np.array(poses[session]["translation_mm"]))
            out.append((fixed, aff, mov.data, mov.affine, world, rs @ (rb.T @ (world - tb[:, None])) + ts[:, None]))
    return out


def error_mm(transform: sitk.Transform, world: np.ndarray, true: np.ndarray) -> float:
    est = np.array([LPS @ np.array(transform.TransformPoint(tuple(LPS @ p))) for p in world.T]).T
    return float(np.linalg.norm(est - true, axis=0).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=Path.home() / ".cache/harmbench/datasets/synth-quick/seed-0")
    ap.add_argument("--cases", type=int, default=5)
    args = ap.parse_args()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)   # as register_rigid runs
    data = pairs(args.root / "raw", args.root / "prepared" / "manifest.csv", args.cases)
    seconds = {name: 0.0 for name in VARIANTS}
    errors: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for pair in data:        # variants interleaved per pair, so machine load drifts hit all alike
        fixed, aff, mov, maff, world, true = pair
        for name, kw in VARIANTS.items():
            t0 = time.perf_counter()
            tr = register_rigid(fixed, aff, mov, maff, **kw)
            seconds[name] += time.perf_counter() - t0
            errors[name].append(error_mm(tr, world, true))
    base = seconds["current"]
    record = {"root": str(args.root), "generator": json.loads((args.root / "raw" / "dataset.json").read_text())
              .get("generator"), "registrations": len(data), "variants": {
        name: {"seconds_per_registration": seconds[name] / len(data), "speedup_vs_current": base / seconds[name],
               "error_mm_mean": float(np.mean(errors[name])), "error_mm_max": float(np.max(errors[name]))}
        for name in VARIANTS}}
    save("bench_register", record)


if __name__ == "__main__":
    main()
