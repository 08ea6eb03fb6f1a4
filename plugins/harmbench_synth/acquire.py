"""One scanner session: quantitative maps -> stored scanner image, label map and lesion mask.

Pipeline (PHYSICS.md "suggested per-scan pipeline"): take the subject's property maps at the
scanner's field strength, paint the session's lesion oedema into them ->
post-contrast R1 = R1₀ + ΔR1_Gd · gd_scale(delay) -> MPRAGE signal with the session's B1⁺ field;
the enhancing tissue and necrotic core of each lesion mix their own signals in by volume fraction
(partial volume adds signals, :class:`~harmbench_synth.lesions.Compartment`) ->
point-spread blur -> resample onto the scanner's native grid through the head pose and the
residual gradient non-linearity -> receive field -> Rician noise -> vendor gain, rounded to int16
(as scanners store DICOM pixels). Labels are sampled nearest-neighbour through the same mapping;
lesion masks are evaluated analytically at the scanner voxel centres.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy import ndimage

from harmbench_synth.anatomy import HEAD_CENTRE, SubjectAnatomy
from harmbench_synth.lesions import Compartment, Lesion, paint
from harmbench_synth.motion import Pose, geometric_residual
from harmbench_synth.physics import (
    gd_scale,
    mprage_signal,
    psf_sigma_mm,
    receive_coefficients,
    receive_field,
    rician,
    transmit_field,
)
from harmbench_synth.profiles import ScannerProfile
from harmbench_synth.tissues import tissues_at

CHUNK_VOXELS = 2_000_000


@dataclass(frozen=True)
class Acquisition:
    """A stored scan in the scanner's native grid.

    Attributes:
        image: int16 (I, J, K) pixel values.
        labels: int16 (I, J, K) FreeSurfer IDs (head shell 0; lesions 25/57).
        lesion: uint8 (I, J, K) binary mask of the target lesion.
        affine: 4x4 voxel -> scanner RAS (mm).
        meta: session facts (pose, Gd delay, gain) for the dataset record.
    """

    image: np.ndarray
    labels: np.ndarray
    lesion: np.ndarray
    affine: np.ndarray
    meta: dict


def scanner_grid(p: ScannerProfile, *, scale: float, fov_mm: tuple[float, float, float],
                 centre: np.ndarray) -> tuple[tuple[int, int, int], np.ndarray]:
    """Native voxel grid of a scanner: shape and affine (stored in ``p.orientation`` axis order).

    Args:
        p: scanner profile (voxel size at scale 1, orientation codes).
        scale: resolution scale of the preset (voxel sizes are multiplied by it).
        fov_mm: field of view along world x, y, z (mm).
        centre: world position of the FOV centre (mm).
    """
    codes = nib.orientations.axcodes2ornt(tuple(p.orientation))
    vox = np.array(p.voxel_mm) * scale
    shape_w = np.maximum(np.round(np.array(fov_mm) / vox).astype(int), 1)
    m = np.zeros((3, 3))
    shape = [0, 0, 0]
    for array_axis, (world_axis, flip) in enumerate(codes):
        w = int(world_axis)
        m[w, array_axis] = flip * vox[w]
        shape[array_axis] = int(shape_w[w])
    half = (np.array(shape) - 1) / 2.0
    affine = np.eye(4)
    affine[:3, :3] = m
    affine[:3, 3] = np.asarray(centre, float) - m @ half
    return tuple(shape), affine  # type: ignore[return-value]


def reference_wm_signal(p: ScannerProfile) -> float:
    """MPRAGE signal of normal white matter at nominal B1 (post-contrast), the SNR/gain reference."""
    wm = tissues_at(p.field_t)["cerebral-wm"]
    return float(mprage_signal(np.array([1000.0 / wm.t1 + wm.dr1]), np.array([wm.pd]),
                               np.array([1000.0 / wm.t2s]), 1.0, p)[0])


def mix_compartments(signal: np.ndarray, compartments: list[Compartment], b1: np.ndarray | float,
                     enhance: float, p: ScannerProfile) -> None:
    """Mix each compartment's own signal into ``signal`` (in place) by its volume fraction, in order.

    Partial volume of distinct tissues adds their signals: a voxel a fraction w of which is the
    compartment reads (1 − w) · S(what was there) + w · S(compartment).

    Args:
        signal: MPRAGE signal of the simulation grid.
        compartments: from :func:`~harmbench_synth.lesions.paint`, applied in order.
        b1: relative B1⁺ on the grid (broadcastable to ``signal``).
        enhance: gadolinium scale of this session (``gd_scale`` of the delay).
        p: the scanner profile.
    """
    for c in compartments:
        ones = np.ones(c.weight.shape, np.float32)
        own = mprage_signal(ones * np.float32(c.r1 + c.dr1 * enhance), ones * np.float32(c.pd),
                            ones * np.float32(c.r2s), np.broadcast_to(b1, signal.shape)[c.box], p)
        signal[c.box] += c.weight * (own - signal[c.box])


def acquire(anat: SubjectAnatomy, lesions: list[Lesion], p: ScannerProfile, *, scale: float,
            fov_mm: tuple[float, float, float], pose: Pose, rng: np.random.Generator,
            gd_delay_min: float) -> Acquisition:
    """Simulate one session.

    Args:
        anat: the subject's anatomy on the simulation grid (carrying maps at ``p.field_t``).
        lesions: lesions in their state for this session; ``lesions[0]`` is the target.
        p: scanner profile.
        scale: preset resolution scale (1 = native protocol voxels).
        fov_mm: scanner field of view (mm).
        pose: head pose in the scanner.
        rng: the session's random generator.
        gd_delay_min: minutes between contrast injection and the k-space centre.
    """
    maps = anat.maps(p.field_t)
    compartments = [c for les in lesions for c in paint(maps, anat.labels, anat.affine, les, p.field_t)]
    enhance = np.float32(gd_scale(gd_delay_min))
    r1 = maps["r1"] + maps["dr1"] * enhance

    h = anat.spacing
    axes = [anat.affine[i, i] * np.arange(n, dtype=np.float32) + anat.affine[i, 3] - HEAD_CENTRE[i]
            for i, n in enumerate(anat.labels.shape)]
    rel = np.meshgrid(*axes, indexing="ij", sparse=True)
    tilt = rng.normal(0.0, 0.01, 3)
    b1 = transmit_field((rel[0], rel[1], rel[2]), p, tilt)
    signal = mprage_signal(r1, maps["pd"], maps["r2s"], b1, p)
    mix_compartments(signal, compartments, b1, enhance, p)
    del r1, b1, maps
    sigma = psf_sigma_mm(p, scale, h) / h
    if sigma.max() > 0.05:
        signal = ndimage.gaussian_filter(signal, sigma)

    shape, affine = scanner_grid(p, scale=scale, fov_mm=fov_mm, centre=HEAD_CENTRE)
    # scanner voxel -> simulation index: an exactly affine part (pose) plus the rotated,
    # smooth gradient non-linearity, evaluated on a coarse grid and interpolated
    inv_sim = np.linalg.inv(anat.affine)
    rot = inv_sim[:3, :3] @ pose.rotation.T
    lin = rot @ affine[:3, :3]
    off = rot @ (affine[:3, 3] - pose.translation) + inv_sim[:3, 3]
    distortion = _distortion_index(affine, shape, p, rot)
    image = np.empty(shape, np.float32)
    labels = np.empty(shape, np.int16)
    lesion = np.zeros(shape, np.uint8)
    per_slab = max(1, CHUNK_VOXELS // (shape[1] * shape[2]))
    j = np.arange(shape[1], dtype=np.float32)[None, None, :, None]
    k = np.arange(shape[2], dtype=np.float32)[None, None, None, :]
    col = [lin[:, a].astype(np.float32).reshape(3, 1, 1, 1) for a in range(3)]
    for i0 in range(0, shape[0], per_slab):
        i1 = min(i0 + per_slab, shape[0])
        i = np.arange(i0, i1, dtype=np.float32)[None, :, None, None]
        sidx = col[0] * i + col[1] * j + col[2] * k + off.astype(np.float32).reshape(3, 1, 1, 1)
        sidx += distortion[:, i0:i1]
        sl = (slice(i0, i1), slice(None), slice(None))
        image[sl] = ndimage.map_coordinates(signal, sidx, order=1, mode="constant", cval=0.0, prefilter=False)
        labels[sl] = ndimage.map_coordinates(anat.labels, sidx, order=0, mode="constant", cval=0)
        for n, les in enumerate(lesions):
            _mark_lesion(les, sidx, anat.affine, labels[sl], lesion[sl] if n == 0 else None)
    labels[labels < 0] = 0

    world_axes = _world_axes(affine, shape)
    image *= receive_field(world_axes, p, receive_coefficients(p, rng))
    s_wm = reference_wm_signal(p)
    image = rician(image, s_wm / p.snr_wm * p.g_factor, rng)
    gain = p.gain_wm / s_wm * float(rng.normal(1.0, 0.03))
    stored = np.clip(np.rint(image * gain), 0, np.iinfo(np.int16).max).astype(np.int16)
    meta = {"scanner": p.name, "rotation_deg": [round(float(a), 3) for a in pose.angles_deg],
            "translation_mm": [round(float(t), 3) for t in pose.translation],
            "gd_delay_min": round(float(gd_delay_min), 3), "gain": round(gain, 3),
            "b1_tilt": [round(float(t), 4) for t in tilt]}
    return Acquisition(image=stored, labels=labels, lesion=lesion, affine=affine, meta=meta)


def _world_axes(affine: np.ndarray, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable world x, y, z arrays of a grid whose affine is a signed axis permutation."""
    out: list[np.ndarray] = [np.zeros(1, np.float32)] * 3
    for a in range(3):
        w = int(np.argmax(np.abs(affine[:3, a])))
        coord = (affine[w, a] * np.arange(shape[a]) + affine[w, 3]).astype(np.float32)
        view = [1, 1, 1]
        view[a] = shape[a]
        out[w] = coord.reshape(view)
    return out[0], out[1], out[2]


def _distortion_index(affine: np.ndarray, shape: tuple[int, int, int], p: ScannerProfile,
                      rot: np.ndarray) -> np.ndarray:
    """Gradient non-linearity as a simulation-index offset per scanner voxel, (3, I, J, K) float32."""
    u = geometric_residual(*_world_axes(affine, shape), p)
    u = [np.broadcast_to(c, shape) for c in u]
    return np.stack([sum(np.float32(rot[r, a]) * u[a] for a in range(3)) for r in range(3)])


def _mark_lesion(les: Lesion, sidx: np.ndarray, sim_affine: np.ndarray, labels: np.ndarray,
                 target: np.ndarray | None) -> None:
    """Write a lesion into a slab's labels (and the target mask) where ``rho < 1``, in place."""
    h = float(sim_affine[0, 0])
    c = (np.linalg.inv(sim_affine) @ np.r_[les.centre, 1.0])[:3].reshape(3, 1, 1, 1)
    near = ((sidx - c) ** 2).sum(axis=0) < ((les.reach + 1.0) / h) ** 2
    if not near.any():
        return
    pts = sidx[:, near].astype(np.float64) * h + sim_affine[:3, 3:4]
    inside = np.zeros(near.shape, bool)
    inside[near] = les.rho(pts) < 1.0
    labels[inside] = les.label
    if target is not None:
        target[inside] = 1
