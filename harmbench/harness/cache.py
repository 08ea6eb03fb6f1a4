"""Content-addressed cache keys and atomic JSON records for units of work."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from harmbench.io import apply_umask, write_json_atomic


def cache_key(**parts: Any) -> str:
    """Stable 16-hex-digit key of JSON-serialisable ``parts`` (incl. the harmbench version)."""
    from harmbench import __version__

    blob = json.dumps({"harmbench": __version__, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes (shared with the preprocessing cache)."""
    from harmbench.preprocess.nifti import file_sha256

    return file_sha256(path)


def read_json(path: Path) -> Any | None:
    """The JSON at ``path`` or None if absent/damaged (a damaged record is recomputed)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_json(path: Path, obj: Any) -> None:
    write_json_atomic(path, obj)


def commit_dir(tmp: Path, final: Path) -> Path:
    """Move a fully written temp directory into place (replacing a stale one)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def temp_dir_beside(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    apply_umask(tmp)  # mkdtemp makes it private; the committed directory follows the umask like any other
    return tmp
