"""Per-tissue relaxation, proton density and gadolinium uptake at 3 T (PHYSICS.md §1-2).

Every FreeSurfer label (and every private head-shell code) maps to a :class:`Tissue`. Values are
the ones in ``../shared/PHYSICS.md``: the MPRAGE-fit T1 of WM (838 ms) and cortex (1607 ms),
Wright 2008 for caudate/putamen, Gelman 1999 for pallidum; estimates (E) elsewhere. ``dr1`` is the
gadolinium-induced R1 increase (1/s) five minutes after 0.1 mmol/kg gadobutrol:
ΔR1 = r1 · [Gd] with r1 = 4.97 (tissue/plasma) or 3.47 (blood) L mmol⁻¹ s⁻¹.
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


def tissue_of(label: int) -> Tissue:
    """Tissue parameters of a FreeSurfer ID or shell code (cortex for 1000-2999)."""
    if 1000 <= label < 3000:
        return TISSUES["cortex"]
    return TISSUES[LABEL_TISSUE.get(int(label), "cerebral-wm")]


def property_maps(labels: np.ndarray, texture: np.ndarray, csf_fraction: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-wise native R1 (1/s), PD, R2* (1/s) and ΔR1_Gd (1/s) of a labelled head.

    Args:
        labels: int (X, Y, Z) FreeSurfer IDs / shell codes.
        texture: float (X, Y, Z) multiplicative R1 texture (1 = tissue mean).
        csf_fraction: float (X, Y, Z) CSF fraction of CSF-labelled voxels (the rest is cortex).

    Returns:
        Four float32 arrays of the input shape.
    """
    lo = int(labels.min())
    ids = np.arange(lo, int(labels.max()) + 1)
    table = np.array([[1000.0 / tissue_of(u).t1, tissue_of(u).pd, 1000.0 / tissue_of(u).t2s,
                       tissue_of(u).dr1] for u in ids], dtype=np.float32)
    props = table[labels.astype(np.int64) - lo]
    r1, pd, r2s, dr1 = (np.ascontiguousarray(props[..., i]) for i in range(4))
    r1 *= texture
    csf = csf_fraction > 0
    if csf.any():
        f = csf_fraction[csf]
        gm, water = TISSUES["cortex"], TISSUES["csf"]
        r1[csf] = f * (1000.0 / water.t1) + (1 - f) * (1000.0 / gm.t1)
        pd[csf] = f * water.pd + (1 - f) * gm.pd
        r2s[csf] = f * (1000.0 / water.t2s) + (1 - f) * (1000.0 / gm.t2s)
        dr1[csf] = (1 - f) * gm.dr1
    return r1, pd, r2s, dr1
