"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict:
    """The host (CPU model and ISA, torch build and threads, OS) as recorded in ``runs.json``."""
    from harmbench.device import platform_info

    return platform_info()


def save(name: str, record: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), **record}
    tmp = path.with_suffix(".json.tmp")        # atomic: a killed benchmark never leaves half a file
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    print(json.dumps(record, indent=2))
    return path


def quick_params(overrides: list[str]) -> dict:
    """``{"preset": "quick", "device": "cpu"}`` updated with ``name=value`` overrides (JSON values,
    else strings), as the screening scripts' ``--set`` options give them."""
    params: dict = {"preset": "quick", "device": "cpu"}
    for s in overrides:
        k, v = s.split("=", 1)
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    return params


def export_revision(rev: str, dest: Path) -> Path:
    """The tree of git revision ``rev`` of this repository in ``dest`` (``git archive``, no .git)."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest
