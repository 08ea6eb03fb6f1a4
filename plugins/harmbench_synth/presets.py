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
    Preset("synth-quick", "synthetic Siemens MPRAGE->Philips TFE cohort, 2 mm grid, 30/6/10/8 cases",
           30, 6, 10, 8, scale=2.0, fov_mm=(192.0, 224.0, 192.0), prepare_spacing=2.0),
    Preset("synth-quick-ge", "synthetic Siemens MPRAGE->GE BRAVO cohort, 2 mm grid, 30/6/10/8 cases",
           30, 6, 10, 8, scale=2.0, fov_mm=(192.0, 224.0, 192.0), prepare_spacing=2.0, fu=GE_BRAVO),
    Preset("synth-quick-15t", "synthetic Siemens MPRAGE 3T->Siemens MPRAGE 1.5T cohort (a subtler shift), "
           "2 mm grid, 30/6/10/8 cases", 30, 6, 10, 8, scale=2.0, fov_mm=(192.0, 224.0, 192.0),
           prepare_spacing=2.0, fu=SIEMENS_AVANTO_MPRAGE),
    Preset("synth-paper", "synthetic Siemens->Philips cohort at the paper's geometry (1 mm, 256^3, "
           "103/26/20/17 cases)", 103, 26, 20, 17, scale=1.0, fov_mm=(256.0, 256.0, 256.0),
           prepare_spacing=1.0, repeat_fraction=0.7),
)}
