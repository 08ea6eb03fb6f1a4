"""Import a BIDS dataset as a manifest (``harmbench datasets from-bids``).

One case per subject, from the sessions that hold the anatomical image chosen by entities
(:class:`ImageQuery`; default post-contrast ``*_ce-gadolinium_T1w.nii[.gz]``):

- sessions are put in acquisition order: ``acq_time`` from ``sub-X/sub-X_sessions.tsv``, else
  from ``sub-X/ses-Y/sub-X_ses-Y_scans.tsv`` (the image's row, else the session's earliest);
  ``session_order="label"`` sorts session labels naturally instead;
- **BL** = the first session (or ``bl_session``); **FU** = the first other session, in that
  order, on another scanner; **FU2** = the first session after FU back on the BL scanner.
  Other sessions are not used; a subject without a session on another scanner has no case;
- scanner and vendor come from the image's JSON sidecar (with BIDS inheritance):
  ``Manufacturer`` (required), ``ManufacturersModelName``, ``MagneticFieldStrength`` and
  ``DeviceSerialNumber`` when present, e.g. ``siemens-prisma-fit-3t-166038``;
- label maps are ``*_dseg.nii[.gz]`` files under ``derivatives/<pipeline>/`` with the image's
  subject and session (and its ce/acq/rec/run where the label map names them), in native space,
  and must lie on the image's grid;
- splits are drawn per subject with a seed (fractions train/val/test); a splits TSV
  (``participant_id``, ``split``) overrides them. Test cases go to ``test-A`` (stable lesions)
  unless the TSV says ``test-B``: BIDS carries no lesion-change truth.

Paths in the manifest are relative to the manifest's folder.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from harmbench.errors import DataError
from harmbench.io import load_nifti
from harmbench.data.manifest import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from harmbench.data.splits import DEFAULT_FRACTIONS, assign_splits
from harmbench.typing import PathLike

NIFTI = (".nii", ".nii.gz")
#: query value meaning "the entity may have any value or be absent" / "must be absent"
ANY, NONE = "any", "none"
#: label maps in these spaces (or none named) are taken to be on the source image's grid
NATIVE_SPACES = (None, "orig", "native", "T1w")
_ENTITIES = (("ce", "ceagent"), ("acq", "acquisition"), ("rec", "reconstruction"), ("run", "run"))


@dataclass(frozen=True)
class ImageQuery:
    """The BIDS entities that pick one anatomical image per session.

    Each of ``ce``, ``acq``, ``rec``, ``run`` is a label, ``"any"`` or ``"none"`` (absent).
    """

    suffix: str = "T1w"
    ce: str = "gadolinium"
    acq: str = ANY
    rec: str = ANY
    run: str = ANY

    def filters(self) -> dict:
        from bids.layout import Query

        out: dict = {"suffix": self.suffix, "extension": list(NIFTI)}
        for opt, entity in _ENTITIES:
            value = getattr(self, opt)
            if value == NONE:
                out[entity] = Query.NONE
            elif value != ANY:
                out[entity] = int(value) if entity == "run" and value.isdigit() else value
        return out

    def describe(self) -> str:
        """E.g. ``ce-gadolinium_T1w`` or ``T1w without ce-``."""
        values = [(opt, getattr(self, opt)) for opt, _ in _ENTITIES]
        named = [f"{opt}-{v}" for opt, v in values if v not in (ANY, NONE)]
        absent = [f"{opt}-" for opt, v in values if v == NONE]
        return "_".join(named + [self.suffix]) + (f" without {'/'.join(absent)}" if absent else "")


@dataclass(frozen=True)
class Scan:
    """One session's chosen image with its scanner, time and optional label map."""

    subject: str
    session: str
    image: Path
    scanner: str
    vendor: str
    time: pd.Timestamp | None = None
    labels: Path | None = None


@dataclass
class BidsImport:
    """What :func:`import_bids` found: the manifest table and the subjects left out (with why)."""

    table: pd.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)
    unused_sessions: int = 0


def import_bids(root: PathLike, out: PathLike, *, query: ImageQuery = ImageQuery(),
                bl_session: str | None = None, session_order: str = "acq_time", labels: str = "auto",
                seed: int = 0, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
                splits_tsv: PathLike | None = None) -> BidsImport:
    """Build the manifest of the BIDS dataset at ``root`` for a CSV to be written at ``out``.

    Args:
        root: BIDS dataset folder (with ``dataset_description.json`` and ``sub-*/ses-*``).
        out: where the manifest will be written (image paths are made relative to its folder).
        query: entities of the anatomical image; one match per session at most.
        bl_session: session label (``pre`` or ``ses-pre``) to use as BL instead of the earliest.
        session_order: ``"acq_time"`` (sessions.tsv / scans.tsv) or ``"label"``.
        labels: ``"auto"`` (any derivatives pipeline), a pipeline folder name, or ``"none"``.
        seed: seed of the subject-level split draw.
        fractions: train, val, test fractions of the subjects not in ``splits_tsv``.
        splits_tsv: optional TSV with ``participant_id`` and ``split`` columns.

    Raises:
        DataError: one line naming the file: not a BIDS folder, a missing or incomplete sidecar,
            two matching images in a session, a missing ``acq_time``, a label map off the image
            grid, a bad splits TSV, or no case at all.
    """
    from bids import BIDSLayout
    from bids.layout import BIDSLayoutIndexer

    root = Path(root).resolve()
    if not (root / "dataset_description.json").is_file():
        raise DataError(f"{root} is not a BIDS dataset: no dataset_description.json")
    if session_order not in ("acq_time", "label"):
        raise DataError(f"session order {session_order!r}; expected 'acq_time' or 'label'")
    try:
        layout = BIDSLayout(root, validate=False,
                            indexer=BIDSLayoutIndexer(validate=False, suffix=query.suffix))
    except Exception as exc:  # noqa: BLE001 - pybids reports an unreadable sidecar as OSError/ValueError
        raise DataError(f"pybids cannot index {root}: {exc}") from None
    subjects = layout.get_subjects()
    if not subjects:
        raise DataError(f"{root} has no sub-* folders")
    bl_label = bl_session.removeprefix("ses-") if bl_session else None
    derivs = _label_maps(root, labels)
    res = BidsImport(pd.DataFrame(columns=[*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]))
    cases: dict[str, list[tuple[str, Scan]]] = {}
    n_scans = n_bl = 0
    for sub in sorted(subjects):
        scans = _subject_scans(layout, root, sub, query, session_order)
        n_scans += len(scans)
        if bl_label is not None:
            if bl_label not in {s.session for s in scans}:
                res.skipped[f"sub-{sub}"] = f"no session ses-{bl_label} with a {query.describe()} image"
                continue
            n_bl += 1
            scans = sorted(scans, key=lambda s: s.session != bl_label)  # stable: the rest keep their order
        chosen = _pick_sessions(scans)
        if chosen is None:
            res.skipped[f"sub-{sub}"] = (f"{len(scans)} session(s) with a {query.describe()} image, "
                                        "none on another scanner than the first" if scans
                                        else f"no {query.describe()} image")
            continue
        res.unused_sessions += len(scans) - len(chosen)
        cases[f"sub-{sub}"] = [(role, _with_labels(s, derivs)) for role, s in chosen]
    if not n_scans:
        hint = " (e.g. --ce none)" if query.ce != NONE else ""
        raise DataError(f"no sub-*/ses-* NIfTI image in {root} matches {query.describe()}; choose the "
                        f"image with --suffix/--ce/--acq/--rec/--run{hint}")
    if bl_label is not None and not n_bl:
        raise DataError(f"--bl-session {bl_session}: no subject has a session ses-{bl_label} with a "
                        f"{query.describe()} image")
    if not cases:
        raise DataError(f"{root}: no subject has {query.describe()} images on two scanners; "
                        + "; ".join(f"{k}: {v}" for k, v in list(res.skipped.items())[:3]))
    splits = assign_splits(sorted(cases), seed=seed, fractions=fractions, splits_tsv=splits_tsv,
                           known=[f"sub-{s}" for s in subjects])
    base = Path(out).resolve().parent
    rows = [{"case": sub, "subject": sub, "session": role, "scanner": s.scanner, "vendor": s.vendor,
             "split": splits[sub], "image": _rel(s.image, base),
             "labels": _rel(s.labels, base) if s.labels else "", "lesion": "", "change": ""}
            for sub, chosen in cases.items() for role, s in chosen]
    res.table = pd.DataFrame(rows, columns=[*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS])
    return res


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def _subject_scans(layout, root: Path, sub: str, query: ImageQuery, order: str) -> list[Scan]:
    """The subject's sessions that hold one matching image, in acquisition (or label) order."""
    by_session: dict[str, list] = {}
    for f in layout.get(subject=sub, **query.filters()):
        ses = f.entities.get("session")
        if ses is None:
            raise DataError(f"{f.path} has no session; from-bids needs sub-*/ses-* folders "
                            "(BL and FU are sessions)")
        by_session.setdefault(ses, []).append(f)
    scans = []
    for ses, files in sorted(by_session.items()):
        if len(files) > 1:
            names = ", ".join(sorted(Path(f.path).name for f in files))
            raise DataError(f"sub-{sub} ses-{ses} has {len(files)} images matching {query.describe()} "
                            f"({names}); narrow the choice with --acq/--rec/--run/--ce")
        f = files[0]
        scanner, vendor = scanner_id(Path(f.path), f.get_metadata())
        scans.append(Scan(sub, ses, Path(f.path), scanner, vendor))
    if order == "label":
        return sorted(scans, key=lambda s: _natural(s.session))
    times = _session_times(root, sub)
    timed = []
    for s in scans:
        t = times.get(s.session)
        if t is None:
            t = _scan_time(root, s)
        if t is None:
            sessions_tsv = (root / f"sub-{sub}" / f"sub-{sub}_sessions.tsv").relative_to(root)
            raise DataError(f"no acq_time for sub-{sub} ses-{s.session} in {root}: neither {sessions_tsv} "
                            f"nor {_scans_tsv(root, s).relative_to(root)} gives one; add it, or use "
                            "--session-order label")
        timed.append(replace(s, time=t))
    return sorted(timed, key=lambda s: (s.time, _natural(s.session)))


def _pick_sessions(scans: list[Scan]) -> list[tuple[str, Scan]] | None:
    """BL = first; FU = first later one on another scanner; FU2 = first after FU on BL's scanner."""
    if not scans:
        return None
    bl = scans[0]
    fu_at = next((i for i, s in enumerate(scans) if i > 0 and s.scanner != bl.scanner), None)
    if fu_at is None:
        return None
    chosen = [("BL", bl), ("FU", scans[fu_at])]
    fu2 = next((s for s in scans[fu_at + 1:] if s.scanner == bl.scanner), None)
    return chosen + [("FU2", fu2)] if fu2 is not None else chosen


def scanner_id(image: Path, meta: dict) -> tuple[str, str]:
    """``(scanner, vendor)`` from an image's sidecar metadata (already merged by inheritance).

    Raises:
        DataError: no sidecar, or a sidecar without ``Manufacturer``.
    """
    sidecar = image.with_name(image.name.split(".")[0] + ".json")
    manufacturer = str(meta.get("Manufacturer") or "").strip()
    if not manufacturer:
        if not sidecar.exists():
            raise DataError(f"missing JSON sidecar {sidecar} (needs Manufacturer; ManufacturersModelName, "
                            "MagneticFieldStrength, DeviceSerialNumber when known)")
        raise DataError(f"JSON sidecar of {image.name} ({sidecar}) has no Manufacturer")
    vendor = _slug(manufacturer.split()[0])
    parts = [vendor, _slug(str(meta.get("ManufacturersModelName") or ""))]
    field_t = meta.get("MagneticFieldStrength")
    try:
        if field_t not in (None, "") and math.isfinite(float(field_t)):
            parts.append(f"{float(field_t):g}t")
    except (TypeError, ValueError):
        raise DataError(f"JSON sidecar of {image.name} ({sidecar}) has MagneticFieldStrength "
                        f"{field_t!r}; expected a number in tesla") from None
    parts.append(_slug(str(meta.get("DeviceSerialNumber") or "")))
    return "-".join(p for p in parts if p), vendor


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")


def _natural(label: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", label))


def _read_tsv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def _time(value: str, path: Path) -> pd.Timestamp | None:
    if value.strip() in ("", "n/a"):
        return None
    try:
        return pd.Timestamp(value.strip())
    except ValueError:
        raise DataError(f"{path}: acq_time {value!r} is not an ISO 8601 date/time") from None


def _session_times(root: Path, sub: str) -> dict[str, pd.Timestamp]:
    path = root / f"sub-{sub}" / f"sub-{sub}_sessions.tsv"
    if not path.is_file():
        return {}
    df = _read_tsv(path)
    if "session_id" not in df.columns or "acq_time" not in df.columns:
        return {}
    out = {}
    for ses, t in zip(df["session_id"], df["acq_time"]):
        when = _time(t, path)
        if when is not None:
            out[ses.removeprefix("ses-")] = when
    return out


def _scans_tsv(root: Path, scan: Scan) -> Path:
    sub, ses = f"sub-{scan.subject}", f"ses-{scan.session}"
    return root / sub / ses / f"{sub}_{ses}_scans.tsv"


def _scan_time(root: Path, scan: Scan) -> pd.Timestamp | None:
    path = _scans_tsv(root, scan)
    if not path.is_file():
        return None
    df = _read_tsv(path)
    if "filename" not in df.columns or "acq_time" not in df.columns:
        return None
    rel = scan.image.relative_to(path.parent).as_posix()
    own = df[df["filename"] == rel]
    times = [t for t in (_time(v, path) for v in (own if len(own) else df)["acq_time"]) if t is not None]
    return min(times) if times else None


def _label_maps(root: Path, labels: str) -> list[tuple[Path, dict]]:
    """``*_dseg`` NIfTI files in native space under ``derivatives/`` (or one pipeline folder)."""
    from bids.layout import parse_file_entities

    if labels == NONE:
        return []
    deriv = root / "derivatives"
    where = deriv if labels == "auto" else deriv / labels
    if labels != "auto" and not where.is_dir():
        raise DataError(f"label pipeline {labels!r}: no folder {where}")
    if not where.is_dir():
        return []
    found = []
    for path in sorted(where.rglob("*_dseg.nii*")):
        if not path.name.endswith(NIFTI):
            continue
        ent = parse_file_entities(str(path))
        if ent.get("space") in NATIVE_SPACES and "subject" in ent:
            found.append((path, ent))
    return found


def _with_labels(scan: Scan, derivs: list[tuple[Path, dict]]) -> Scan:
    from bids.layout import parse_file_entities

    own = parse_file_entities(str(scan.image))
    hits = [p for p, ent in derivs
            if ent["subject"] == scan.subject and ent.get("session") == scan.session
            and all(ent.get(e) is None or str(ent[e]) == str(own.get(e)) for _, e in _ENTITIES)]
    if not hits:
        return scan
    if len(hits) > 1:
        raise DataError(f"sub-{scan.subject} ses-{scan.session} has {len(hits)} label maps "
                        f"({', '.join(str(h) for h in hits)}); choose a pipeline with --labels, or --labels "
                        "none")
    img, lab = load_nifti(scan.image), load_nifti(hits[0])
    shape, lab_shape = tuple(img.shape[:3]), tuple(lab.shape[:3])
    if shape != lab_shape or not np.allclose(img.affine, lab.affine, atol=1e-3):
        raise DataError(f"label map {hits[0]} ({lab_shape}) is not on the grid of {scan.image.name} "
                        f"({shape}); resample it onto the image (e.g. mri_convert --reslice_like), or use "
                        "--labels none")
    return replace(scan, labels=hits[0])


def write_manifest(result: BidsImport, out: PathLike, *, force: bool = False) -> Path:
    """Write the manifest CSV; an existing different file is replaced only with ``force``."""
    from harmbench.io import require_writable_file, write_text_atomic

    out = Path(out)
    text = result.table.to_csv(index=False, lineterminator="\n")
    if out.is_file() and not force and out.read_text() != text:
        raise DataError(f"{out} exists and differs; add --force to replace it")
    require_writable_file(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, text)
    return out

