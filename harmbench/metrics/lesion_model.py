"""Local forward model of a blurred solid-or-ring lesion, fitted to one image (candidate segmenter).

The lesion is the seed's shape scaled about the seed's centroid; the image near it is modelled as
tissue-wise background plus the lesion, both blurred by a Gaussian point-spread function. The
boundary is the fitted model's surface (its radius), not an intensity threshold, and the volume is
the model's (partial-volume aware by construction). Geometry:

* **Template.** The seed mask is smoothed (Gaussian, ``smooth_vox`` voxels) and cast along a
  (θ, φ) grid of rays from its centroid c; the 0.5 crossing on each ray gives the template radius
  R(u) (mm) in direction u. Lesion at scale s: voxel x is inside when |x − c| < s · R(u(x)).
  Volume = s³ ∫ R(u)³/3 dΩ by quadrature over the rays.
* **Profile.** A voxel at centre distance r sees the exact Gaussian(σ)-blurred ball of radius
  s · R(u) (:func:`blurred_ball`), which models the inward shift of a small curved lesion's
  half-maximum surface. σ² = blur² + h²/12 (the voxel's own box).
* **Ring.** A necrotic core at fraction ``core`` of the normalised radius (the cohort's ring
  lesions: 0.45–0.75) with its own level; the core must be darker than the rim by at least
  ``ring_drop`` of the rim-to-background contrast, and the ring must lower the residual sum of
  squares of the solid model by more than ``ring_gain``.
* **Background.** One level per tissue class of the label map (WM-like incl. oedema and lesion
  labels, CSF-like, other), each times (1 − lesion profile), plus a WM-side slope in the distance
  outside the surface (oedema is darker than WM, so the slope may only be ≥ 0). Without labels,
  one level.
* **Fit.** Linear least squares for the levels inside the template grown by
  ``band_mm + band_fraction · r_eq``; grid search over s and the core fraction, then a coordinate
  search of the centre (a lesion that moved; a move must lower the residual by 10 %), then s and
  the blur, and a parabolic refinement of s. The blur is fitted per image because every image has been
  resampled a different number of times and by different sub-voxel offsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harmbench.metrics.lesion_geometry import blurred_ball, ray_grid, ray_radii, voxel_geometry
from harmbench.metrics.lesion_screen import LocalFit

__all__ = ["ModelFit", "SurfaceModel", "blurred_ball", "fit_lesion_model", "ray_grid", "ray_radii",
           "voxel_geometry"]

WM_LIKE = (2, 41, 7, 46, 77, 251, 252, 253, 254, 255, 25, 57)
CSF_LIKE = (4, 43, 14, 15, 24, 5, 44, 31, 63, 72)


@dataclass(frozen=True, eq=False)
class SurfaceModel:
    """A fitted lesion surface: radius ``scale · radii[u]`` (mm) along a (θ, φ) ray grid from
    ``centre_mm`` (image index × spacing). Two fits around one seed share the ray grid."""

    centre_mm: np.ndarray
    scale: float
    radii: np.ndarray

    def mean_distance(self, other: SurfaceModel, *, match_centres: bool = False) -> float:
        """Mean distance (mm) between this surface and ``other``, area-weighted over the rays.

        Per ray direction u the two surfaces lie at c + s·R(u)·u and c' + s'·R(u)·u; their
        distance along the normal of a near-spherical surface is |(s' − s)·R(u) + (c' − c)·u|.
        A continuous counterpart of the average Hausdorff distance of two voxel masks, which
        moves in steps of whole voxel layers (a 1 % scale change can flip a shell of voxels).
        ``match_centres`` drops the translation c' − c: the distance between the outlines, not
        their positions.
        """
        if self.radii.shape != other.radii.shape:
            raise ValueError("surfaces of different ray grids")
        T, u = ray_grid(self.radii.shape[0])
        d = np.zeros(3) if match_centres else np.asarray(other.centre_mm, float) - np.asarray(self.centre_mm, float)
        gap = np.abs((other.scale - self.scale) * self.radii + np.tensordot(d, u, axes=1))
        area = np.sin(T) * (self.scale * self.radii) ** 2
        return float((gap * area).sum() / area.sum())


@dataclass(frozen=True)
class ModelFit:
    """A lesion model fitted to one image.

    Attributes:
        mask: boolean mask on the image grid (voxel centres inside the fitted surface).
        volume_mm3: volume of the fitted model, mm³.
        scale: fitted scale s of the seed template.
        core: necrotic-core fraction (0 = solid).
        blur_mm: fitted Gaussian blur σ (without the voxel box), mm.
        lesion_level: fitted intensity of the enhancing tissue.
        background_level: fitted intensity of the dominant background tissue at the surface.
        noise: residual SD of the fit.
        surface: the fitted surface (centre, scale, template radii).
    """

    mask: np.ndarray
    volume_mm3: float
    scale: float
    core: float
    blur_mm: float
    lesion_level: float
    background_level: float
    noise: float
    surface: SurfaceModel | None = None


def fit_lesion_model(image: np.ndarray, seed: np.ndarray, spacing: tuple[float, float, float],
                     labels: np.ndarray | None = None, *, cores: tuple[float, ...] = (0.0,),
                     blurs_mm: tuple[float, ...] = (1.0,), scales: tuple[float, float] = (0.6, 1.5),
                     n_scales: int = 37, band_mm: float = 4.0, band_fraction: float = 0.2,
                     ring_drop: float = 0.25, ring_gain: float = 0.15,
                     min_class_voxels: int = 20, shift_steps_mm: tuple[float, ...] = (2.0, 1.0),
                     shift_gain: float = 0.10, anchor_mm3: float | None = None) -> ModelFit:
    """Fit the lesion model (module docstring) around a non-empty ``seed``.

    Args:
        image: (I, J, K) prepared intensities.
        seed: (I, J, K) boolean lesion mask giving the template shape and centre.
        spacing: voxel size (mm) along the array axes.
        labels: FreeSurfer label map on the same grid (tissue-wise background), or None.
        cores: core fractions tried (0 = solid); the first stage picks one at ``blurs_mm[0]``.
        blurs_mm: Gaussian blurs σ (mm) tried for the chosen core.
        scales: range of the template scale s.
        n_scales: grid points over ``scales``.
        band_mm, band_fraction: the fit region is the template grown by
            ``band_mm + band_fraction · r_eq`` mm.
        ring_drop: a ring's core must be darker than its rim by at least this fraction of the
            rim-to-background contrast (else a noisy solid lesion is read as a faint ring).
        min_class_voxels: a tissue class of the label map gets its own background level only with
            this many voxels in the outer 40 % of the band; otherwise it joins the largest class.
        shift_steps_mm: step sizes (mm) of the coordinate search for the lesion centre (a lesion
            that moved, or a misregistered FU); empty = the seed's centroid.
        shift_gain: a centre move is kept only if it lowers the residual sum of squares by more
            than this fraction (sub-voxel misregistration is left alone).
        anchor_mm3: the lesion's known volume (mm³; e.g. a reference contour's). The scale is then
            fixed so that the model has this volume, the centre is the seed's, and the fit only
            chooses the core fraction and the blur, jointly over ``cores`` × ``blurs_mm`` (the
            calibration of a reference session; see :class:`~harmbench.metrics.lesion_seg.ModelFitSegmenter`).
        ring_gain: a ring is preferred to a solid lesion only if it lowers the residual sum of
            squares by more than this fraction. The ring's core level and fraction trade off
            against the blur, so a blurred solid ball is fitted ~10 % better as a faint ring; on
            synth-quick BL every ring lesion gains ≥ 22 % and no solid lesion gains at all.
    """
    h = np.asarray(spacing, float)
    idx = np.nonzero(seed)
    r_eq = (3.0 * len(idx[0]) * float(np.prod(h)) / (4.0 * math.pi)) ** (1.0 / 3.0)
    band = band_mm + band_fraction * r_eq
    grow = int(math.ceil((band + (scales[1] - 1.0) * 1.3 * r_eq) / h.min())) + 1
    box = tuple(slice(max(int(i.min()) - grow, 0), min(int(i.max()) + 1 + grow, n))
                for i, n in zip(idx, seed.shape))
    img, sd = np.asarray(image[box], float), np.asarray(seed[box], bool)
    centre = np.array([i.mean() for i in np.nonzero(sd)])
    rays, v_template = ray_radii(sd, centre, h)
    dist, rad = voxel_geometry(rays, sd.shape, centre, h)
    region = dist <= rad + band
    y, dr, rr = img[region], dist[region], rad[region]
    tissues = [np.ones(y.size)]
    if labels is not None:
        lab = np.asarray(labels)[box][region]
        wm, csf = np.isin(lab, WM_LIKE).astype(float), np.isin(lab, CSF_LIKE).astype(float)
        # a class needs its own voxels in the outer part of the band, else its level could
        # absorb the lesion (e.g. a lesion labelled as the tissue it replaced): merge it
        outside = dr > rr + 0.6 * band
        classes = [t for t in (wm, csf, 1.0 - wm - csf) if t.sum() > 0]
        kept = [t for t in classes if t[outside].sum() >= min_class_voxels]
        if kept:
            biggest = max(range(len(kept)), key=lambda i: kept[i][outside].sum())
            kept[biggest] = kept[biggest] + sum((t for t in classes if t[outside].sum() < min_class_voxels),
                                                np.zeros(y.size))
            tissues = kept
    fit = LocalFit(y, tissues, float(np.mean(h)) ** 2 / 12.0, ring_drop, region, rays, h, dr, rr)

    if anchor_mm3 is not None:
        if not anchor_mm3 > 0:
            raise ValueError(f"anchor_mm3 must be a positive volume; got {anchor_mm3}")
        s0 = (float(anchor_mm3) / v_template) ** (1.0 / 3.0)

        def pick() -> tuple[float, float]:
            points = [(s0, c, b) for c in cores for b in blurs_mm]
            i, rss = fit.best(points)
            best = points[i][1:]
            if best[0] > 0 and 0.0 in cores:
                j, rss_solid = fit.best([(s0, 0.0, b) for b in blurs_mm])
                if rss > (1.0 - ring_gain) * rss_solid:
                    return 0.0, blurs_mm[j]
            return best

        c0, b0 = pick()
        if shift_steps_mm:   # the same centre search as a follow-up's, so both are placed alike
            moved = _refine_centre(fit, centre, np.array([s0]), c0, b0, shift_steps_mm, shift_gain)
            if not np.array_equal(moved, centre):
                centre = moved
                dist, rad = voxel_geometry(rays, sd.shape, centre, h)
                fit.set_geometry(dist[region], rad[region])
                c0, b0 = pick()
            else:   # the search left the geometry at its last trial centre: back to the kept one
                fit.set_geometry(dist[region], rad[region])
        return _result(image.shape, box, dist <= s0 * rad, s0, v_template, c0, b0, fit.solve(s0, c0, b0),
                       y.size, SurfaceModel(_centre_mm(centre, box, h), s0, rays))
    grid = np.linspace(scales[0], scales[1], n_scales)
    if len(set(cores)) == 1:
        c0 = cores[0]   # the first stage's residuals only compare cores
    else:
        first = {c: fit.best([(s, c, blurs_mm[0]) for s in grid])[1] for c in cores}
        c0 = min(first, key=first.get)
        if c0 > 0 and 0.0 in first and first[c0] > (1.0 - ring_gain) * first[0.0]:
            c0 = 0.0
    if shift_steps_mm:
        centre = _refine_centre(fit, centre, grid, c0, blurs_mm[0], shift_steps_mm, shift_gain)
        dist, rad = voxel_geometry(rays, sd.shape, centre, h)
        fit.set_geometry(dist[region], rad[region])
    points = [(s, c0, b) for b in blurs_mm for s in grid]
    i, r0 = fit.best(points)
    s0, b0 = points[i][0], points[i][2]
    ds = float(grid[1] - grid[0])
    rm, rp = fit.solve(s0 - ds, c0, b0)[0], fit.solve(s0 + ds, c0, b0)[0]
    den = rm - 2.0 * r0 + rp
    if math.isfinite(den) and den > 0:
        s0 += float(np.clip(0.5 * ds * (rm - rp) / den, -ds, ds))
    return _result(image.shape, box, dist <= s0 * rad, s0, v_template, c0, b0, fit.solve(s0, c0, b0),
                   y.size, SurfaceModel(_centre_mm(centre, box, h), s0, rays))


def _centre_mm(centre: np.ndarray, box: tuple[slice, ...], spacing: np.ndarray) -> np.ndarray:
    return (np.asarray(centre, float) + np.array([b.start for b in box], float)) * spacing


def _result(shape: tuple[int, ...], box: tuple[slice, ...], inside: np.ndarray, s0: float, v_template: float,
            c0: float, b0: float, solved: tuple[float, np.ndarray], n: int, surface: SurfaceModel) -> ModelFit:
    rss, beta = solved
    mask = np.zeros(shape, bool)
    mask[box] = inside
    n_les = 2 if c0 > 0 else 1
    noise = math.sqrt(rss / max(n - len(beta), 1)) if math.isfinite(rss) else math.nan
    return ModelFit(mask=mask, volume_mm3=s0**3 * v_template, scale=s0, core=c0, blur_mm=b0,
                    lesion_level=float(beta[0]), background_level=float(beta[n_les]), noise=noise,
                    surface=surface)


def _refine_centre(fit: LocalFit, centre: np.ndarray, grid: np.ndarray, core: float, blur: float,
                   steps_mm: tuple[float, ...], gain: float, max_shift_mm: float = 6.0) -> np.ndarray:
    """Coordinate search for the model's centre (voxel index) at a given core; leaves ``fit`` at
    the last trial centre."""

    def best_rss(c: np.ndarray) -> float:
        fit.move_to(c)
        return fit.best([(s, core, blur) for s in grid[::3]])[1]

    spacing = fit.spacing
    start = centre.copy()
    current = best_rss(centre)
    fine = tuple(steps_mm[-1] / 2 ** k for k in (1, 2)) if steps_mm else ()
    for step in steps_mm + fine:
        if step in fine and np.array_equal(centre, start):
            break            # the centre stays: no move passed the gain
        need = gain if step not in fine else 0.0   # once moved, settle to a quarter of the last step
        moved = True
        while moved:
            moved = False
            for axis in range(3):
                for sign in (-1.0, 1.0):
                    trial = centre.copy()
                    trial[axis] += sign * step / spacing[axis]
                    if np.linalg.norm((trial - start) * spacing) > max_shift_mm:
                        continue
                    r = best_rss(trial)
                    if r < (1.0 - need) * current:
                        centre, current, moved = trial, r, True
    return centre
