"""Scanner profiles: vendor sequence timing and image-quality parameters (PHYSICS.md §4).

Every profile has a main field ``field_t``; the 3 T ones use the 3 T tissue table, the 1.5 T
Siemens Avanto MPRAGE (:data:`SIEMENS_AVANTO_MPRAGE`) the 1.5 T one
(:func:`harmbench_synth.tissues.tissues_at`).

Timing cells are sourced (ADNI Siemens MPRAGE protocol; Philips/GE product protocols as listed in
PHYSICS.md); image-quality cells (B1⁺ pattern, receive residual, reconstruction blur, geometric
residual) are estimates, tuned so the Siemens -> Philips gap lands in the paper's range.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScannerProfile:
    """One scanner + 3-D T1-weighted inversion-recovery gradient-echo protocol.

    Attributes:
        name: manifest ``scanner`` value (lowercase-hyphen).
        vendor: manifest ``vendor`` value.
        model: human-readable scanner and sequence.
        tau_ms: echo spacing τ (ms).
        te_ms: echo time (ms).
        flip_deg: readout flip angle α (degrees).
        n_readout: excitations per inversion (shot length N).
        n_centre: index of the k-space-centre excitation n0 (linear order: N/2).
        ti_ms: inversion time as the vendor defines it.
        ti_to_centre: True if ``ti_ms`` runs to the k-space centre (Siemens), False if to the
            readout start (Philips "inversion delay", GE "prep time").
        tr_shot_ms: inversion-to-inversion time (ms).
        eta: inversion efficiency.
        b1_centre / b1_edge: transmit field B1⁺ at the head centre / at ~80 mm from it.
        rx_residual: peak relative receive non-uniformity left after vendor normalisation.
        g_factor: noise amplification of parallel imaging.
        voxel_mm: reconstructed voxel size (x, y, z in scanner RAS order) at 1 mm scale.
        acq_voxel_mm: acquired voxel size before reconstruction interpolation.
        recon_blur_vox: extra Gaussian reconstruction filter, sigma in reconstructed voxels.
        partition_axis: world axis (0 = L-R, 2 = I-S) of the second phase-encoding (partition)
            direction, along which the T1* evolution of the shot blurs.
        orientation: axis codes of the stored voxel array (e.g. ``RAS``, ``LPS``).
        snr_wm: white-matter SNR (signal / noise sigma) of the magnitude image.
        geometric_residual_mm: peak residual gradient non-linearity after vendor correction, at
            100 mm from isocentre.
        gain_wm: stored integer value of white matter (vendor scaling of DICOM pixel values).
        field_t: main magnetic field B0 in tesla (selects the tissue relaxation table).
    """

    name: str
    vendor: str
    model: str
    tau_ms: float
    te_ms: float
    flip_deg: float
    n_readout: int
    n_centre: int
    ti_ms: float
    ti_to_centre: bool
    tr_shot_ms: float
    eta: float
    b1_centre: float = 1.15
    b1_edge: float = 0.85
    rx_residual: float = 0.10
    g_factor: float = 1.1
    voxel_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    acq_voxel_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    recon_blur_vox: float = 0.0
    partition_axis: int = 0
    orientation: str = "RAS"
    snr_wm: float = 30.0
    geometric_residual_mm: float = 1.0
    gain_wm: float = 500.0
    field_t: float = 3.0

    @property
    def ti_prime_ms(self) -> float:
        """Inversion to readout start TI′ (ms)."""
        return self.ti_ms - self.n_centre * self.tau_ms if self.ti_to_centre else self.ti_ms

    @property
    def td_ms(self) -> float:
        """Recovery delay after the readout, TD = TR_shot − TI′ − N·τ (ms)."""
        return self.tr_shot_ms - self.ti_prime_ms - self.n_readout * self.tau_ms


SIEMENS_MPRAGE = ScannerProfile(
    name="siemens-skyra-mprage", vendor="siemens", model="Siemens Magnetom Skyra 3T, MPRAGE",
    tau_ms=7.1, te_ms=2.5, flip_deg=9.0, n_readout=176, n_centre=88, ti_ms=900.0, ti_to_centre=True,
    tr_shot_ms=2300.0, eta=0.96, b1_centre=1.15, b1_edge=0.85, rx_residual=0.15, g_factor=1.1,
    voxel_mm=(1.0, 1.0, 1.0), acq_voxel_mm=(1.0, 1.0, 1.0), recon_blur_vox=0.0, partition_axis=0,
    orientation="RAS", snr_wm=30.0, geometric_residual_mm=1.0, gain_wm=450.0,
)

PHILIPS_TFE = ScannerProfile(
    name="philips-ingenia-tfe", vendor="philips", model="Philips Ingenia 3.0T CX, 3D IR-TFE",
    tau_ms=8.1, te_ms=3.7, flip_deg=8.0, n_readout=150, n_centre=75, ti_ms=900.0, ti_to_centre=False,
    tr_shot_ms=3000.0, eta=0.93, b1_centre=1.12, b1_edge=0.85, rx_residual=0.10, g_factor=1.15,
    voxel_mm=(0.9, 0.9, 0.9), acq_voxel_mm=(1.0, 1.0, 1.0), recon_blur_vox=0.3, partition_axis=0,
    orientation="LPS", snr_wm=30.0, geometric_residual_mm=1.5, gain_wm=1400.0,
)

GE_BRAVO = ScannerProfile(
    name="ge-bravo", vendor="ge", model="GE 3T, 3D BRAVO (IR-FSPGR)",
    tau_ms=8.2, te_ms=3.2, flip_deg=12.0, n_readout=128, n_centre=64, ti_ms=450.0, ti_to_centre=False,
    tr_shot_ms=2200.0, eta=0.93, b1_centre=1.15, b1_edge=0.88, rx_residual=0.10, g_factor=1.1,
    voxel_mm=(1.0, 1.0, 1.2), acq_voxel_mm=(1.0, 1.0, 1.2), recon_blur_vox=0.0, partition_axis=2,
    orientation="RAS", snr_wm=30.0, geometric_residual_mm=1.0, gain_wm=900.0,
)

#: 1.5 T Siemens MPRAGE. Sequence timing of the ADNI-1 1.5 T Siemens MPRAGE (Jack 2008, JMRI
#: 27:685): TR 2400 ms, TI 1000 ms (to the k-space centre, Siemens convention), flip 8°, sagittal
#: partitions; echo spacing 8.7 ms and TE 3.6 ms at the lower 1.5 T bandwidth (E). Voxel: 1 mm
#: isotropic, as in clinical post-contrast 3D T1 for metastases (ADNI-1 used 1.25 x 1.25 x 1.2 mm
#: for SNR; see docs/datasets.md for that variant's figures). Transmit field: the RF wavelength in
#: tissue at 64 MHz is about twice that at 128 MHz, so the centre-bright dielectric pattern is
#: much weaker (±4 %, E; ±15 % at 3 T). SNR ∝ B0 at equal voxel and time: white-matter SNR 16 with
#: no parallel imaging (g = 1), against 30 / g 1.1 on the 3 T Skyra (E).
SIEMENS_AVANTO_MPRAGE = ScannerProfile(
    name="siemens-avanto-1.5t-mprage", vendor="siemens", model="Siemens Magnetom Avanto 1.5T, MPRAGE",
    tau_ms=8.7, te_ms=3.6, flip_deg=8.0, n_readout=160, n_centre=80, ti_ms=1000.0, ti_to_centre=True,
    tr_shot_ms=2400.0, eta=0.96, b1_centre=1.04, b1_edge=0.96, rx_residual=0.12, g_factor=1.0,
    voxel_mm=(1.0, 1.0, 1.0), acq_voxel_mm=(1.0, 1.0, 1.0), recon_blur_vox=0.0, partition_axis=0,
    orientation="RAS", snr_wm=16.0, geometric_residual_mm=1.0, gain_wm=400.0, field_t=1.5,
)

PROFILES: dict[str, ScannerProfile] = {p.name: p for p in (SIEMENS_MPRAGE, PHILIPS_TFE, GE_BRAVO,
                                                           SIEMENS_AVANTO_MPRAGE)}
