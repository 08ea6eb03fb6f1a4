"""Signal equations and scanner imperfections (PHYSICS.md §2-3, §5).

* :func:`mprage_signal`: Deichmann's closed-form steady state of an inversion-prepared
  segmented gradient-echo readout (MPRAGE / IR-TFE / BRAVO), evaluated voxel-wise with B1⁺.
* :func:`gd_scale`: relative plasma gadolinium concentration at a given delay (Weinmann 1984).
* :func:`transmit_field` / :func:`receive_field`: smooth B1⁺ (centre-bright, moves with the head)
  and residual receive non-uniformity (fixed to the scanner) fields.
* :func:`rician`: magnitude of signal plus complex Gaussian noise.
* :func:`psf_sigma_mm`: Gaussian point-spread width from voxel size, reconstruction filter and
  the T1* blur along the partition direction.
"""

from __future__ import annotations

import zlib

import numpy as np

from harmbench_synth.profiles import ScannerProfile
from harmbench_synth.tissues import tissues_at


def mprage_signal(r1: np.ndarray, pd: np.ndarray, r2s: np.ndarray, b1: np.ndarray | float,
                  p: ScannerProfile) -> np.ndarray:
    """Magnitude signal at the k-space centre of an MPRAGE-type sequence.

    Args:
        r1: longitudinal relaxation rate 1/T1 in 1/s (post-contrast), any shape.
        pd: proton density (relative), same shape.
        r2s: 1/T2* in 1/s, same shape.
        b1: relative transmit field B1⁺ (1 = nominal), broadcastable.
        p: scanner profile (timing in ms).

    Returns:
        float32 array S = PD-weighted |M_k0 · sin α′| · exp(−TE/T2*) (receive field and gain
        excluded), same shape as ``r1``.
    """
    r1 = np.asarray(r1, dtype=np.float32) / 1000.0  # 1/ms
    alpha = np.deg2rad(p.flip_deg) * np.asarray(b1, dtype=np.float32)
    cos_a = np.cos(alpha)
    tau, n, n0 = p.tau_ms, p.n_readout, p.n_centre
    ti1, td = p.ti_prime_ms, p.td_ms
    r1s = r1 - np.log(cos_a) / tau  # 1/T1*
    e_tau = np.exp(-tau * r1)
    e_tau_s = np.exp(-tau * r1s)
    m0s = (1.0 - e_tau) / (1.0 - e_tau_s)  # M0*/M0
    b1_ = np.exp(-n * tau * r1s)
    a1 = m0s * (1.0 - b1_)
    b2 = np.exp(-td * r1)
    a2 = 1.0 - b2
    e_ti = np.exp(-ti1 * r1)
    a3 = 1.0 - e_ti
    b3 = -p.eta * e_ti
    m1 = (a3 + a2 * b3 + a1 * b2 * b3) / (1.0 - b1_ * b2 * b3)
    mk0 = m0s + (m1 - m0s) * np.exp(-n0 * tau * r1s)
    s = np.asarray(pd, dtype=np.float32) * np.abs(mk0 * np.sin(alpha)) * np.exp(
        -p.te_ms * np.asarray(r2s, dtype=np.float32) / 1000.0)
    return s.astype(np.float32, copy=False)


def gd_scale(delay_min: float) -> float:
    """Plasma [Gd] at ``delay_min`` minutes relative to 5 minutes (bi-exponential, Weinmann 1984)."""
    def cp(t: float) -> float:
        return 3.99 * np.exp(-0.144 * t) + 4.78 * np.exp(-0.0111 * t)
    return float(cp(delay_min) / cp(5.0))


def transmit_field(anat_xyz: tuple[np.ndarray, np.ndarray, np.ndarray], p: ScannerProfile,
                   tilt: np.ndarray) -> np.ndarray:
    """Relative B1⁺ at head (anatomy) coordinates.

    The centre-bright dielectric pattern follows the head: b1_centre at the head centre falling
    quadratically to b1_edge at ~80 mm; ``tilt`` (3,) adds a session-specific linear gradient
    (fraction per 100 mm).

    Args:
        anat_xyz: three broadcastable arrays of anatomy coordinates (mm, head centre at origin).
        p: scanner profile.
        tilt: (3,) linear gradient coefficients.
    """
    x, y, z = anat_xyz
    rho2 = (x / 80.0) ** 2 + (y / 95.0) ** 2 + (z / 85.0) ** 2
    b1 = p.b1_centre - (p.b1_centre - p.b1_edge) * np.minimum(rho2, 1.6)
    b1 = b1 + (tilt[0] * x + tilt[1] * y + tilt[2] * z) / 100.0
    return np.clip(b1, 0.6, 1.4).astype(np.float32)


def receive_field(world_xyz: tuple[np.ndarray, np.ndarray, np.ndarray], p: ScannerProfile,
                  coeffs: np.ndarray) -> np.ndarray:
    """Residual receive sensitivity (mean ~1) at scanner coordinates.

    A quadratic polynomial in (x, y, z)/100 mm with ``coeffs`` (9,) from
    :func:`receive_coefficients`, plus a surface-brightening term (array coils are most
    sensitive near the head surface); bounded by ``1 ± rx_residual``.
    """
    x, y, z = (c / 100.0 for c in world_xyz)
    terms = (x, y, z, x * x, y * y, z * z, x * y, x * z, y * z)
    poly = sum(c * t for c, t in zip(coeffs, terms))
    surface = 0.5 * ((x / 0.8) ** 2 + (y / 0.95) ** 2 + (z / 0.85) ** 2)
    field = 1.0 + p.rx_residual * np.tanh(poly + surface - 0.35)
    return field.astype(np.float32)


def receive_coefficients(p: ScannerProfile, rng: np.random.Generator, *, jitter: float = 0.1) -> np.ndarray:
    """Receive-field coefficients (9,) of one session.

    The pattern belongs to the scanner's head coil: a fixed draw per profile (seeded by its name),
    plus a small per-session ``jitter`` (coil loading, head position in the coil).
    """
    sd = np.array([0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.3, 0.3, 0.3])
    fixed = np.random.default_rng(zlib.crc32(p.name.encode())).normal(0.0, sd)
    return (fixed + rng.normal(0.0, jitter * sd)).astype(np.float32)


def rician(signal: np.ndarray, sigma: float | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """|signal + sigma·(n1 + i·n2)| with independent standard normal n1, n2 (float32)."""
    n1 = rng.standard_normal(signal.shape, dtype=np.float32)
    n2 = rng.standard_normal(signal.shape, dtype=np.float32)
    re = signal + np.float32(sigma) * n1 if np.isscalar(sigma) else signal + sigma * n1
    im = np.float32(sigma) * n2 if np.isscalar(sigma) else sigma * n2
    return np.sqrt(re * re + im * im, dtype=np.float32)


def t1_star_blur_vox(p: ScannerProfile, r1_ref: float = 1000.0 / 838.0) -> float:
    """Gaussian sigma (voxels) along the partition axis from the T1* signal evolution of a shot.

    The transverse signal of a linear-ordered shot relaxes with T1* over N excitations; the
    resulting k-space taper widens the PSF. Approximated as σ ≈ 0.1 · N·τ / T1* (white matter),
    which gives ~0.2-0.3 voxel for the product protocols.
    """
    alpha = np.deg2rad(p.flip_deg)
    r1s = r1_ref / 1000.0 - np.log(np.cos(alpha)) / p.tau_ms
    return float(0.1 * p.n_readout * p.tau_ms * r1s)


def psf_sigma_mm(p: ScannerProfile, scale: float, sim_spacing: float) -> np.ndarray:
    """Extra Gaussian blur (mm, per world axis) to apply on a simulation grid of ``sim_spacing`` mm.

    The total PSF is the acquired voxel (box, σ = w/√12), the reconstruction filter and the T1*
    blur; the part already produced by the simulation grid's own voxel is subtracted.

    Args:
        p: scanner profile.
        scale: preset resolution scale (1 = native 1 mm protocol; 2 = everything twice as coarse).
        sim_spacing: simulation grid spacing in mm.
    """
    acq = np.array(p.acq_voxel_mm) * scale
    rec = np.array(p.voxel_mm) * scale
    var = (acq / np.sqrt(12.0)) ** 2 + (p.recon_blur_vox * rec) ** 2
    part = np.zeros(3)
    r1_wm = 1000.0 / tissues_at(p.field_t)["cerebral-wm"].t1
    part[p.partition_axis] = t1_star_blur_vox(p, r1_wm) * acq[p.partition_axis]
    var = var + part**2 - (sim_spacing / np.sqrt(12.0)) ** 2
    return np.sqrt(np.clip(var, 0.0, None))
