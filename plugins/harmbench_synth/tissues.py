"""Per-tissue relaxation, proton density and gadolinium uptake at 3 T and 1.5 T (PHYSICS.md §1-2).

Every FreeSurfer label (and every private head-shell code) maps to a :class:`Tissue`. Values are
the ones in ``../shared/PHYSICS.md``: the MPRAGE-fit T1 of WM (838 ms) and cortex (1607 ms),
Wright 2008 for caudate/putamen, Gelman 1999 for pallidum; estimates (E) elsewhere. ``dr1`` is the
gadolinium-induced R1 increase (1/s) five minutes after 0.1 mmol/kg gadobutrol:
ΔR1 = r1 · [Gd] with r1 = 4.97 (tissue/plasma) or 3.47 (blood) L mmol⁻¹ s⁻¹.

Field strength: :data:`TISSUES` is the 3 T table (every 3 T profile uses it unchanged).
:func:`tissues_at` derives the table at another field from per-tissue field factors
(:data:`FIELD_FACTORS_1P5T`): T1 of brain tissue scales as B0^β with β ≈ 0.38 (Rooney 2007, MRM
57:308; WM and cortex alike), so T1(1.5 T) = T1(3 T) / 2^0.38 = 0.77 · T1(3 T) (WM 838 -> 645 ms,
cortex 1607 -> 1236 ms; Stanisz 2005 measured 884 / 1124 ms at 1.5 T with another method). CSF T1
does not depend on the field (Rooney 2007). Blood: 1441 ms at 1.5 T (Stanisz 2005, MRM 54:507)
against 1650 ms here at 3 T (Lu 2004). Fat 343 vs 382 ms, skeletal muscle 1008 vs 1412 ms, bone
marrow 549 vs 586 ms (de Bazelaire 2004, Radiology 230:652). T2* is longer at 1.5 T (the R2′
part scales with B0): cortex ×1.27, WM ×1.24, caudate ×1.41, putamen ×1.76 (Peters 2007, MRI
25:748); the rest E. Lesion compartments (more free water, less macromolecular MT) get a weaker
field dependence (E). Gadobutrol relaxivity is slightly higher at 1.5 T: r1 = 5.2 vs 5.0 L mmol⁻¹ s⁻¹
in plasma at 37 °C (Rohrer 2005, Invest Radiol 40:715), a factor 1.04 on every ΔR1_Gd.
The literature figures were not re-checked against the originals here (see docs/datasets.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harmbench_synth.atlas import CSF_LABELS, SHELL_CODES

R1_PLASMA = 4.97  # L/mmol/s at 3 T (Szomolanyi 2019)
R1_BLOOD = 3.47
GD_BLOOD_MM = 0.37  # mM whole-blood [Gd] at 5 min (Weinmann 1984 curve, C)


@dataclass(frozen=True)
class Tissue:
    """Quantitative parameters of one tissue.

    Attributes:
        t1: native (pre-contrast) T1 in ms.
        pd: proton density relative to pure water.
        t2s: T2* in ms.
        dr1: gadolinium-induced R1 increase in 1/s at 5 min post injection.
    """

    t1: float
    pd: float
    t2s: float
    dr1: float = 0.0


TISSUES: dict[str, Tissue] = {
    "cerebral-wm": Tissue(838.0, 0.67, 46.0, 0.032),
    "cortex": Tissue(1607.0, 0.79, 56.0, R1_PLASMA * 0.018),
    "cerebellar-wm": Tissue(900.0, 0.70, 46.0, 0.032),
    "cerebellar-cortex": Tissue(1500.0, 0.80, 52.0, R1_PLASMA * 0.018),
    "caudate": Tissue(1395.0, 0.82, 40.0, R1_PLASMA * 0.012),
    "putamen": Tissue(1332.0, 0.82, 35.0, R1_PLASMA * 0.012),
    "pallidum": Tissue(950.0, 0.76, 26.0, R1_PLASMA * 0.010),
    "thalamus": Tissue(1150.0, 0.78, 40.0, R1_PLASMA * 0.012),
    "hippocampus-amygdala": Tissue(1450.0, 0.82, 60.0, R1_PLASMA * 0.014),
    "accumbens": Tissue(1400.0, 0.82, 45.0, R1_PLASMA * 0.012),
    "brainstem": Tissue(1000.0, 0.72, 45.0, 0.040),
    "ventral-dc": Tissue(1050.0, 0.74, 42.0, 0.045),
    "csf": Tissue(4000.0, 1.00, 200.0, 0.0),
    "blood": Tissue(1650.0, 0.87, 40.0, R1_BLOOD * GD_BLOOD_MM),
    "choroid-plexus": Tissue(1400.0, 0.85, 50.0, R1_PLASMA * 0.25),
    "dura": Tissue(1000.0, 0.70, 30.0, R1_PLASMA * 0.28),
    "bone": Tissue(1000.0, 0.05, 2.0, 0.0),
    "marrow": Tissue(420.0, 0.80, 25.0, 0.10),
    "muscle": Tissue(1420.0, 0.72, 30.0, 0.15),
    "fat": Tissue(382.0, 0.90, 40.0, 0.0),
    "skin": Tissue(1100.0, 0.70, 30.0, 0.20),
    "air": Tissue(4000.0, 0.0, 100.0, 0.0),
    # lesion compartments (drawn per lesion within the ranges below; these are the centres)
    "enhancing": Tissue(1700.0, 0.85, 50.0, R1_PLASMA * 0.15),
    "necrosis": Tissue(2600.0, 0.95, 100.0, R1_PLASMA * 0.02),
    "oedema": Tissue(1350.0, 0.86, 55.0, 0.05),
}

#: (T1 divisor, T2* multiplier) from 3 T to 1.5 T per tissue (sources in the module docstring).
_BRAIN_T1 = 2.0**0.38  # Rooney 2007: T1 ∝ B0^β, β ≈ 0.38 for WM and GM
FIELD_FACTORS_1P5T: dict[str, tuple[float, float]] = {
    "cerebral-wm": (_BRAIN_T1, 1.24), "cortex": (_BRAIN_T1, 1.27),
    "cerebellar-wm": (_BRAIN_T1, 1.24), "cerebellar-cortex": (_BRAIN_T1, 1.27),
    "caudate": (_BRAIN_T1, 1.41), "putamen": (_BRAIN_T1, 1.76), "pallidum": (_BRAIN_T1, 1.6),
    "thalamus": (_BRAIN_T1, 1.3), "hippocampus-amygdala": (_BRAIN_T1, 1.27),
    "accumbens": (_BRAIN_T1, 1.35), "brainstem": (_BRAIN_T1, 1.24), "ventral-dc": (_BRAIN_T1, 1.3),
    "csf": (1.0, 1.0), "blood": (1650.0 / 1441.0, 1.3), "choroid-plexus": (_BRAIN_T1, 1.27),
    "dura": (1.2, 1.2), "bone": (1.0, 1.2), "marrow": (586.0 / 549.0, 1.4),
    "muscle": (1412.0 / 1008.0, 1.2), "fat": (382.0 / 343.0, 1.2), "skin": (1.2, 1.2),
    "air": (1.0, 1.0),
    "enhancing": (2.0**0.30, 1.25), "necrosis": (2.0**0.15, 1.1), "oedema": (2.0**0.30, 1.25),
}
GD_RELAXIVITY_1P5T = 5.2 / 5.0  # r1(1.5 T) / r1(3 T), gadobutrol in plasma (Rohrer 2005)

#: FreeSurfer ID (or shell code) -> tissue name; anything not listed is treated as cerebral WM.
LABEL_TISSUE: dict[int, str] = {
    0: "air", 2: "cerebral-wm", 41: "cerebral-wm", 77: "cerebral-wm", 85: "cerebral-wm",
    251: "cerebral-wm", 252: "cerebral-wm", 253: "cerebral-wm", 254: "cerebral-wm", 255: "cerebral-wm",
    3: "cortex", 42: "cortex", 80: "cortex",
    7: "cerebellar-wm", 46: "cerebellar-wm", 8: "cerebellar-cortex", 47: "cerebellar-cortex",
    10: "thalamus", 49: "thalamus", 11: "caudate", 50: "caudate", 12: "putamen", 51: "putamen",
    13: "pallidum", 52: "pallidum", 17: "hippocampus-amygdala", 53: "hippocampus-amygdala",
    18: "hippocampus-amygdala", 54: "hippocampus-amygdala", 26: "accumbens", 58: "accumbens",
    16: "brainstem", 28: "ventral-dc", 60: "ventral-dc",
    30: "blood", 62: "blood", 31: "choroid-plexus", 63: "choroid-plexus",
    **{lab: "csf" for lab in CSF_LABELS},
    SHELL_CODES["dura"]: "dura", SHELL_CODES["inner-table"]: "bone", SHELL_CODES["diploe"]: "marrow",
    SHELL_CODES["outer-table"]: "bone", SHELL_CODES["muscle"]: "muscle", SHELL_CODES["fat"]: "fat",
    SHELL_CODES["skin"]: "skin", SHELL_CODES["sinus"]: "blood",
}


FIELDS_T = (3.0, 1.5)  # field strengths with a tissue table


def tissues_at(field_t: float = 3.0) -> dict[str, Tissue]:
    """The tissue table at ``field_t`` tesla: :data:`TISSUES` itself at 3 T.

    Raises:
        ValueError: no table for that field (only 3 T and 1.5 T are modelled).
    """
    if field_t == 3.0:
        return TISSUES
    if field_t != 1.5:
        raise ValueError(f"no tissue table at {field_t} T; known fields: {', '.join(map(str, FIELDS_T))}")
    return _TISSUES_1P5T


def gd_relaxivity_factor(field_t: float = 3.0) -> float:
    """Gadolinium r1 at ``field_t`` relative to 3 T (1.0 at 3 T)."""
    tissues_at(field_t)
    return 1.0 if field_t == 3.0 else GD_RELAXIVITY_1P5T


def lesion_t1_at(t1_3t: float, field_t: float = 3.0) -> float:
    """Native T1 (ms) of enhancing lesion tissue at ``field_t``, from its 3 T value."""
    tissues_at(field_t)
    return t1_3t if field_t == 3.0 else t1_3t / FIELD_FACTORS_1P5T["enhancing"][0]


_TISSUES_1P5T: dict[str, Tissue] = {
    name: Tissue(t.t1 / FIELD_FACTORS_1P5T[name][0], t.pd, t.t2s * FIELD_FACTORS_1P5T[name][1],
                 t.dr1 * GD_RELAXIVITY_1P5T)
    for name, t in TISSUES.items()
}


def tissue_of(label: int, field_t: float = 3.0) -> Tissue:
    """Tissue parameters of a FreeSurfer ID or shell code (cortex for 1000-2999) at ``field_t``."""
    table = tissues_at(field_t)
    if 1000 <= label < 3000:
        return table["cortex"]
    return table[LABEL_TISSUE.get(int(label), "cerebral-wm")]


def property_maps(labels: np.ndarray, texture: np.ndarray, csf_fraction: np.ndarray,
                  field_t: float = 3.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-wise native R1 (1/s), PD, R2* (1/s) and ΔR1_Gd (1/s) of a labelled head.

    Args:
        labels: int (X, Y, Z) FreeSurfer IDs / shell codes.
        texture: float (X, Y, Z) multiplicative R1 texture (1 = tissue mean).
        csf_fraction: float (X, Y, Z) CSF fraction of CSF-labelled voxels (the rest is cortex).
        field_t: main field in tesla (tissue table of :func:`tissues_at`).

    Returns:
        Four float32 arrays of the input shape.
    """
    lo = int(labels.min())
    ids = np.arange(lo, int(labels.max()) + 1)
    tis = [tissue_of(u, field_t) for u in ids]
    table = np.array([[1000.0 / t.t1, t.pd, 1000.0 / t.t2s, t.dr1] for t in tis], dtype=np.float32)
    props = table[labels.astype(np.int64) - lo]
    r1, pd, r2s, dr1 = (np.ascontiguousarray(props[..., i]) for i in range(4))
    r1 *= texture
    csf = csf_fraction > 0
    if csf.any():
        f = csf_fraction[csf]
        gm, water = tissues_at(field_t)["cortex"], tissues_at(field_t)["csf"]
        r1[csf] = f * (1000.0 / water.t1) + (1 - f) * (1000.0 / gm.t1)
        pd[csf] = f * water.pd + (1 - f) * gm.pd
        r2s[csf] = f * (1000.0 / water.t2s) + (1 - f) * (1000.0 / gm.t2s)
        dr1[csf] = (1 - f) * gm.dr1
    return r1, pd, r2s, dr1
