"""Cohort / case objects built from a manifest: what ``fit`` receives and the harness iterates."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harmbench.errors import DataError
from harmbench.io import load_labels, load_volume
from harmbench.data.manifest import is_prepared, read_manifest, resolve
from harmbench.typing import PathLike
from harmbench.volume import Volume


@dataclass(frozen=True)
class SessionRef:
    """One image of a case, with optional ground truth and (if prepared) scaling/slice range.

    ``lesion_mm3``: the true target-lesion volume of this image (mm³), when the manifest records it.
    """

    session: str
    scanner: str
    vendor: str
    image: Path
    labels: Path | None = None
    lesion: Path | None = None
    scale: tuple[float, float] | None = None
    slice_range: tuple[int, int] | None = None
    lesion_mm3: float | None = None


@dataclass(frozen=True)
class Case:
    """A BL/FU(/FU2) set of one patient.

    Attributes:
        case_id: manifest ``case``.
        subject: patient id; never shared between splits.
        split: ``train``, ``val``, ``test-A`` or ``test-B``.
        sessions: session name -> :class:`SessionRef`.
        change: true relative change of the target-lesion volume BL->FU (0 for stable), if known.
    """

    case_id: str
    subject: str
    split: str
    sessions: dict[str, SessionRef] = field(default_factory=dict)
    change: float | None = None

    def has(self, session: str) -> bool:
        return session in self.sessions

    def ref(self, session: str) -> SessionRef:
        try:
            return self.sessions[session]
        except KeyError:
            raise DataError(f"case {self.case_id} has no {session} image") from None

    def volume(self, session: str) -> Volume:
        r = self.ref(session)
        return load_volume(r.image, case=self.case_id, session=session, scanner=r.scanner, vendor=r.vendor)

    def labels(self, session: str) -> np.ndarray | None:
        r = self.ref(session)
        return None if r.labels is None else load_labels(r.labels)[0]

    def lesion(self, session: str) -> np.ndarray | None:
        r = self.ref(session)
        return None if r.lesion is None else (load_labels(r.lesion)[0] > 0)

    @property
    def slice_range(self) -> tuple[int, int] | None:
        """Kept axial slices (of BL, which FU is registered to), or None if not prepared."""
        return self.ref("BL").slice_range


@dataclass
class Cohort:
    """All cases of a dataset, grouped by split.

    ``dataset_hash`` is the hash that ``dataset.json`` recorded when the data was prepared. It is
    kept for provenance only: it is not recomputed, so it goes stale after an edit. Cache keys use
    :func:`harmbench.harness.fingerprint.dataset_hash` instead.
    """

    name: str
    cases: list[Case]
    manifest: Path | None = None
    prepared: bool = False
    in_template_space: bool = False
    dataset_hash: str = ""

    def split(self, name: str) -> list[Case]:
        return [c for c in self.cases if c.split == name]

    @property
    def train(self) -> list[Case]:
        return self.split("train")

    @property
    def val(self) -> list[Case]:
        return self.split("val")

    @property
    def is_paired(self) -> bool:
        return any(c.has("BL") and c.has("FU") for c in self.train)

    def scanners(self, session: str) -> set[str]:
        return {c.sessions[session].scanner for c in self.cases if session in c.sessions}

    def subjects_per_scanner(self, split: str = "train") -> dict[str, int]:
        subs: dict[str, set[str]] = defaultdict(set)
        for c in self.split(split):
            for r in c.sessions.values():
                subs[r.scanner].add(c.subject)
        return {k: len(v) for k, v in sorted(subs.items())}

    def subset(self, splits: tuple[str, ...]) -> Cohort:
        return Cohort(self.name, [c for c in self.cases if c.split in splits], self.manifest,
                      self.prepared, self.in_template_space, self.dataset_hash)

    @classmethod
    def from_manifest(cls, path: PathLike, *, name: str | None = None) -> Cohort:
        df = read_manifest(path)
        return cls.from_frame(df, name=name)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, name: str | None = None) -> Cohort:
        prepared = is_prepared(df)
        groups: dict[str, dict] = {}
        for row in df.to_dict("records"):
            g = groups.setdefault(row["case"], {"subject": row["subject"], "split": row["split"],
                                                "sessions": {}, "change": None})
            scale = slc = None
            if prepared:
                scale = (float(row["scale_lo"]), float(row["scale_hi"]))
                slc = (int(float(row["slice_start"])), int(float(row["slice_stop"])))
            g["sessions"][row["session"]] = SessionRef(
                session=row["session"], scanner=row["scanner"], vendor=row["vendor"],
                image=resolve(df, row["image"]), labels=resolve(df, row.get("labels", "")),
                lesion=resolve(df, row.get("lesion", "")), scale=scale, slice_range=slc,
                lesion_mm3=float(row["lesion_mm3"]) if row.get("lesion_mm3", "") not in ("", None) else None)
            if row.get("change", "") not in ("", None):
                g["change"] = float(row["change"])
        cases = [Case(cid, g["subject"], g["split"], g["sessions"], g["change"]) for cid, g in groups.items()]
        manifest = Path(df.attrs["path"]) if "path" in df.attrs else None
        meta = _sidecar(manifest)
        return cls(name=name or meta.get("name") or (manifest.parent.name if manifest else "dataset"),
                   cases=cases, manifest=manifest, prepared=prepared,
                   in_template_space=bool(meta.get("template_space", False)),
                   dataset_hash=str(meta.get("dataset_hash", "")))


def _sidecar(manifest: Path | None) -> dict:
    """Optional ``dataset.json`` beside a manifest (name, template_space, dataset_hash...)."""
    if manifest is None:
        return {}
    f = manifest.parent / "dataset.json"
    if f.exists():
        try:
            return json.loads(f.read_text())
        except json.JSONDecodeError:
            raise DataError(f"{f} is not valid JSON") from None
    return {}
