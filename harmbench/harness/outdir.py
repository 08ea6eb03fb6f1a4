"""Who may write an ``evaluate --out`` folder: one evaluate at a time, and only for its own dataset.

``lock_out`` holds an exclusive lock on ``<out>/.harmbench.lock`` for as long as an evaluate
writes the folder (``flock``; released by the kernel when the process ends, even on ``kill -9``,
so a stale lock file never blocks anyone). The file keeps the holder's pid for the message a
second evaluate gets. ``claim_out`` refuses a folder whose ``runs.json`` records another dataset,
so results of one dataset never silently replace another's.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harmbench.errors import DataError

LOCK_NAME = ".harmbench.lock"


@contextlib.contextmanager
def lock_out(out: Path) -> Iterator[Path]:
    """Hold the exclusive write lock of ``out`` (created if absent) for the ``with`` block.

    Raises:
        DataError: another process holds it (one line naming its pid).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not _try_lock(fd):
            raise DataError(f"{out} is being written by another harmbench evaluate (pid {_holder(fd)}); "
                            "wait for it to finish or choose another --out")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except (OSError, AttributeError):
        text = ""
    return text if text.isdigit() else "unknown"


def claim_out(out: Path, owner: dict[str, Any], force: bool = False) -> None:
    """Refuse to write ``out`` when its ``runs.json`` belongs to another dataset.

    Args:
        out: the evaluate output folder.
        owner: this evaluate's dataset identity, as in ``runs.json["dataset"]``: ``name``,
            ``hash`` (content hash) and ``prepared_hash`` (``dataset.json``'s, which older
            harmbench recorded as ``hash``). The data are the same when any hash recorded matches
            any of ``owner``'s (a renamed copy is the same dataset); names decide only where
            either side has no hash.
        force: replace the other dataset's results anyway.

    Raises:
        DataError: the folder holds results of another dataset (one line), unless ``force``.
    """
    runs = Path(out) / "runs.json"
    if force or not runs.exists():
        return
    try:
        recorded = json.loads(runs.read_text()).get("dataset") or {}
    except (OSError, ValueError, AttributeError):
        raise DataError(f"{out} holds an unreadable runs.json; use another --out, "
                        "or --force to replace its results") from None
    if not isinstance(recorded, dict):
        return
    mine, theirs = _hashes(owner), _hashes(recorded)
    if mine and theirs:
        conflict = not mine & theirs
    else:
        conflict = "name" in owner and "name" in recorded and owner["name"] != recorded["name"]
    if conflict:
        raise DataError(f"{out} holds results for dataset {_label(recorded)}, not {_label(owner)}; "
                        "use another --out, or --force to replace them")


def _hashes(d: dict[str, Any]) -> set[str]:
    return {str(d[k]) for k in ("hash", "prepared_hash") if d.get(k)}


def _label(d: dict[str, Any]) -> str:
    name = d.get("name", "?")
    return f"{name} (hash {str(d['hash'])[:12]})" if d.get("hash") else str(name)
