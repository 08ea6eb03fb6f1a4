"""Cohort presets: sizes, grids and scanner pairs."""

from __future__ import annotations

from dataclasses import dataclass

from harmbench_synth.profiles import (
    GE_BRAVO,
    PHILIPS_TFE,
    SIEMENS_AVANTO_MPRAGE,
    SIEMENS_MPRAGE,
    ScannerProfile,
)


#: the cohort generator's version (``dataset.json`` ``generator``; a cached build of another
#: version is rebuilt). 2: FU2 carries the FU time point's lesion change; 3: target lesions
#: enhance (post-contrast R1 at least WM's), lesion partial volume mixes signals, manifests
#: record the true target-lesion volume (``lesion_mm3``).
GENERATOR_VERSION = "3"
GENERATOR = f"harmbench_synth {GENERATOR_VERSION}"


@dataclass(frozen=True)
class Biology:
    """Inter-session biology of the follow-up time point (FU and FU2 share it; BL is untouched).

    Applied by :mod:`harmbench_synth.biology`; docs/datasets.md "Inter-session biology".

    Attributes:
        deformation_rms_mm: range of the RMS (mm, over the field box) of the smooth random brain
            deformation BL -> FU (a stationary velocity field, scaling and squaring), tapered to
            zero at the skull.
        ventricle_mm: range of the peak ventricular expansion (mm) of interval atrophy.
        sulcal_mm: range of the peak expansion (mm) of the sulcal/extracerebral CSF.
        oedema_factor: range of the factor on every lesion's oedema radius (treatment effect).
        core_shift: range added to the necrotic-core fraction of ring-enhancing lesions.
        new_necrosis: probability that a solid target of >= 10 mm develops a necrotic core.
        nontarget_change: range of the relative volume change of non-target lesions.
        new_lesions: (min, max) count of new enhancing lesions on test-B follow-ups.
        new_diameter_mm: range of the new lesions' nominal diameters (mm).
        vanish: probability that one non-target lesion vanishes on a test-B follow-up.
    """

    deformation_rms_mm: tuple[float, float] = (1.0, 2.0)
    ventricle_mm: tuple[float, float] = (0.5, 1.5)
    sulcal_mm: tuple[float, float] = (0.3, 1.0)
    oedema_factor: tuple[float, float] = (0.6, 1.4)
    core_shift: tuple[float, float] = (-0.1, 0.15)
    new_necrosis: float = 0.2
    nontarget_change: tuple[float, float] = (-0.5, 0.8)
    new_lesions: tuple[int, int] = (1, 2)
    new_diameter_mm: tuple[float, float] = (4.0, 10.0)
    vanish: float = 0.5

    def __post_init__(self) -> None:
        for name in ("deformation_rms_mm", "ventricle_mm", "sulcal_mm", "oedema_factor", "core_shift",
                     "nontarget_change", "new_lesions", "new_diameter_mm"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ValueError(f"Biology.{name} must be a (low, high) range; got {(lo, hi)}")
        for name in ("new_necrosis", "vanish"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Biology.{name} is a probability; got {getattr(self, name)}")
        if self.new_lesions[0] < 0 or self.new_diameter_mm[0] <= 0 or self.oedema_factor[0] < 0:
            raise ValueError(f"Biology counts, diameters and factors must be positive; got {self}")


@dataclass(frozen=True)
class Preset:
    """A synthetic cohort recipe.

    Attributes:
        name: dataset registry name.
        description: one line for ``harmbench list datasets``.
        n_train, n_val, n_test_a, n_test_b: cases per split.
        scale: resolution scale; every scanner voxel (and the simulation grid, ``scale`` mm) is
            ``scale`` times its 1 mm protocol size.
        fov_mm: scanner field of view (x, y, z) in mm.
        prepare_spacing: isotropic spacing (mm) of the prepared grid.
        bl / fu: baseline (also FU2) and follow-up scanner profiles.
        target_diameter_mm: range of the target lesion's nominal diameter.
        repeat_fraction: probability that a train/val subject contributes two cases.
        biology: inter-session biology of the follow-up time point (None = off: FU and FU2 show
            BL's anatomy, only the target lesion changes).
    """

    name: str
    description: str
    n_train: int
    n_val: int
    n_test_a: int
    n_test_b: int
    scale: float
    fov_mm: tuple[float, float, float]
    prepare_spacing: float
    bl: ScannerProfile = SIEMENS_MPRAGE
    fu: ScannerProfile = PHILIPS_TFE
    target_diameter_mm: tuple[float, float] = (10.0, 25.0)
    repeat_fraction: float = 0.4
    biology: Biology | None = None

    @property
    def sim_spacing(self) -> float:
        return float(self.scale)

    @property
    def fields_t(self) -> tuple[float, ...]:
        """Field strengths (tesla) of the preset's scanners, baseline first."""
        return tuple(dict.fromkeys((self.bl.field_t, self.fu.field_t)))

    @property
    def n_cases(self) -> int:
        return self.n_train + self.n_val + self.n_test_a + self.n_test_b


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("synth-tiny", "synthetic Siemens->Philips cohort for tests (4 mm grid, 12 cases, seconds)",
           6, 2, 2, 2, scale=4.0, fov_mm=(192.0, 224.0, 192.0), prepare_spacing=4.0,
           target_diameter_mm=(20.0, 25.0)),
    Preset("synth-tiny-bio", "synth-tiny with inter-session biology and new/vanishing lesions (tests)",
           6, 2, 2, 2, scale=4.0, fov_mm=(192.0, 224.0, 192.0), prepare_spacing=4.0,
           target_diameter_mm=(20.0, 25.0), biology=Biology()),
    Preset("synth-quick", "synthetic Siemens MPRAGE->Philips TFE cohort, 2 mm grid, 30/6/10/8 cases",
           30, 6, 10, 8, scale=2.0, fov_mm=(192.0, 224.0, 192.0), prepare_spacing=2.0),
    Preset("synth-quick-bio", "synth-quick with inter-session biology (brain shift, atrophy, treatment effects, "
           "new and vanishing lesions), 2 mm grid, 30/6/10/8 cases", 30, 6, 10, 8, scale=2.0,
           fov_mm=(192.0, 224.0, 192.0), prepare_spacing=2.0, biology=Biology()),
    Preset("synth-quick-ge", "synthetic Siemens MPRAGE->GE BRAVO cohort, 2 mm grid, 30/6/10/8 cases",
           30, 6, 10, 8, scale=2.0, fov_mm=(192.0, 224.0, 192.0), prepare_spacing=2.0, fu=GE_BRAVO),
    Preset("synth-quick-15t", "synthetic Siemens MPRAGE 3T->Siemens MPRAGE 1.5T cohort (a subtler shift), "
           "2 mm grid, 30/6/10/8 cases", 30, 6, 10, 8, scale=2.0, fov_mm=(192.0, 224.0, 192.0),
           prepare_spacing=2.0, fu=SIEMENS_AVANTO_MPRAGE),
    Preset("synth-paper", "synthetic Siemens->Philips cohort at the paper's geometry (1 mm, 256^3, "
           "103/26/20/17 cases)", 103, 26, 20, 17, scale=1.0, fov_mm=(256.0, 256.0, 256.0),
           prepare_spacing=1.0, repeat_fraction=0.7),
)}
