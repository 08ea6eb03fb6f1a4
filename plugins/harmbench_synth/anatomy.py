"""Per-subject anatomy: the reference head warped by a random smooth diffeomorphism.

Each subject's head is the :mod:`~harmbench_synth.atlas` reference head seen through
``mni(a) = c + S⁻¹ (a − c) + u(a)``: a head-size/shape scaling ``S``, a smooth random
diffeomorphic displacement ``u_d`` (a stationary velocity field integrated by scaling and
squaring, so the map is invertible) and a ventricle-expansion field ``u_v`` (mild atrophy). The
quantitative maps (R1, PD, R2*, ΔR1_Gd) and the label map are sampled through that mapping onto
the simulation grid, in *head coordinates* (mm, MNI-like, head centre near ``HEAD_CENTRE``).
The maps are at 3 T; a subject drawn with ``fields=(3.0, 1.5)`` also carries the 1.5 T maps
(same anatomy, the tissue table of :func:`harmbench_synth.tissues.tissues_at`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from dataclasses import field as dc_field

import numpy as np
from scipy import ndimage

from harmbench_synth.atlas import box_grid, head_model
from harmbench_synth.tissues import property_maps

HEAD_CENTRE = np.array([0.0, -18.0, 6.0])  # mm, MNI: centre of the head shell
FIELD_SPACING = 4.0  # mm, grid of the deformation fields
VELOCITY_SPACING = 16.0  # mm, control spacing of the random velocity field


@dataclass(frozen=True)
class SubjectAnatomy:
    """One subject's head on the simulation grid (head coordinates).

    Attributes:
        labels: int16 (X, Y, Z) FreeSurfer IDs (negative codes: head shell).
        r1, pd, r2s, dr1: float32 (X, Y, Z) native R1 (1/s), proton density, R2* (1/s) and
            gadolinium ΔR1 at 5 min (1/s).
        affine: 4x4 voxel -> head-coordinate (mm) matrix.
        params: the drawn subject parameters (scale, deformation and ventricle amplitudes).
        other_fields: the four maps at other field strengths, keyed by field in tesla.
    """

    labels: np.ndarray
    r1: np.ndarray
    pd: np.ndarray
    r2s: np.ndarray
    dr1: np.ndarray
    affine: np.ndarray
    params: dict
    other_fields: dict = dc_field(default_factory=dict)

    @property
    def spacing(self) -> float:
        return float(self.affine[0, 0])

    def maps(self, field_t: float = 3.0) -> dict[str, np.ndarray]:
        """Fresh copies of the four property maps at ``field_t`` tesla (to paint lesions into).

        Raises:
            KeyError: the subject was drawn without that field.
        """
        if field_t != 3.0:
            return {k: v.copy() for k, v in self.other_fields[field_t].items()}
        return {"r1": self.r1.copy(), "pd": self.pd.copy(), "r2s": self.r2s.copy(), "dr1": self.dr1.copy()}


def base_spacing(sim_spacing: float) -> float:
    """Reference-head resolution used for a simulation grid: 0.75 x the grid, within [1, 2] mm."""
    return float(np.clip(sim_spacing * 0.75, 1.0, 2.0))


@functools.lru_cache(maxsize=2)
def reference_maps(sim_spacing: float) -> dict[str, np.ndarray]:
    """Property maps of the reference head, anti-aliased for sampling at ``sim_spacing`` mm.

    Returns a dict with ``labels`` (int16), ``r1``, ``pd``, ``r2s``, ``dr1`` (float32), ``affine``
    and the ventricle-expansion field ``ventricle_field`` (3, Fx, Fy, Fz) on the field grid.
    """
    hm = head_model(base_spacing(sim_spacing))
    r1, pd, r2s, dr1 = property_maps(hm.labels, hm.texture, hm.csf_fraction)
    sigma = np.sqrt(max((sim_spacing / 2.5) ** 2 - (hm.spacing / 2.5) ** 2, 0.0)) / hm.spacing
    out = {"labels": hm.labels, "affine": hm.affine}
    for key, arr in (("r1", r1), ("pd", pd), ("r2s", r2s), ("dr1", dr1)):
        out[key] = ndimage.gaussian_filter(arr, sigma) if sigma > 0.05 else arr
    out["ventricle_field"] = expansion_field(hm.labels, hm.affine)
    return out


@functools.lru_cache(maxsize=2)
def reference_field_maps(sim_spacing: float, field_t: float) -> dict[str, np.ndarray]:
    """``r1``, ``pd``, ``r2s``, ``dr1`` of the reference head at ``field_t`` tesla, smoothed as in
    :func:`reference_maps` (which holds the 3 T maps)."""
    hm = head_model(base_spacing(sim_spacing))
    maps = property_maps(hm.labels, hm.texture, hm.csf_fraction, field_t)
    sigma = np.sqrt(max((sim_spacing / 2.5) ** 2 - (hm.spacing / 2.5) ** 2, 0.0)) / hm.spacing
    return {key: ndimage.gaussian_filter(arr, sigma) if sigma > 0.05 else arr
            for key, arr in zip(("r1", "pd", "r2s", "dr1"), maps)}


VENTRICLE_LABELS = (4, 43, 5, 44, 14)


def expansion_field(labels: np.ndarray, affine: np.ndarray,
                    ids: tuple[int, ...] = VENTRICLE_LABELS) -> np.ndarray:
    """Unit-peak gradient of the smoothed indicator of ``ids`` on the field grid, (3, Fx, Fy, Fz).

    Sampling the anatomy at ``x + a · field(x)`` grows the ``ids`` compartment by up to ``a`` mm
    (the field points into it): the ventricles by default, the sulcal CSF with ``ids=(24,)``.

    Args:
        labels: FreeSurfer label map; affine: its voxel -> head-coordinate matrix.
        ids: labels of the compartment that expands.
    """
    h = float(affine[0, 0])
    shape, faff = box_grid(FIELD_SPACING)
    vent = np.isin(labels, ids).astype(np.float32)
    m = np.linalg.inv(affine) @ faff
    coarse = ndimage.affine_transform(ndimage.gaussian_filter(vent, 2.0 / h), m[:3, :3], m[:3, 3],
                                      output_shape=shape, order=1)
    smooth = ndimage.gaussian_filter(coarse, 6.0 / FIELD_SPACING)
    grad = np.stack(np.gradient(smooth))
    return (grad / max(float(np.abs(grad).max()), 1e-9)).astype(np.float32)


def _integrate(velocity: np.ndarray, steps: int = 6) -> np.ndarray:
    """Displacement of exp(v) by scaling and squaring on a voxel grid (units: voxels), (3, ...)."""
    disp = velocity / (2.0**steps)
    grid = np.stack(np.meshgrid(*(np.arange(n, dtype=np.float32) for n in velocity.shape[1:]), indexing="ij"))
    for _ in range(steps):
        warped = np.stack([ndimage.map_coordinates(d, grid + disp, order=1, mode="nearest") for d in disp])
        disp = disp + warped
    return disp


def random_displacement(rng: np.random.Generator, amplitude_mm: float) -> np.ndarray:
    """A smooth random diffeomorphic displacement (mm) on the field grid, (3, Fx, Fy, Fz).

    A Gaussian random velocity on a ``VELOCITY_SPACING`` lattice, smoothed and upsampled to half
    that spacing, scaled to RMS ``amplitude_mm``, integrated there by scaling and squaring and
    finally upsampled to the ``FIELD_SPACING`` grid.
    """
    shape, _ = box_grid(FIELD_SPACING)
    half = VELOCITY_SPACING / 2.0
    mid_shape, _ = box_grid(half)
    coarse_shape = tuple(int(np.ceil(n * half / VELOCITY_SPACING)) + 1 for n in mid_shape)
    v = rng.standard_normal((3, *coarse_shape)).astype(np.float32)
    v = np.stack([ndimage.gaussian_filter(c, 0.8) for c in v])
    v = np.stack([ndimage.zoom(c, [m / k for m, k in zip(mid_shape, coarse_shape)], order=3,
                               grid_mode=True, mode="nearest") for c in v])
    v *= amplitude_mm / max(float(np.sqrt((v**2).mean())), 1e-9)
    disp = _integrate(v / half) * half
    return np.stack([ndimage.zoom(c, [n / m for n, m in zip(shape, mid_shape)], order=1,
                                  grid_mode=True, mode="nearest") for c in disp]).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _head_region(sim_spacing: float) -> np.ndarray:
    """Simulation voxels that any subject's head can reach: the reference head grown by 16 mm."""
    ref = reference_maps(sim_spacing)
    shape, aff = box_grid(sim_spacing)
    m = np.linalg.inv(ref["affine"]) @ aff
    head = ndimage.affine_transform((ref["labels"] != 0).astype(np.uint8), m[:3, :3], m[:3, 3],
                                    output_shape=shape, order=0)
    return ndimage.distance_transform_edt(head == 0, sampling=sim_spacing) <= 16.0


def subject_anatomy(rng: np.random.Generator, sim_spacing: float,
                    fields: tuple[float, ...] = (3.0,),
                    follow_up: np.ndarray | None = None) -> SubjectAnatomy:
    """Draw one subject and sample its head onto the simulation grid.

    Args:
        rng: the subject's random generator (same seed -> same subject).
        sim_spacing: simulation grid spacing in mm.
        fields: field strengths (tesla) whose property maps the subject carries; 3 T always.
        follow_up: optional displacement (mm, (3, Fx, Fy, Fz) on the ``FIELD_SPACING`` grid) of a
            later time point: the head at ``x`` is the subject's head at ``x + follow_up(x)``,
            sampled from the reference head in one interpolation (no extra blur).
    """
    ref = reference_maps(sim_spacing)
    region = _head_region(sim_spacing)
    shape, aff = box_grid(sim_spacing)
    scale = rng.normal(1.0, 0.035) * rng.normal(1.0, 0.02, 3)
    amp = float(rng.uniform(1.5, 3.0))
    vent = float(rng.uniform(0.0, 3.0))
    field = random_displacement(rng, amp) + vent * ref["ventricle_field"]

    # head coordinates of the simulation voxels that can hold head, then the field there
    pts = np.argwhere(region).T.astype(np.float32) * np.float32(sim_spacing) + aff[:3, 3:4].astype(np.float32)
    _, faff = box_grid(FIELD_SPACING)
    if follow_up is not None:
        fidx = (pts - faff[:3, 3:4].astype(np.float32)) / np.float32(FIELD_SPACING)
        pts = pts + np.stack([ndimage.map_coordinates(f, fidx, order=1, mode="nearest") for f in follow_up])
    fidx = (pts - faff[:3, 3:4].astype(np.float32)) / np.float32(FIELD_SPACING)
    disp = np.stack([ndimage.map_coordinates(f, fidx, order=1, mode="nearest") for f in field])
    c = HEAD_CENTRE.reshape(3, 1).astype(np.float32)
    mni = c + (pts - c) / scale.reshape(3, 1).astype(np.float32) + disp
    bidx = (mni - ref["affine"][:3, 3:4].astype(np.float32)) / np.float32(ref["affine"][0, 0])
    del pts, fidx, disp, mni
    labels = np.zeros(shape, np.int16)
    labels[region] = ndimage.map_coordinates(ref["labels"], bidx, order=0, mode="constant", cval=0)
    maps = _sample_maps(ref, bidx, region, shape)
    other = {f: _sample_maps(reference_field_maps(sim_spacing, f), bidx, region, shape)
             for f in dict.fromkeys(fields) if f != 3.0}
    params = {"scale": [round(float(s), 4) for s in scale], "deformation_rms_mm": round(amp, 3),
              "ventricle_expansion_mm": round(vent, 3)}
    return SubjectAnatomy(labels=labels, affine=aff, params=params, other_fields=other, **maps)


def _sample_maps(ref: dict[str, np.ndarray], bidx: np.ndarray, region: np.ndarray,
                 shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The four property maps of ``ref`` sampled at reference-head indices ``bidx`` (air outside)."""
    maps = {}
    for key, fill in (("r1", 0.25), ("pd", 0.0), ("r2s", 10.0), ("dr1", 0.0)):
        arr = np.full(shape, fill, np.float32)
        arr[region] = ndimage.map_coordinates(ref[key], bidx, order=1, mode="constant", cval=fill,
                                              prefilter=False)
        maps[key] = arr
    air = maps["pd"] <= 1e-4
    maps["r1"][air] = 0.25
    maps["r2s"][air] = 10.0
    return maps
