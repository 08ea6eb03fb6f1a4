"""Content hash of a dataset: a manifest and every file it names, cheap to re-check.

Every harness cache key uses this hash, never the ``dataset_hash`` that ``dataset.json``
recorded at prepare time. That recorded hash describes one manifest at one moment: it goes stale
when the manifest or an image is edited, and every other CSV in the same folder shares it.
Editing a manifest cell or rewriting an image therefore always gives new keys here.

Hashing every byte of a cohort takes seconds, so the full hash is stored in the cache root's
``fingerprints.json`` (:func:`harmbench.harness.layout.fingerprint_store`) with a *fingerprint*:
SHA-256 of the manifest's bytes plus each named file's path (relative to the manifest), size,
mtime, ctime and inode. When the fingerprint still matches, the stored hash is reused after only
one ``stat`` per file. When anything differs, every file is hashed again. The ctime is in the fingerprint because a file rewritten with ``cp -p`` or
``touch -d`` keeps its size and mtime, but the OS always updates its ctime.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from harmbench.harness.cache import file_hash, read_json, write_json
from harmbench.data.manifest import PATH_COLUMNS, read_manifest, resolve
from harmbench.typing import PathLike

FORMAT = 1


def dataset_files(manifest: PathLike) -> list[Path]:
    """Every image/labels/lesion file the manifest names, resolved like :class:`~harmbench.data.cohort.Cohort`."""
    df = read_manifest(manifest)
    cells = (v for c in PATH_COLUMNS if c in df.columns for v in df[c])
    return sorted({p for v in cells if (p := resolve(df, v)) is not None})


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path, base)


def fingerprint(manifest: Path, files: list[Path]) -> str:
    """SHA-256 of the manifest's bytes and each file's (relative path, size, mtime, ctime, inode)."""
    h = hashlib.sha256(f"harmbench-fingerprint-v{FORMAT}\n".encode())
    h.update(manifest.read_bytes())
    for f in files:
        try:
            st = f.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
        except FileNotFoundError:
            stamp = "missing"
        h.update(f"\n{_rel(f, manifest.parent)}:{stamp}".encode())
    return h.hexdigest()


def full_hash(manifest: Path, files: list[Path]) -> str:
    """SHA-256 of the manifest's bytes and of each file's relative path and bytes.

    The hash does not depend on where the dataset folder lives, so a copied folder shares its cache.
    """
    h = hashlib.sha256(f"harmbench-dataset-v{FORMAT}\n".encode())
    h.update(manifest.read_bytes())
    for f in files:
        digest = file_hash(f) if f.exists() else "missing"
        h.update(f"\n{_rel(f, manifest.parent)}:{digest}".encode())
    return h.hexdigest()


def dataset_hash(manifest: PathLike, store: PathLike) -> str:
    """The dataset's 64-hex content hash; reused from ``store`` if the fingerprint matches.

    Args:
        manifest: the (prepared) manifest CSV.
        store: the ``fingerprints.json`` file (:func:`harmbench.harness.layout.fingerprint_store`);
            its folder is created if needed, and an unwritable one only costs a rehash next time.
    """
    path = Path(manifest).resolve()
    files = dataset_files(path)
    fp = fingerprint(path, files)
    store = Path(store)
    data = read_json(store)
    entries = data.get("manifests", {}) if isinstance(data, dict) and data.get("format") == FORMAT else {}
    rec = entries.get(str(path))
    if isinstance(rec, dict) and rec.get("fingerprint") == fp and isinstance(rec.get("hash"), str):
        return rec["hash"]
    digest = full_hash(path, files)
    entries[str(path)] = {"fingerprint": fp, "hash": digest}
    try:
        write_json(store, {"format": FORMAT, "manifests": entries})
    except OSError:
        pass  # a read-only cache root: correct, only slower next time
    return digest
