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
from scipy import ndimage
from scipy.special import erf

WM_LIKE = (2, 41, 7, 46, 77, 251, 252, 253, 254, 255, 25, 57)
CSF_LIKE = (4, 43, 14, 15, 24, 5, 44, 31, 63, 72)


@dataclass(frozen=True, eq=False)
class SurfaceModel:
    """A fitted lesion surface: radius ``scale · radii[u]`` (mm) along a (θ, φ) ray grid from
    ``centre_mm`` (image index × spacing). Two fits around one seed share the ray grid."""

    centre_mm: np.ndarray
    scale: float
    radii: np.ndarray

    def mean_distance(self, other: SurfaceModel) -> float:
        """Mean distance (mm) between this surface and ``other``, area-weighted over the rays.

        Per ray direction u the two surfaces lie at c + s·R(u)·u and c' + s'·R(u)·u; their
        distance along the normal of a near-spherical surface is |(s' − s)·R(u) + (c' − c)·u|.
        A continuous counterpart of the average Hausdorff distance of two voxel masks, which
        moves in steps of whole voxel layers (a 1 % scale change can flip a shell of voxels).
        """
        if self.radii.shape != other.radii.shape:
            raise ValueError("surfaces of different ray grids")
        T, u = ray_grid(self.radii.shape[0])
        d = np.asarray(other.centre_mm, float) - np.asarray(self.centre_mm, float)
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


def blurred_ball(r: np.ndarray, radius: np.ndarray | float, sigma: np.ndarray | float) -> np.ndarray:
    """Gaussian(σ mm)-blurred indicator of a ball of ``radius`` mm at centre distance ``r`` mm
    (arrays broadcast)."""
    r = np.maximum(r, 1e-3)
    a = (radius - r) / (math.sqrt(2.0) * sigma)
    b = (radius + r) / (math.sqrt(2.0) * sigma)
    tail = sigma / (r * math.sqrt(2.0 * math.pi)) * (np.exp(-a * a) - np.exp(-b * b))
    return np.clip(0.5 * (erf(a) + erf(b)) - tail, 0.0, 1.0)


def ray_grid(n_theta: int) -> tuple[np.ndarray, np.ndarray]:
    """The (n_theta, 2·n_theta) ray grid: polar angles θ at the cell centres and unit vectors u (3, …)."""
    th = (np.arange(n_theta) + 0.5) * math.pi / n_theta
    n_phi = 2 * n_theta
    T, P = np.meshgrid(th, np.arange(n_phi) * 2 * math.pi / n_phi, indexing="ij")
    return T, np.stack([np.sin(T) * np.cos(P), np.sin(T) * np.sin(P), np.cos(T)])


def ray_radii(seed: np.ndarray, centre: np.ndarray, spacing: np.ndarray, n_theta: int = 24,
              smooth_vox: float = 0.7) -> tuple[np.ndarray, float]:
    """Template radius (mm) on an (n_theta, 2·n_theta) ray grid from ``centre`` (voxel index),
    and the template's volume (mm³)."""
    field = ndimage.gaussian_filter(seed.astype(float), smooth_vox)
    n_phi = 2 * n_theta
    T, u = ray_grid(n_theta)
    step = 0.25
    t = np.arange(0.0, float(np.linalg.norm(np.array(seed.shape) * spacing)), step)
    t = t[:int(np.searchsorted(t, _reach(field, centre, spacing))) + 2]
    pts = centre[:, None, None, None] + u[..., None] * t / spacing[:, None, None, None]
    v = ndimage.map_coordinates(field, pts.reshape(3, -1), order=1, mode="constant").reshape(*T.shape, -1)
    above = v >= 0.5
    last = np.where(above.any(axis=2), above.shape[2] - 1 - np.argmax(above[..., ::-1], axis=2), 0)
    i0 = np.clip(last, 0, len(t) - 2)[..., None]
    a, b = np.take_along_axis(v, i0, 2)[..., 0], np.take_along_axis(v, i0 + 1, 2)[..., 0]
    radius = np.maximum(t[i0[..., 0]] + np.clip((a - 0.5) / np.maximum(a - b, 1e-9), 0, 1) * step, 0.25)
    weight = np.sin(T) * (math.pi / n_theta) * (2 * math.pi / n_phi)
    return radius, float((radius**3 / 3.0 * weight).sum())


def _reach(field: np.ndarray, centre: np.ndarray, spacing: np.ndarray) -> float:
    """Distance (mm) from ``centre`` beyond which no linear interpolation of ``field`` reaches 0.5.

    A sample interpolates (convex weights) the voxels within one index of it; outside the bounding
    box of the voxels above 0.25 grown by one voxel, all of those are ≤ 0.25. So the rays of
    :func:`ray_radii` cut two samples beyond this distance have the same last crossing and the same
    samples around it as uncut rays (the same radii, with fewer samples)."""
    near = np.nonzero(field > 0.25)
    if not near[0].size:
        return 0.0
    box = [(float(i.min()) - 1.0, float(i.max()) + 1.0) for i in near]
    corners = np.stack(np.meshgrid(*box, indexing="ij"), -1).reshape(-1, 3)
    return float(np.linalg.norm((corners - centre) * spacing, axis=1).max())


def voxel_geometry(radius: np.ndarray, shape: tuple[int, ...], centre: np.ndarray,
                   spacing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per voxel of ``shape``: distance (mm) from ``centre`` and the template radius on its ray."""
    return _geometry_at(radius, np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij"),
                        centre, spacing)


def _geometry_at(radius: np.ndarray, points: list[np.ndarray], centre: np.ndarray,
                 spacing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`voxel_geometry` at the voxel indices ``points`` (one float array per axis). Every
    step is elementwise per voxel, so a subset of voxels gets the values of the whole grid."""
    n_theta, n_phi = radius.shape
    d = [(x - c) * s for x, c, s in zip(points, centre, spacing)]
    dist = np.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2)
    theta = np.arccos(np.clip(d[2] / np.maximum(dist, 1e-9), -1.0, 1.0))
    phi = np.mod(np.arctan2(d[1], d[0]), 2 * math.pi)
    wrapped = np.concatenate([radius, radius[:, :1]], axis=1)
    coords = [np.clip(theta / (math.pi / n_theta) - 0.5, 0, n_theta - 1), phi / (2 * math.pi / n_phi)]
    return dist, ndimage.map_coordinates(wrapped, coords, order=1, mode="nearest")


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
    fit = _LocalFit(y, tissues, float(np.mean(h)) ** 2 / 12.0, ring_drop, region, rays, h, dr, rr)

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
            # else the fit below is at the search's last trial centre (not ``centre``), as it always was
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


#: screening (:meth:`_LocalFit.best`): a point is solved exactly when its screened residual is within
#: this relative distance of the smallest one (the screening itself agrees with the exact fit to ~1e-13)
_SCREEN_TOL = 1e-6
#: an exactly solved point whose screened residual is further off than this makes the search solve
#: every point exactly (a failure of the screening's error bound; not seen on the cohorts)
_SCREEN_CHECK = 1e-8
#: largest condition number of a screened (Jacobi-scaled) normal matrix; above it the point is
#: solved exactly, as the normal equations square the condition of the design matrix
_SCREEN_MAX_COND = 1e6
#: a screened ring test within this fraction of the largest level of flipping is solved exactly
_RING_MARGIN = 1e-6
#: design-matrix values built at a time by the screening (a few points' worth: the temporaries stay in cache)
_CHUNK_VALUES = 24_000


class _LocalFit:
    """The linear model of the fit region at the current centre: :meth:`solve` fits one
    (scale, core fraction, blur) point, :meth:`best` finds the best of many.

    ``dr``, ``rr``: the region voxels' distance from the centre and template radius (mm).
    """

    def __init__(self, y: np.ndarray, tissues: list[np.ndarray], box_var: float, ring_drop: float,
                 region: np.ndarray, rays: np.ndarray, spacing: np.ndarray, dr: np.ndarray,
                 rr: np.ndarray) -> None:
        self.y, self.tissues, self.box_var, self.ring_drop = y, tissues, box_var, ring_drop
        self.rays, self.spacing = rays, spacing
        self.voxels = [i.astype(float) for i in np.nonzero(region)]   # the region, in y's order
        self.set_geometry(dr, rr)

    def set_geometry(self, dr: np.ndarray, rr: np.ndarray) -> None:
        self.dr, self.rr = dr, rr
        self._solved: dict[tuple[float, float, float], tuple[float, np.ndarray]] = {}

    def move_to(self, centre: np.ndarray) -> None:
        """The geometry for ``centre`` (voxel index), computed on the region's voxels only."""
        self.set_geometry(*_geometry_at(self.rays, self.voxels, centre, self.spacing))

    def solve(self, s: float, core: float, blur: float) -> tuple[float, np.ndarray]:
        """Residual sum of squares and levels of the fit at scale ``s`` (``math.inf`` for a
        rejected ring); memoised per geometry (a point's fit is a deterministic function of it)."""
        key = (s, core, blur)
        if key not in self._solved:
            self._solved[key] = self._lstsq(s, core, blur)
        return self._solved[key]

    def _lstsq(self, s: float, core: float, blur: float) -> tuple[float, np.ndarray]:
        dr, rr, y = self.dr, self.rr, self.y
        sig = math.sqrt(blur**2 + self.box_var)
        g = blurred_ball(dr, s * rr, sig)
        cols = [g]
        if core > 0:
            gc = blurred_ball(dr, s * core * rr, sig)
            cols = [g - gc, gc]
        cols += [t * (1.0 - g) for t in self.tissues]
        cols.append(self.tissues[0] * (1.0 - g) * np.clip(dr - s * rr, 0.0, None))
        x = np.stack(cols, 1)
        beta = np.linalg.lstsq(x, y, rcond=None)[0]
        if beta[-1] < 0:   # oedema is darker than WM: the WM side may only rise outwards
            x = x[:, :-1]
            beta = np.append(np.linalg.lstsq(x, y, rcond=None)[0], 0.0)
            x = np.column_stack([x, np.zeros(y.size)])
        if core > 0 and not (beta[1] >= 0 and beta[0] - beta[1] >= self.ring_drop * (beta[0] - beta[2])):
            return math.inf, beta
        return float(((x @ beta - y) ** 2).sum()), beta

    def best(self, points: list[tuple[float, float, float]]) -> tuple[int, float]:
        """``(i, rss)``: the first of ``points`` ((s, core, blur)) with the smallest :meth:`solve`
        residual, as ``min`` over them in this order gives, solving only the points that the
        screening (:meth:`screen`) cannot rule out.

        Why this is the same point with the same residual: every point with a certain screened
        residual more than ``_SCREEN_TOL`` (relative) above the smallest certain finite one, m, has
        a larger exact residual than m's point, because a screened residual is (up to rounding) the
        least-squares minimum over the same columns, i.e. at most solve()'s, and m's point is
        solved and checked to agree with its screened value within ``_SCREEN_CHECK``. All other
        points are solved, and the first smallest of them is taken. A NaN or a failed check falls
        back to solving every point.
        """
        if not points:
            raise ValueError("no points to search")
        rss, sure = self.screen(points)
        certain = sure & np.isfinite(rss)
        m = float(rss[certain].min()) if certain.any() else math.inf
        if not m > 0:
            return self._best_of_all(points)
        exact = {}
        for i in np.flatnonzero(~sure | (certain & (rss <= m * (1.0 + _SCREEN_TOL)))):
            exact[i] = self.solve(*points[i])[0]
            if math.isnan(exact[i]) or (sure[i] and not _agrees(exact[i], float(rss[i]))):
                return self._best_of_all(points)
        i = min(exact, key=exact.get, default=0)
        if not math.isfinite(exact.get(i, math.inf)):
            return 0, math.inf   # every point is a rejected ring: min() keeps the first
        return int(i), exact[i]

    def _best_of_all(self, points: list[tuple[float, float, float]]) -> tuple[int, float]:
        rss = [self.solve(*p)[0] for p in points]
        i = min(range(len(rss)), key=rss.__getitem__)
        return i, rss[i]

    def screen(self, points: list[tuple[float, float, float]]) -> tuple[np.ndarray, np.ndarray]:
        """Screened residual of each point and whether it is certain (:meth:`best`): the same
        model, its least-squares systems solved together from their normal equations
        (:func:`_screened_fits`). The design matrices are built a few points at a time (the
        elementwise work stays in cache), solid and ring points apart (their column counts differ)."""
        pts = np.array(points, float).reshape(-1, 3)
        rss, sure = np.empty(len(pts)), np.empty(len(pts), bool)
        per_chunk = max(1, _CHUNK_VALUES // self.y.size)
        for ring in (False, True):
            rows = np.flatnonzero((pts[:, 1] > 0) == ring)
            rows = rows[np.lexsort((pts[rows, 0], pts[rows, 2]))]   # equal (s, blur) side by side
            if rows.size:
                xs = [self._design(pts[rows[i:i + per_chunk]], ring) for i in range(0, rows.size, per_chunk)]
                rss[rows], sure[rows] = self._screened_rss(xs, ring)
        return rss, sure

    def _design(self, pts: np.ndarray, ring: bool) -> np.ndarray:
        """The design matrices (k, columns, voxels) of :meth:`solve` at the points ``pts`` (k, 3)
        sorted by (blur, s); points of one (s, blur) share the outer profile."""
        s, core, blur = pts.T
        new = np.r_[True, (np.diff(pts[:, [0, 2]], axis=0) != 0).any(1)]
        sig = np.sqrt(blur**2 + self.box_var)[:, None]
        g = blurred_ball(self.dr, s[new, None] * self.rr, sig[new])[np.cumsum(new) - 1]
        n_les = 2 if ring else 1
        x = np.empty((len(pts), n_les + len(self.tissues) + 1, self.y.size))
        x[:, 0] = g
        if ring:
            x[:, 1] = blurred_ball(self.dr, (s * core)[:, None] * self.rr, sig)
            x[:, 0] -= x[:, 1]
        outside = np.subtract(1.0, g, out=g)
        for i, t in enumerate(self.tissues):
            np.multiply(t, outside, out=x[:, n_les + i])
        np.multiply(x[:, n_les], np.clip(self.dr - s[:, None] * self.rr, 0.0, None), out=x[:, -1])
        return x

    def _screened_rss(self, xs: list[np.ndarray], ring: bool) -> tuple[np.ndarray, np.ndarray]:
        """Residual sum of squares and certainty of the screened fits of the design matrices in the
        chunks ``xs``, with solve()'s ring test for ``ring`` points."""
        beta, sure = _screened_fits(xs, self.y)
        chunks = np.split(beta, np.cumsum([len(x) for x in xs])[:-1])
        fitted = [np.einsum("kp,kpn->kn", b, x) for b, x in zip(chunks, xs)]
        rss = np.concatenate([((f - self.y) ** 2).sum(1) for f in fitted])
        sure &= ~np.isnan(rss)
        if ring:
            drop = beta[:, 0] - beta[:, 1] - self.ring_drop * (beta[:, 0] - beta[:, 2])
            margin = _RING_MARGIN * np.abs(beta[:, :3]).max(1)
            sure &= (np.abs(beta[:, 1]) > margin) & (np.abs(drop) > margin)
            rss = np.where((beta[:, 1] >= 0) & (drop >= 0), rss, np.inf)
        return rss, sure


def _screened_fits(xs: list[np.ndarray], y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients of ``y`` on the columns of every design matrix in the chunks
    ``xs`` (k, p, N), from the Jacobi-scaled normal equations, with a negative last coefficient
    refitted to 0 (as :meth:`_LocalFit.solve`), and whether each system was well enough conditioned
    to trust. An all-zero column gets the coefficient 0 (lstsq's minimum-norm solution)."""
    a = np.concatenate([x @ x.transpose(0, 2, 1) for x in xs])
    c = np.concatenate([x @ y for x in xs])
    norm = np.sqrt(np.diagonal(a, axis1=1, axis2=2))
    k, j = np.nonzero(norm == 0)
    norm[k, j] = 1.0
    a, c = a / (norm[:, :, None] * norm[:, None, :]), c / norm
    a[k, j, j] = 1.0
    sure = np.isfinite(a).all((1, 2)) & np.isfinite(c).all(1)
    a[~sure], c[~sure] = np.eye(a.shape[1]), 0.0
    w = np.linalg.eigvalsh(a)
    sure &= w[:, 0] > w[:, -1] / _SCREEN_MAX_COND
    a[~sure], c[~sure] = np.eye(a.shape[1]), 0.0
    full = np.linalg.solve(a, c[..., None])[..., 0]
    part = np.linalg.solve(a[:, :-1, :-1], c[:, :-1, None])[..., 0]
    beta = np.where(full[:, -1:] < 0, np.pad(part, ((0, 0), (0, 1))), full) / norm
    return beta, sure


def _agrees(exact: float, screened: float) -> bool:
    """An exact residual matches a finite screened one (a screened ring that solve() rejects does not)."""
    return math.isfinite(exact) and abs(exact - screened) <= _SCREEN_CHECK * exact


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


def _refine_centre(fit: _LocalFit, centre: np.ndarray, grid: np.ndarray, core: float, blur: float,
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
