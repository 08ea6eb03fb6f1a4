"""Brain metastases with known ground truth: shape, compartments, placement and growth.

A lesion is a lobulated ellipsoid in head coordinates. Its normalised radius
``rho(p) = |S⁻¹ Rᵀ (p − c)| / (r · lobe(u))`` is < 1 inside; scaling ``r`` by ``s`` scales the
volume by exactly ``s³``, so a recorded relative volume change ``change`` is realised as
``r_FU = r_BL · (1 + change)^(1/3)`` with the same shape. Compartments: enhancing tissue
(``rho < 1``), an optional necrotic core (``rho < core``, ring enhancement) and vasogenic oedema
that spreads in white matter around it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from harmbench_synth.motion import rotation_matrix
from harmbench_synth.tissues import R1_PLASMA, TISSUES, gd_relaxivity_factor, lesion_t1_at, tissues_at

WM_LABELS = (2, 41, 7, 46, 77, 251, 252, 253, 254, 255)
LESION_LABEL = {"left": 25, "right": 57}  # FreeSurfer Left-Lesion / Right-Lesion


@dataclass(frozen=True)
class Lesion:
    """One metastasis in head (anatomy) coordinates.

    Attributes:
        centre: (3,) position in mm.
        radius: base radius r in mm (the lesion spans ~2r).
        axes: (3,) semi-axis factors (product 1).
        rotation: (3, 3) orientation.
        lobe_dirs: (K, 3) unit directions of lobulations; ``lobe_amp`` (K,) their heights.
        core: necrotic-core fraction of the normalised radius (0 = solid lesion).
        oedema: oedema radius in mm (0 = none).
        t1: native T1 of the enhancing tissue (ms).
        gd_mm: gadolinium concentration of the enhancing tissue at 5 min (mM).
        code: label-map ID of the lesion (0 = FreeSurfer Left-/Right-Lesion by side; a new
            follow-up lesion carries its own, :data:`harmbench.metrics.new_lesion.NEW_LESION_LABEL` + k).
    """

    centre: np.ndarray
    radius: float
    axes: np.ndarray
    rotation: np.ndarray
    lobe_dirs: np.ndarray
    lobe_amp: np.ndarray
    core: float
    oedema: float
    t1: float
    gd_mm: float
    code: int = 0

    @property
    def reach(self) -> float:
        """Radius (mm) of a sphere around ``centre`` that contains the lesion."""
        return float(self.radius * (1.0 + self.lobe_amp.sum()) * self.axes.max())

    @property
    def label(self) -> int:
        if self.code:
            return self.code
        return LESION_LABEL["left" if self.centre[0] < 0 else "right"]

    def scaled(self, change: float) -> Lesion:
        """The same lesion with its volume multiplied by ``1 + change`` (oedema scales alike)."""
        s = float((1.0 + change) ** (1.0 / 3.0))
        return replace(self, radius=self.radius * s, oedema=self.oedema * s)

    def rho(self, pts: np.ndarray, radius: float | None = None) -> np.ndarray:
        """Normalised radius at points (3, N) in mm; < 1 inside the lesion (or ``radius`` shell)."""
        q = (self.rotation.T @ (pts - self.centre[:, None])) / self.axes[:, None]
        d = np.sqrt((q * q).sum(axis=0)) + 1e-6
        u = q / d
        lobe = 1.0 + (self.lobe_amp[:, None] * np.exp(-(1.0 - self.lobe_dirs @ u) / 0.15)).sum(axis=0)
        return d / ((self.radius if radius is None else radius) * lobe)

    def volume_mm3(self, n: int = 20000) -> float:
        """Analytic volume by angular quadrature: ∫ (r·lobe(u))³/3 dΩ (axes have product 1)."""
        rng = np.random.default_rng(0)
        u = rng.normal(size=(3, n))
        u /= np.linalg.norm(u, axis=0)
        lobe = 1.0 + (self.lobe_amp[:, None] * np.exp(-(1.0 - self.lobe_dirs @ u) / 0.15)).sum(axis=0)
        return float(4.0 * np.pi * np.mean((self.radius * lobe) ** 3) / 3.0)


#: Gadolinium concentration range of enhancing metastasis tissue at 5 min (mM; PHYSICS.md §2).
GD_RANGE_MM = (0.08, 0.25)


def target_gd_floor(t1_ms: float) -> float:
    """Lowest [Gd] (mM) at which a lesion of native ``t1_ms`` is hyperintense to WM in R1 at 3 T.

    A *target* lesion is a measurable enhancing lesion (RANO-BM: enhancing, well-defined margins).
    Its post-contrast R1 = 1/T1 + r1·[Gd] must reach cerebral WM's post-contrast R1; at the low end
    of PHYSICS.md's range (0.08 mM with T1 1900 ms) the "enhancing" tissue has a *longer* T1 than
    WM and is as bright as the oedema around it: no reader would choose it as a target.
    """
    wm = TISSUES["cerebral-wm"]
    r1_wm = 1000.0 / wm.t1 + wm.dr1
    return float(np.clip((r1_wm - 1000.0 / t1_ms) / R1_PLASMA, GD_RANGE_MM[0], GD_RANGE_MM[1]))


def random_lesion(rng: np.random.Generator, centre: np.ndarray, diameter_mm: float,
                  target: bool = False) -> Lesion:
    """Draw the shape and biology of a lesion of nominal ``diameter_mm`` at ``centre``.

    ``target``: the target lesion's [Gd] is drawn between :func:`target_gd_floor` and the top of
    :data:`GD_RANGE_MM` (the same uniform variate, so every other draw of the cohort is unchanged);
    other lesions cover the whole range.
    """
    axes = rng.uniform(0.8, 1.2, 3)
    axes /= np.cbrt(axes.prod())
    k = 3
    dirs = rng.normal(size=(k, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    amp = rng.uniform(0.0, 0.18, k) * (diameter_mm >= 8)
    r = diameter_mm / 2.0 / (1.0 + 0.5 * amp.sum())
    ring = diameter_mm >= 10 and rng.random() < 0.6
    core = float(rng.uniform(0.45, 0.75)) if ring else 0.0
    oedema = float(r * rng.uniform(1.3, 2.4) + rng.uniform(2.0, 10.0)) if diameter_mm >= 6 else 0.0
    t1 = float(rng.uniform(1500, 1900))
    low = target_gd_floor(t1) if target else GD_RANGE_MM[0]
    gd = float(low + rng.random() * (GD_RANGE_MM[1] - low))
    return Lesion(centre=np.asarray(centre, float), radius=float(r), axes=axes,
                  rotation=rotation_matrix(rng.uniform(-180, 180, 3)), lobe_dirs=dirs, lobe_amp=amp,
                  core=core, oedema=oedema, t1=t1, gd_mm=gd)


def place_lesions(rng: np.random.Generator, labels: np.ndarray, affine: np.ndarray,
                  diameters: list[float]) -> list[Lesion]:
    """Place lesions (largest first) at grey-white junction / cerebellar sites inside the brain.

    Args:
        rng: random generator.
        labels: (X, Y, Z) FreeSurfer label map of the subject on the simulation grid.
        affine: 4x4 voxel -> head-coordinate matrix of ``labels``.
        diameters: nominal diameters (mm); the first (largest) becomes the target lesion.
    """
    h = float(np.linalg.norm(affine[:3, 0]))
    depth = ndimage.distance_transform_edt(labels > 0, sampling=h)
    from_csf = ndimage.distance_transform_edt(~np.isin(labels, (4, 43, 14, 15)), sampling=h)
    brain = (labels > 0) & (labels != 24)
    cerebral = np.isin(labels, (2, 41))
    cerebellar = np.isin(labels, (7, 8, 46, 47))
    placed: list[Lesion] = []
    for diam in sorted(diameters, reverse=True):
        need = 0.65 * diam * 1.4 + 2.0
        region = cerebellar if rng.random() < 0.15 else cerebral
        deep = (depth >= need) & (from_csf >= need)
        ok = region & deep & (depth <= need + 15.0)
        if not ok.any():
            ok = brain & deep
        if not ok.any():
            ok = brain & (depth >= depth[brain].max() * 0.8)
        idx = np.argwhere(ok)
        for _ in range(50):
            ijk = idx[rng.integers(len(idx))]
            c = (affine @ np.r_[ijk, 1.0])[:3]
            if all(np.linalg.norm(c - o.centre) > 0.6 * (diam + 2 * o.reach) + 4.0 for o in placed):
                break
        placed.append(random_lesion(rng, c, diam, target=not placed))
    return placed


@dataclass(frozen=True)
class Compartment:
    """A lesion compartment that fills part of some voxels: its signal mixes with what is there.

    Partial volume of two distinct tissues in one voxel adds their *signals* (each relaxes with
    its own T1); blending their relaxation rates instead makes the brighter side of an MPRAGE
    boundary look wider (the signal is concave in R1), which moves a thin enhancing rim's apparent
    edges by a large fraction of its thickness.

    Attributes:
        box: index box of the simulation grid.
        weight: (box shape) volume fraction of the voxel the compartment fills, in [0, 1].
        r1, pd, r2s, dr1: its native R1 (1/s), proton density, R2* (1/s) and gadolinium ΔR1 (1/s).
    """

    box: tuple[slice, slice, slice]
    weight: np.ndarray
    r1: float
    pd: float
    r2s: float
    dr1: float


def paint(maps: dict[str, np.ndarray], labels: np.ndarray, affine: np.ndarray, lesion: Lesion,
          field_t: float = 3.0) -> list[Compartment]:
    """Blend one lesion's oedema into property maps in place; return its tissue compartments.

    Oedema is a graded change of the white matter's water content, so its properties are blended
    into the maps. The enhancing tissue and the necrotic core are distinct tissues with sharp
    borders: they are returned as :class:`Compartment` s (enhancing first, then the core inside
    it) whose signals the acquisition mixes with the surrounding tissue's by volume fraction.

    Args:
        maps: ``r1``, ``pd``, ``r2s``, ``dr1`` float32 arrays on the simulation grid.
        labels: label map of the grid (oedema spreads only into white matter).
        affine: voxel -> head-coordinate matrix of the grid.
        lesion: the lesion (in its state for this session).
        field_t: main field in tesla (the tissue values and gadolinium relaxivity there).
    """
    tissues = tissues_at(field_t)
    h = float(np.linalg.norm(affine[:3, 0]))
    reach = max(lesion.reach, lesion.oedema * 1.3) + 2 * h
    inv = np.linalg.inv(affine)
    lo = np.floor(inv[:3, :3] @ (lesion.centre - reach) + inv[:3, 3]).astype(int)
    hi = np.ceil(inv[:3, :3] @ (lesion.centre + reach) + inv[:3, 3]).astype(int) + 1
    lo, hi = np.maximum(np.minimum(lo, hi), 0), np.minimum(np.maximum(lo, hi), labels.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    grid = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi)), indexing="ij")).reshape(3, -1)
    pts = affine[:3, :3] @ grid + affine[:3, 3:4]
    shape = tuple(b - a for a, b in zip(lo, hi))
    rho = lesion.rho(pts).reshape(shape)
    surf_mm = lesion.radius  # distance to the surface ~ (1 - rho) * r
    occ = np.clip(0.5 + (1.0 - rho) * surf_mm / h, 0.0, 1.0).astype(np.float32)
    sub = {k: v[box] for k, v in maps.items()}

    def blend(weight: np.ndarray, t1: float, pd: float, t2s: float, dr1: float) -> None:
        for key, val in (("r1", 1000.0 / t1), ("pd", pd), ("r2s", 1000.0 / t2s), ("dr1", dr1)):
            sub[key] *= 1.0 - weight
            sub[key] += weight * np.float32(val)

    if lesion.oedema > 0:
        ed = tissues["oedema"]
        d = rho * lesion.radius  # approximate distance from the centre in mm
        w = np.clip((lesion.oedema - d) / (0.35 * lesion.oedema), 0.0, 1.0) ** 0.7
        w *= np.isin(labels[box], WM_LABELS)
        blend(w.astype(np.float32), ed.t1, ed.pd, ed.t2s, ed.dr1)
    r1_gd = R1_PLASMA if field_t == 3.0 else R1_PLASMA * gd_relaxivity_factor(field_t)
    enh = tissues["enhancing"]
    out = [Compartment(box, occ, 1000.0 / lesion_t1_at(lesion.t1, field_t), enh.pd, 1000.0 / enh.t2s,
                       r1_gd * lesion.gd_mm)]
    if lesion.core > 0:
        nec = tissues["necrosis"]
        core = np.clip(0.5 + (lesion.core - rho) * surf_mm / h, 0.0, 1.0).astype(np.float32)
        out.append(Compartment(box, core, 1000.0 / nec.t1, nec.pd, 1000.0 / nec.t2s, nec.dr1))
    return out
