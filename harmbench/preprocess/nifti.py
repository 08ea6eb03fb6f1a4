"""Byte-reproducible NIfTI output.

``nibabel`` writes ``.nii.gz`` through :class:`gzip.GzipFile`, whose header records the write
time and the (temporary) file name, so identical images give different bytes. Here the NIfTI is
serialised in memory and gzipped with ``mtime=0`` and no file name, then written atomically; the
SHA-256 of the written bytes is returned so callers can hash datasets without re-reading files.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import nibabel as nib
import numpy as np

from harmbench.errors import DataError
from harmbench.io import atomic_path
from harmbench.typing import PathLike


def write_nifti(data: np.ndarray, affine: np.ndarray, path: PathLike, *, dtype: np.dtype | type,
                compresslevel: int = 1, xform_codes: tuple[int, int] = (1, 1)) -> str:
    """Write a 3-D array as NIfTI-1 (qform = sform = ``affine``); returns the file's SHA-256.

    Args:
        data: (I, J, K) voxel array in nibabel order.
        affine: 4x4 voxel -> RAS (mm) matrix.
        path: destination ending in ``.nii`` or ``.nii.gz``.
        dtype: on-disk voxel type (e.g. ``np.float32`` for intensities, ``np.int16`` for labels).
        compresslevel: gzip level for ``.nii.gz`` (1 = fast).
        xform_codes: (sform_code, qform_code), e.g. the source image's from
            :func:`harmbench.io.xform_codes` (an aligned or MNI affine must not become "scanner").
    """
    dest = Path(path)
    name = dest.name
    if not name.endswith((".nii", ".nii.gz")):
        raise DataError(f"output must end in .nii or .nii.gz: {dest}")
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), np.asarray(affine, dtype=np.float64))
    sform_code, qform_code = xform_codes
    img.set_qform(affine, code=qform_code)
    img.set_sform(affine, code=sform_code)
    payload = img.to_bytes()
    if name.endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=compresslevel, mtime=0)
    with atomic_path(dest) as tmp:
        tmp.write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


def file_sha256(path: PathLike, *, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()
