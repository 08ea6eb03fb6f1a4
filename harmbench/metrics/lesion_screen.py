"""The linear fit of the lesion forward model at one centre, and its screened grid search.

:class:`LocalFit` fits the levels of :mod:`harmbench.metrics.lesion_model` for one (scale, core
fraction, blur) point by least squares (:meth:`LocalFit.solve`) and finds the best of many points
(:meth:`LocalFit.best`) by screening them all with batched normal equations and solving exactly
only those the screening cannot rule out, so a search returns what solving every point returns,
bit for bit (measured: ``benchmarks/bench_lesion_fit.py``)."""

from __future__ import annotations

import math

import numpy as np

from harmbench.metrics.lesion_geometry import blurred_ball, geometry_at

#: screening (:meth:`LocalFit.best`): a point is solved exactly when its screened residual is within
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


class LocalFit:
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
        self.set_geometry(*geometry_at(self.rays, self.voxels, centre, self.spacing))

    def solve(self, s: float, core: float, blur: float) -> tuple[float, np.ndarray]:
        """Residual sum of squares and levels of the fit at scale ``s`` (``math.inf`` for a
        rejected ring); memoised per geometry (a point's fit is a deterministic function of it)."""
        key = (s, core, blur)
        if key not in self._solved:
            self._solved[key] = self._lstsq(s, core, blur)
        return self._solved[key]

    def _lstsq(self, s: float, core: float, blur: float) -> tuple[float, np.ndarray]:
        y = self.y
        # the one design matrix of the screening (:meth:`_design`), as (voxels, columns) in C order
        x = np.ascontiguousarray(self._design(np.array([[s, core, blur]]), core > 0)[0].T)
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
    refitted to 0 (as :meth:`LocalFit.solve`), and whether each system was well enough conditioned
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
