"""NIfTI reading/writing and atomic file output.

Inputs are validated on read (exists, NIfTI, 3-D, finite) and never written to; every output
is written to a temporary file in the destination folder and renamed into place, so an
interrupted run leaves either the old file or the complete new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from harmbench.errors import ArtifactError, DataError
from harmbench.typing import PathLike
from harmbench.volume import Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def current_umask() -> int:
    """This process's umask, read without changing it where the OS allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (briefly racy with threads creating files)
    os.umask(mask)
    return mask


def apply_umask(path: PathLike) -> Path:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have: 0o666 (files) or 0o777
    (directories) minus the umask. ``mkstemp``/``mkdtemp`` make private (0600/0700) entries;
    call this before renaming one into place so colleagues sharing the output can read it."""
    p = Path(path)
    base = 0o777 if p.is_dir() else 0o666
    p.chmod(base & ~current_umask())
    return p


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    The renamed file gets the umask's permissions (not ``mkstemp``'s private 0600).
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(dest.suffixes) or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name.split('.')[0]}-", suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        apply_umask(tmp_path)
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text_atomic(path: PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: PathLike, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def save_torch_atomic(path: PathLike, obj: Any) -> Path:
    """``torch.save`` of tensors / state_dicts to ``path`` atomically (temp file + rename)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def load_torch(path: PathLike) -> Any:
    """Read what :func:`save_torch_atomic` wrote: on the CPU, ``weights_only=True`` (no pickle code).

    Raises:
        ArtifactError: the file is missing, truncated, not a torch file, or holds pickled Python
            objects other than tensors (refused, never executed).
    """
    import pickle

    import torch

    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"weights file not found: {p}")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" in str(exc).lower():
            raise ArtifactError(f"{p} holds pickled Python objects, not only tensors; "
                                "refusing to load it") from None
        raise ArtifactError(f"{p} is damaged or truncated (UnpicklingError)") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as exc:
        raise ArtifactError(f"{p} is damaged, truncated or not a torch file ({type(exc).__name__})") from None


def read_checkpoint_state(path: PathLike, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON state of a training checkpoint if it exists, parses and matches ``fingerprint``.

    ``fingerprint`` is compared after a JSON round trip (tuples become lists). Returns None for
    a missing or unreadable file, and for one written by another configuration.
    """
    f = Path(path)
    if not f.exists():
        return None
    try:
        state = json.loads(f.read_text())
    except json.JSONDecodeError:
        return None
    if state.get("fingerprint") != json.loads(json.dumps(fingerprint, default=_json_default)):
        return None
    return state


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def require_writable_dir(path: PathLike) -> None:
    """Raise a one-line ``DataError`` unless ``path`` is, or can be created as, a writable folder.

    Nothing is created: an existing folder is probed with an anonymous temporary file (which
    also catches read-only mounts); for a folder yet to be made, its nearest existing ancestor
    must be a writable folder. Call it before long work whose results go to ``path``.
    """
    d = Path(path)
    if d.exists() and not d.is_dir():
        raise DataError(f"output folder {d} is a file; expected a folder")
    anc = d
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise DataError(f"cannot create folder {d}: {anc} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=anc):
            pass
    except OSError as exc:
        raise DataError(f"cannot write to {d}: folder {anc} is not writable "
                        f"({exc.strerror or exc})") from None


def require_writable_file(path: PathLike) -> None:
    """Raise a one-line ``DataError`` unless a file can be written at ``path``.

    See :func:`require_writable_dir`; also refuses a ``path`` that is a folder.
    """
    dest = Path(path)
    if dest.is_dir():
        raise DataError(f"output {dest} is a directory; expected a file path")
    parent = dest.parent
    if parent.exists() and not parent.is_dir():
        raise DataError(f"cannot write {dest}: {parent} is a file, not a folder")
    require_writable_dir(parent)


def _check_nifti_path(path: Path) -> None:
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"expected a NIfTI file, got a directory: {path}")


def load_nifti(path: PathLike) -> nib.Nifti1Image:
    """Open a NIfTI file or raise a one-line ``DataError``."""
    p = Path(path)
    _check_nifti_path(p)
    try:
        img = nib.load(str(p))
    except Exception as exc:  # nibabel raises several types for non-NIfTI input
        raise DataError(f"not a readable NIfTI image: {p} ({type(exc).__name__})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise DataError(f"not a NIfTI image: {p} ({type(img).__name__})")
    return img


def load_volume(path: PathLike, *, allow_nonfinite: bool = False, **meta: Any) -> Volume:
    """Read a 3-D NIfTI image as a float32 ``Volume``.

    A trailing singleton 4th dimension is squeezed; real 4-D images are refused.
    """
    p = Path(path)
    img = load_nifti(p)
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise DataError(f"{p.name}: expected a 3-D image; got shape {tuple(img.shape)}")
    try:
        with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: reported below
            data = np.asarray(img.dataobj, dtype=np.float32).reshape(shape)
        if isinstance(data, np.memmap):  # an uncompressed float32 file: read it now, keep no open map
            data = np.array(data)
    except Exception as exc:
        raise DataError(f"cannot read voxel data from {p} ({type(exc).__name__})") from None
    if not allow_nonfinite:
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        if bad:
            over, peak = float32_overflow(np.asarray(img.dataobj))
            if over:
                raise DataError(f"{p.name}: {over} voxel(s) beyond the float32 range (|value| up to "
                                f"{peak:.3g}; float32 max {F32_MAX:.3g}); rescale the image")
            raise DataError(f"{p.name}: {bad} NaN/Inf voxels; expected finite intensities")
    codes = (int(img.header["sform_code"]), int(img.header["qform_code"]))
    return Volume(data, img.affine, {"source": str(p), "xform_codes": codes, **meta})


F32_MAX = float(np.finfo(np.float32).max)


def float32_overflow(values: np.ndarray) -> tuple[int, float]:
    """(count, largest |value|) of the finite ``values`` that float32 cannot hold (they become inf)."""
    if values.dtype.kind != "f" or values.dtype.itemsize <= 4:
        return 0, 0.0
    with np.errstate(invalid="ignore"):
        big = np.abs(values[np.isfinite(values)])
        big = big[big > F32_MAX]
    return int(big.size), (float(big.max()) if big.size else 0.0)


def xform_codes(meta: dict[str, Any]) -> tuple[int, int]:
    """(sform_code, qform_code) to write for a volume: its source file's, else 1 (scanner) for both.

    Codes say what the affine maps to (1 scanner, 2 aligned, 3 Talairach, 4 MNI); a copy keeps them.
    """
    sform, qform = meta.get("xform_codes", (0, 0))
    return (int(sform), int(qform)) if sform or qform else (1, 1)


def load_labels(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read an integer label map / mask: returns (int32 array, affine)."""
    img = load_nifti(path)
    data = np.asarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise DataError(f"{Path(path).name}: expected a 3-D label image; got shape {data.shape}")
    return np.rint(data).astype(np.int32), img.affine


def save_volume(
    volume: Volume,
    path: PathLike,
    *,
    protect: tuple[PathLike, ...] = (),
    dtype: np.dtype | type = np.float32,
) -> Path:
    """Write ``volume`` as NIfTI atomically.

    Args:
        volume: image to write; its affine is stored as both qform and sform, with the codes
            of the file it was read from (:func:`xform_codes`).
        path: destination ending in ``.nii`` or ``.nii.gz``.
        protect: input paths this output must never overwrite.
        dtype: on-disk voxel type (float32 by default; intensities are never rounded to uint8).
    """
    dest = Path(path)
    if not str(dest).endswith(NIFTI_SUFFIXES):
        raise DataError(f"output must end in .nii or .nii.gz: {dest}")
    refuse_overwrite(dest, protect)
    if dest.is_dir():
        raise DataError(f"output {dest} is a directory; expected a file path")
    img = nib.Nifti1Image(np.asarray(volume.data, dtype=dtype), volume.affine)
    sform_code, qform_code = xform_codes(volume.meta)
    img.set_qform(volume.affine, code=qform_code)
    img.set_sform(volume.affine, code=sform_code)
    try:
        with atomic_path(dest) as tmp:
            nib.save(img, str(tmp))
    except OSError as exc:
        raise DataError(f"cannot write {dest}: {exc.strerror or type(exc).__name__}") from None
    return dest


def save_labels(data: np.ndarray, affine: np.ndarray, path: PathLike) -> Path:
    """Write an integer label map atomically (int16 on disk)."""
    img = nib.Nifti1Image(np.asarray(data, dtype=np.int16), affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return Path(path)


def refuse_overwrite(output: PathLike, inputs: tuple[PathLike, ...] | list[PathLike]) -> None:
    """Raise ``DataError`` if ``output`` resolves to any of ``inputs``."""
    out = Path(output).resolve()
    for src in inputs:
        if src is not None and Path(src).resolve() == out:
            raise DataError(f"output {output} is also an input; refusing to overwrite an input")
