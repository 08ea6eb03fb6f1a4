"""Dataset recipes registered through the ``harmbench_datasets`` hook, and where data lives."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_ENV = "HARMBENCH_DATA"


@dataclass(frozen=True)
class DatasetSpec:
    """A buildable dataset.

    Attributes:
        name: registry name, e.g. ``synth-quick``.
        description: one line for ``harmbench list datasets``.
        build: ``build(out_dir: Path, seed: int) -> Path`` writes NIfTI files and
            ``manifest.csv`` into ``out_dir`` and returns the manifest path. Must be deterministic.
        default_seed: seed used when the user gives none.
        prepare: keyword arguments for :func:`harmbench.preprocess.prepare_manifest`
            (e.g. ``{"spacing": 2.0}``).
        info: free-form facts shown by ``harmbench list datasets --json`` (sizes, counts).
        generator: the builder's version, as its ``dataset.json`` records it under ``generator``
            (e.g. ``"my_cohort 2"``). A cached build by another generator version is
            rebuilt instead of reused ("" = never rebuild).
    """

    name: str
    description: str
    build: Callable[[Path, int], Path]
    default_seed: int = 0
    prepare: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    generator: str = ""


def data_root() -> Path:
    """Root folder for built datasets: ``$HARMBENCH_DATA`` or ``~/.cache/harmbench/datasets``."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else Path.home() / ".cache" / "harmbench" / "datasets"
