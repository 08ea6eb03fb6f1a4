"""A tiny, fast phantom cohort for tests and ``harmbench check-plugin``.

The phantom is an ellipsoidal "head" with WM, cortex, ventricles, deep-grey nuclei (FreeSurfer
label IDs) and one enhancing lesion. The FU scanner changes tissue contrast non-uniformly
(different WM/GM/nuclei ratios), applies a smooth gain field and adds noise, so harmonization
has something to learn. The manifest is written in *prepared* form (FU already on the BL grid,
[0, 1] intensities), which is what methods see.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harmbench.io import save_labels, save_volume, write_json_atomic
from harmbench.volume import Volume

# label -> (BL intensity, FU intensity)
TISSUES = {
    0: (0.0, 0.0),
    24: (0.12, 0.22),   # CSF (extra-cerebral)
    3: (0.45, 0.55),    # cortex
    2: (0.80, 0.72),    # cerebral WM
    4: (0.15, 0.25),    # lateral ventricle
    10: (0.62, 0.52),   # thalamus
    11: (0.52, 0.60),   # caudate
    13: (0.70, 0.55),   # pallidum
    99: (0.95, 0.85),   # enhancing lesion (label only in the lesion mask)
}


def _phantom(shape: tuple[int, int, int], rng: np.random.Generator, lesion_scale: float = 1.0):
    zz, yy, xx = np.meshgrid(*(np.linspace(-1, 1, s) for s in shape), indexing="ij")
    jit = rng.normal(0, 0.03, size=3)
    r = np.sqrt(((zz - jit[0]) / 0.9) ** 2 + ((yy - jit[1]) / 0.85) ** 2 + ((xx - jit[2]) / 0.9) ** 2)
    lab = np.zeros(shape, np.int32)
    lab[r < 0.95] = 24
    lab[r < 0.85] = 3
    lab[r < 0.68] = 2
    lab[(np.abs(zz) < 0.15) & (np.abs(yy) < 0.35) & (np.abs(xx) < 0.12)] = 4
    lab[((zz + 0.35) ** 2 + yy**2 + (xx - 0.0) ** 2) < 0.04] = 10
    lab[((zz - 0.2) ** 2 + (yy - 0.3) ** 2 + (xx - 0.3) ** 2) < 0.02] = 11
    lab[((zz - 0.2) ** 2 + (yy + 0.3) ** 2 + (xx + 0.3) ** 2) < 0.02] = 13
    c = np.array([0.1, -0.3, 0.35]) + rng.normal(0, 0.03, 3)
    les = ((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2) < (0.12 * lesion_scale) ** 2
    return lab, les, (zz, yy, xx)


def _render(lab: np.ndarray, les: np.ndarray, grid, which: int, rng: np.random.Generator) -> np.ndarray:
    img = np.zeros(lab.shape, np.float32)
    for k, vals in TISSUES.items():
        img[lab == k] = vals[which]
    img[les] = TISSUES[99][which]
    if which == 1:
        zz, yy, xx = grid
        img *= (1.0 + 0.12 * xx + 0.08 * zz).astype(np.float32)
        img = img**1.3
    img += rng.normal(0, 0.02, img.shape).astype(np.float32) * (lab > 0)
    return np.clip(img, 0, None).astype(np.float32)


def write_toy_cohort(out_dir: str | Path, *, n_train: int = 4, n_val: int = 1, n_test_a: int = 2,
                     n_test_b: int = 1, shape: tuple[int, int, int] = (32, 40, 36), seed: int = 0) -> Path:
    """Write the phantom cohort and its prepared manifest; returns the manifest path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = -np.array(shape) + 1.0
    rows = []
    splits = ["train"] * n_train + ["val"] * n_val + ["test-A"] * n_test_a + ["test-B"] * n_test_b
    n_ax = shape[2]
    lo, hi = int(0.1 * n_ax), int(np.ceil(0.9 * n_ax))
    for i, split in enumerate(splits):
        case = f"toy{i:03d}"
        lab, les, grid = _phantom(shape, rng)
        change = 0.0
        les_fu = les
        if split == "test-B":
            _, les_fu, _ = _phantom(shape, np.random.default_rng(rng.integers(1 << 31)), lesion_scale=1.25)
            change = float(les_fu.sum() / max(les.sum(), 1) - 1.0)
        for session, which, lesion in (("BL", 0, les), ("FU", 1, les_fu), ("FU2", 0, les_fu)):
            img = _render(lab, lesion, grid, which, rng)
            stem = f"{case}_{session}"
            save_volume(Volume(img, affine), out / f"{stem}.nii.gz")
            save_labels(lab, affine, out / f"{stem}_labels.nii.gz")
            save_labels(lesion.astype(np.int16), affine, out / f"{stem}_lesion.nii.gz")
            rows.append({
                "case": case, "subject": f"sub{i:03d}", "session": session,
                "scanner": "toy-p" if which else "toy-s", "vendor": "philips" if which else "siemens",
                "split": split, "image": f"{stem}.nii.gz", "labels": f"{stem}_labels.nii.gz",
                "lesion": f"{stem}_lesion.nii.gz", "change": change,
                "scale_lo": 0.0, "scale_hi": 1.0, "slice_start": lo, "slice_stop": hi,
            })
    manifest = out / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    write_json_atomic(out / "dataset.json", {"name": "toy", "template_space": False,
                                             "dataset_hash": f"toy-{seed}-{len(splits)}-{shape}"})
    return manifest
