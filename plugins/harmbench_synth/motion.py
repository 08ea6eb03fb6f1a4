"""Head pose (rigid motion between sessions) and residual gradient non-linearity.

A session's *pose* maps head (anatomy) coordinates to scanner (world) coordinates:
``world = R @ anat + t``. Sampling a scanner voxel therefore looks up
``anat = R.T @ (world + u(world) - t)``, where ``u`` is the scanner's residual geometric
distortion. Ground-truth labels and lesion masks are sampled through exactly the same mapping, so
they move with the head.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from harmbench_synth.profiles import ScannerProfile


@dataclass(frozen=True)
class Pose:
    """Rigid head pose: ``world = rotation @ anat + translation`` (mm)."""

    rotation: np.ndarray
    translation: np.ndarray

    @property
    def angles_deg(self) -> np.ndarray:
        """Approximate (x, y, z) Euler angles in degrees (for reporting)."""
        r = self.rotation
        return np.rad2deg([np.arctan2(r[2, 1], r[2, 2]), np.arcsin(-np.clip(r[2, 0], -1, 1)),
                           np.arctan2(r[1, 0], r[0, 0])])


def rotation_matrix(angles_deg: np.ndarray) -> np.ndarray:
    """Rotation R = Rz @ Ry @ Rx from (x, y, z) angles in degrees."""
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def random_pose(rng: np.random.Generator, *, rot_sd_deg: float, trans_sd_mm: float,
                rot_max_deg: float = 8.0, trans_max_mm: float = 10.0) -> Pose:
    """A random head pose: Gaussian angles/translations, clipped to the given maxima."""
    ang = np.clip(rng.normal(0.0, rot_sd_deg, 3), -rot_max_deg, rot_max_deg)
    tr = np.clip(rng.normal(0.0, trans_sd_mm, 3), -trans_max_mm, trans_max_mm)
    return Pose(rotation_matrix(ang), tr.astype(np.float64))


def _distortion_coeffs(p: ScannerProfile) -> np.ndarray:
    """Fixed (per scanner model) cubic distortion coefficients, (3, 4)."""
    rng = np.random.default_rng(zlib.crc32(p.name.encode()))
    c = rng.normal(0.0, 1.0, (3, 4))
    return c / np.abs(c).sum(axis=1, keepdims=True)


def geometric_residual(x: np.ndarray, y: np.ndarray, z: np.ndarray, p: ScannerProfile
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residual gradient non-linearity displacement (mm) at scanner coordinates.

    Grows with the cube of the distance from isocentre and reaches about
    ``p.geometric_residual_mm`` at 100 mm. Each axis mostly follows its own coordinate (as real
    gradient coils do), plus fixed per-model cross terms.

    Args:
        x, y, z: broadcastable scanner coordinates in mm.
        p: scanner profile.

    Returns:
        (dx, dy, dz) float32 arrays of the broadcast shape, in mm.
    """
    c = _distortion_coeffs(p).astype(np.float32)
    x, y, z = (np.asarray(v, dtype=np.float32) / 100.0 for v in (x, y, z))
    xx, yy, zz = x * x, y * y, z * z
    r2 = xx + yy + zz
    basis = (x * r2, y * r2, z * r2, x * y * z)
    own = (basis[0], basis[1], z * (xx + yy))
    amp = np.float32(p.geometric_residual_mm)
    return tuple(amp * (0.7 * own[a] + 0.3 * sum(c[a, b] * basis[b] for b in range(4)))  # type: ignore[return-value]
                 for a in range(3))
