"""Subject-level split assignment: a seeded draw by fractions, overridable by a TSV.

Used by ``harmbench datasets from-bids``; a subject's cases always share one split.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from harmbench.errors import DataError
from harmbench.data.manifest import SPLITS
from harmbench.typing import PathLike

#: train, val, test
DEFAULT_FRACTIONS = (0.6, 0.1, 0.3)


def assign_splits(subjects: list[str], *, seed: int = 0,
                  fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
                  splits_tsv: PathLike | None = None, known: list[str] | None = None) -> dict[str, str]:
    """Split per subject: ``splits_tsv`` rows first, the rest drawn with ``seed`` by ``fractions``.

    The draw permutes the sorted remaining subjects; test gets ``round(n * f_test)`` (at least one
    when ``f_test > 0``), val ``round(n * f_val)``, train the rest. Drawn test subjects go to test-A.
    """
    if len(fractions) != 3 or any(not math.isfinite(f) or f < 0 for f in fractions) or sum(fractions) <= 0:
        raise DataError(f"split fractions {fractions}; expected three non-negative numbers train,val,test")
    fixed = read_splits_tsv(splits_tsv, known if known is not None else subjects) if splits_tsv else {}
    rest = [s for s in sorted(subjects) if s not in fixed]
    total = sum(fractions)
    n = len(rest)
    n_test = max(1, round(n * fractions[2] / total)) if fractions[2] > 0 and n else 0
    n_val = min(n - n_test, round(n * fractions[1] / total))
    order = [rest[i] for i in np.random.default_rng(seed).permutation(n)]
    out = {s: "test-A" for s in order[:n_test]}
    out |= {s: "val" for s in order[n_test:n_test + n_val]}
    out |= {s: "train" for s in order[n_test + n_val:]}
    out |= {s: split for s, split in fixed.items() if s in subjects}
    return out


def read_splits_tsv(path: PathLike, known: list[str]) -> dict[str, str]:
    """``{sub-X: split}`` from a TSV with ``participant_id`` and ``split`` (``test`` means test-A)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"splits file not found: {path}")
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if "participant_id" not in df.columns or "split" not in df.columns:
        raise DataError(f"{path} needs columns participant_id and split; has {list(df.columns)}")
    out = {}
    for line, (pid, split) in enumerate(zip(df["participant_id"], df["split"]), start=2):
        sub = "sub-" + pid.strip().removeprefix("sub-")
        split = "test-A" if split.strip() == "test" else split.strip()
        if split not in SPLITS:
            raise DataError(f"{path} line {line}: split {split!r}; expected one of {[*SPLITS, 'test']}")
        if sub not in known:
            raise DataError(f"{path} line {line}: {sub} is not a subject of the dataset")
        out[sub] = split
    return out
