"""Rigid (6-DOF) registration with Mattes mutual information (SimpleITK).

Mutual information is used because FU comes from another vendor's sequence: tissue contrast
differs, so intensity-difference metrics would be biased. The optimiser is a regular-step
gradient descent over a 2-3 level pyramid whose coarsest level has ~8 mm voxels; metric samples
are drawn at random (at most ``max_samples``) inside the fixed image's head mask with a fixed
seed, and the registration runs on one thread, so a run is repeatable bit for bit. The metric
takes image gradients at its sample points rather than filtering whole gradient images at every
pyramid level: 1.7x faster at equal accuracy against the simulated poses
(``benchmarks/bench_register.py``; pipeline version 2). (ITK's
multi-threaded Mattes MI sums its per-thread histograms in a timing-dependent order: with two
threads, two calls on the same images differ by ~1e-9 in the parameters, enough to change some
resampled voxels and hence the dataset hash. ``prepare`` uses worker processes instead.)
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from harmbench.errors import DataError
from harmbench.masking import head_mask
from harmbench.preprocess.grid import to_sitk


def register_rigid(fixed: np.ndarray, fixed_affine: np.ndarray, moving: np.ndarray, moving_affine: np.ndarray,
                   *, fixed_mask: np.ndarray | None = None, max_samples: int = 50_000, bins: int = 32,
                   seed: int = 1, gradient_filters: bool = True, shrink: tuple[int, ...] | None = None,
                   min_step: float = 5e-3) -> sitk.Euler3DTransform:
    """Find the rigid transform aligning ``moving`` to ``fixed``.

    Args:
        fixed: (I, J, K) reference image (e.g. prepared BL).
        fixed_affine: its RAS affine.
        moving: (I', J', K') image to align (e.g. raw FU), any grid.
        moving_affine: its RAS affine.
        fixed_mask: boolean (I, J, K) region of ``fixed`` where the metric is evaluated; default
            :func:`harmbench.masking.head_mask` of ``fixed``.
        max_samples: metric samples drawn at random in the mask (per pyramid level, at most
            25 % of the mask).
        bins: histogram bins of the Mattes MI metric.
        seed: sampling seed (fixed for repeatability).
        gradient_filters: filter whole gradient images of both images at every level (ITK's
            default, and the pipeline's). False takes gradients at the metric's samples: 1.7x
            faster, but it misregistered a 1.5 T follow-up by 3.6 mm (docs/datasets.md).
        shrink: pyramid shrink factors; default those of (4, 2, 1) whose voxels are at most 8 mm,
            always ending at 1 (full resolution).
        min_step: the optimiser's stopping step.

    Returns:
        A SimpleITK ``Euler3DTransform`` mapping fixed physical (LPS) points to moving points,
        ready for :func:`harmbench.preprocess.grid.resample`.
    """
    f_img = to_sitk(np.asarray(fixed, np.float32), fixed_affine)
    m_img = to_sitk(np.asarray(moving, np.float32), moving_affine)
    mask = head_mask(fixed) if fixed_mask is None else np.asarray(fixed_mask, bool)
    if not mask.any():
        raise DataError("fixed image is empty (no head found); cannot register")
    mask_img = to_sitk(mask.astype(np.uint8), fixed_affine)

    init = sitk.CenteredTransformInitializer(f_img, m_img, sitk.Euler3DTransform(),
                                             sitk.CenteredTransformInitializerFilter.MOMENTS)
    spacing = float(min(f_img.GetSpacing()))
    shrink = list(shrink) if shrink else [f for f in (4, 2, 1) if f * spacing <= 8.0 or f == 1]
    smooth = [0.5 * (f - 1) * spacing for f in shrink]

    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(float(min(0.25, max_samples / mask.sum())), seed)
    reg.SetMetricFixedMask(mask_img)
    reg.SetMetricUseFixedImageGradientFilter(gradient_filters)
    reg.SetMetricUseMovingImageGradientFilter(gradient_filters)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=min_step, numberOfIterations=80,
                                                 relaxationFactor=0.5, gradientMagnitudeTolerance=1e-6)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(shrink)
    reg.SetSmoothingSigmasPerLevel(smooth)
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(init, inPlace=False)
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # repeatable: see the module docstring
    try:
        out = reg.Execute(f_img, m_img)
    except RuntimeError as exc:
        raise DataError(f"rigid registration failed: {str(exc).splitlines()[-1][:200]}") from None
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    inner = sitk.CompositeTransform(out).GetNthTransform(0) if out.GetName() == "CompositeTransform" else out
    if inner.GetName() != "Euler3DTransform":
        raise DataError(f"unexpected registration result {inner.GetName()}; expected Euler3DTransform")
    return sitk.Euler3DTransform(inner.Downcast() if hasattr(inner, "Downcast") else inner)
