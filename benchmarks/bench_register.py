"""Cost and accuracy of `prepare`'s rigid registration, and of cheaper settings (issue #18 item 3).

Usage: python benchmarks/bench_register.py [--root ~/.cache/harmbench/datasets/synth-quick/seed-0] [--cases 5]

Registration is ~80 % of ``prepare`` (pyinstrument, session 24: 14.5 of 17.7 s for three cases),
and ``prepare`` is two thirds of the data stage. For the first ``--cases`` test-A cases of a built
synthetic cohort (``<root>/raw`` with ``truth.json``, ``<root>/prepared``), FU→BL and FU2→BL are
registered with :func:`harmbench.preprocess.register.register_rigid`'s settings (``current``) and
with variants of them, in one run, one thread. Each variant's error is the mean displacement error
(mm) over BL head voxels against the simulated head poses (as ``bench_data.py``). The variants:

* ``no_gradient_images``: the Mattes metric computes image gradients at its sample points instead
  of filtering whole gradient images at every pyramid level;
* ``coarse_levels``: only the 8 and 4 mm pyramid levels (no full-resolution level);
* both together; fewer metric samples (15k); a coarser stopping step (0.02).

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
from harmbench.preprocess.grid import isotropic_grid, resample, to_sitk
from harmbench_synth.motion import rotation_matrix

VARIANTS = {
    "current": {},
    "no_gradient_images": {"gradient_images": False},
    "coarse_levels": {"shrink": (4, 2)},
    "no_gradient_images+coarse_levels": {"gradient_images": False, "shrink": (4, 2)},
    "samples_15k": {"max_samples": 15_000},
    "min_step_0.02": {"min_step": 0.02},
}
LPS = np.diag([-1.0, -1.0, 1.0])


def register(fixed: np.ndarray, fixed_affine: np.ndarray, moving: np.ndarray, moving_affine: np.ndarray, *,
             max_samples: int = 50_000, shrink: tuple[int, ...] | None = None, min_step: float = 5e-3,
             gradient_images: bool = True) -> sitk.Euler3DTransform:
    """``register_rigid`` with its settings exposed (the defaults are its settings)."""
    f_img, m_img = to_sitk(np.asarray(fixed, np.float32), fixed_affine), to_sitk(np.asarray(moving, np.float32),
                                                                               moving_affine)
    mask = head_mask(fixed)
    init = sitk.CenteredTransformInitializer(f_img, m_img, sitk.Euler3DTransform(),
                                             sitk.CenteredTransformInitializerFilter.MOMENTS)
    spacing = float(min(f_img.GetSpacing()))
    shrink = list(shrink or [f for f in (4, 2, 1) if f * spacing <= 8.0 or f == 1])
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(float(min(0.25, max_samples / mask.sum())), 1)
    reg.SetMetricFixedMask(to_sitk(mask.astype(np.uint8), fixed_affine))
    reg.SetMetricUseFixedImageGradientFilter(gradient_images)
    reg.SetMetricUseMovingImageGradientFilter(gradient_images)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=min_step, numberOfIterations=80,
                                                 relaxationFactor=0.5, gradientMagnitudeTolerance=1e-6)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(shrink)
    reg.SetSmoothingSigmasPerLevel([0.5 * (f - 1) * spacing for f in shrink])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(init, inPlace=False)
    out = reg.Execute(f_img, m_img)
    inner = sitk.CompositeTransform(out).GetNthTransform(0) if out.GetName() == "CompositeTransform" else out
    return sitk.Euler3DTransform(inner)


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
            tr = register(fixed, aff, mov, maff, **kw)
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
