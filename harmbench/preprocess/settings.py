"""The preprocessing settings: one object that ``prepare`` applies and a model directory records.

A model is only meaningful on inputs prepared the way its training data was. ``harmbench fit`` and
the harness therefore write ``preprocessing.json`` beside ``artifact.json``
(:func:`write_preprocessing`), and ``harmbench harmonize`` applies exactly those settings to raw
files (:func:`read_preprocessing`). The record holds the voxel spacing, the scaling rule, the
axial-axis convention, the slice-range rule, the registration settings, the training dataset's
hash, the typical intensity scale of the BL scanner and the scanners seen in training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harmbench.errors import ArtifactError
from harmbench.io import write_json_atomic
from harmbench.typing import PathLike

if TYPE_CHECKING:
    from harmbench.data.cohort import Cohort

PREPROCESSING_FILE = "preprocessing.json"
RECORD_VERSION = 1
PIPELINE_VERSION = "1"  # "2" (registration without gradient filters) was withdrawn: it misregistered a 1.5 T follow-up
BL_NATIVE = "bl-native"  # spacing when each case keeps BL's own (smallest) voxel size
#: rule ids this harmbench applies; a record naming another rule is refused
SCALING_RULE = "min-to-head-percentile-clipped"
AXIAL_AXIS_RULE = "affine-axis-nearest-S"
SLICE_RULE = "head-extent-by-position"
REGISTRATION_RULE = "rigid-mattes-mi"


@dataclass(frozen=True)
class PrepareSettings:
    """How raw images become prepared ones (see :mod:`harmbench.preprocess.pipeline`).

    Attributes:
        spacing: isotropic voxel size (mm) of the prepared grid, or None for BL's own smallest
            voxel size (recorded as ``"bl-native"``).
        upper_percentile: ``hi`` of the [0, 1] scaling is this percentile of the BL head voxels.
        slice_drop: fraction of the head's axial extent dropped at each end for scoring.
        bins, max_samples, seed, gradient_filters: Mattes mutual information registration
            settings (:func:`harmbench.preprocess.register.register_rigid`).
    """

    spacing: float | None = None
    upper_percentile: float = 99.9
    slice_drop: float = 0.10
    bins: int = 32
    max_samples: int = 50_000
    seed: int = 1
    gradient_filters: bool = True

    @property
    def spacing_label(self) -> float | str:
        return BL_NATIVE if self.spacing is None else float(self.spacing)

    def registration(self) -> dict[str, Any]:
        """Keyword arguments of :func:`harmbench.preprocess.register.register_rigid`."""
        return {"bins": self.bins, "max_samples": self.max_samples, "seed": self.seed,
                "gradient_filters": self.gradient_filters}


@dataclass(frozen=True)
class Preprocessing:
    """A model directory's record of the preprocessing its training data went through.

    Attributes:
        settings: what to apply to new inputs.
        dataset: ``name``, ``dataset_hash`` (and ``manifest``) of the training data.
        bl_scale: typical ``(lo, hi)`` of the BL scanner: the median over the training BL images;
            maps results into BL units when no reference image is given. None if unknown.
        scanners: session -> scanners seen in the fitted data.
        pipeline: version of the preparation pipeline the data went through.
    """

    settings: PrepareSettings = field(default_factory=PrepareSettings)
    dataset: dict[str, str] = field(default_factory=dict)
    bl_scale: tuple[float, float] | None = None
    scanners: dict[str, list[str]] = field(default_factory=dict)
    pipeline: str = PIPELINE_VERSION

    def seen_scanners(self) -> set[str]:
        return {s for names in self.scanners.values() for s in names}

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        return {
            "format_version": RECORD_VERSION,
            "pipeline": self.pipeline,
            "spacing_mm": s.spacing_label,
            "scaling": {"rule": SCALING_RULE, "upper_percentile": s.upper_percentile, "clip": [0.0, 1.0],
                        "mask": "BL head mask (shared by FU after registration)",
                        "about": "lo = image minimum, hi = upper_percentile of the BL head voxels"},
            "axial_axis": {"rule": AXIAL_AXIS_RULE,
                           "about": "the array axis whose affine column points most nearly along world S"},
            "slice_range": {"rule": SLICE_RULE, "drop": s.slice_drop,
                            "about": "head slices ordered by world S; the bottom and top `drop` removed"},
            "registration": {"rule": REGISTRATION_RULE, "bins": s.bins, "max_samples": s.max_samples,
                             "seed": s.seed, "gradient_filters": s.gradient_filters, "about": "FU -> BL, 6 DOF; fixed = BL resampled to spacing_mm"},
            "dataset": dict(self.dataset),
            "bl_scale": None if self.bl_scale is None else {
                "lo": self.bl_scale[0], "hi": self.bl_scale[1],
                "statistic": "median over the training BL images"},
            "scanners": {k: list(v) for k, v in self.scanners.items()},
        }


def record_for_cohort(cohort: Cohort) -> Preprocessing:
    """The preprocessing record of a model fitted on ``cohort`` (a prepared manifest's cases).

    Spacing and pipeline version come from the prepared ``dataset.json``; the BL scale is the
    median ``(scale_lo, scale_hi)`` of the cohort's BL images.
    """
    meta: dict[str, Any] = {}
    if cohort.manifest is not None and (cohort.manifest.parent / "dataset.json").is_file():
        try:
            meta = json.loads((cohort.manifest.parent / "dataset.json").read_text())
        except (OSError, ValueError):
            meta = {}
    spacing = meta.get("spacing", BL_NATIVE)
    settings = PrepareSettings(spacing=None if spacing == BL_NATIVE else float(spacing),
                               gradient_filters=str(meta.get("pipeline", PIPELINE_VERSION)) == "1")
    scales = [c.ref("BL").scale for c in cohort.cases if c.has("BL") and c.ref("BL").scale is not None]
    bl_scale = None
    if scales:
        a = np.asarray(scales, float)
        bl_scale = (float(np.median(a[:, 0])), float(np.median(a[:, 1])))
    scanners: dict[str, set[str]] = {}
    for c in cohort.cases:
        for s, ref in c.sessions.items():
            scanners.setdefault(s, set()).add(ref.scanner)
    dataset = {"name": cohort.name, "dataset_hash": cohort.dataset_hash,
               "manifest": str(cohort.manifest) if cohort.manifest else ""}
    return Preprocessing(settings, dataset, bl_scale, {k: sorted(v) for k, v in sorted(scanners.items())},
                         str(meta.get("pipeline", PIPELINE_VERSION)))


def write_preprocessing(record: Preprocessing, directory: PathLike) -> Path:
    """Write ``preprocessing.json`` into a model directory (atomically)."""
    return write_json_atomic(Path(directory) / PREPROCESSING_FILE, record.to_json())


def read_preprocessing(directory: PathLike) -> Preprocessing | None:
    """The record of a model directory, or None when it has none (a model saved outside ``fit``).

    Raises:
        ArtifactError: the record is damaged, or names a rule or version this harmbench does not apply.
    """
    f = Path(directory) / PREPROCESSING_FILE
    if not f.is_file():
        return None
    try:
        raw = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{f} is damaged ({type(exc).__name__})") from None
    try:
        return _parse(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(f"{f} is damaged ({type(exc).__name__}: {exc})") from None


def _parse(raw: Any) -> Preprocessing:
    if not isinstance(raw, dict):
        raise TypeError(f"expected a JSON object; got {type(raw).__name__}")
    if raw.get("format_version") != RECORD_VERSION:
        raise ValueError(f"format version {raw.get('format_version')!r}; "
                         f"this harmbench reads {RECORD_VERSION}")
    for key, rule in (("scaling", SCALING_RULE), ("axial_axis", AXIAL_AXIS_RULE),
                      ("slice_range", SLICE_RULE), ("registration", REGISTRATION_RULE)):
        if raw[key]["rule"] != rule:
            raise ValueError(f"{key} rule {raw[key]['rule']!r}; this harmbench applies {rule!r}")
    spacing = raw["spacing_mm"]
    if spacing != BL_NATIVE and not (isinstance(spacing, (int, float)) and spacing > 0):
        raise ValueError(f"spacing_mm {spacing!r}; expected a positive number or {BL_NATIVE!r}")
    reg = raw["registration"]
    settings = PrepareSettings(spacing=None if spacing == BL_NATIVE else float(spacing),
                               upper_percentile=float(raw["scaling"]["upper_percentile"]),
                               slice_drop=float(raw["slice_range"]["drop"]), bins=int(reg["bins"]),
                               max_samples=int(reg["max_samples"]), seed=int(reg["seed"]),
                               # records without the key (pipeline version 1) filtered gradient images
                               gradient_filters=bool(reg.get("gradient_filters", True)))
    if not 0 < settings.upper_percentile <= 100:
        raise ValueError(f"upper_percentile {settings.upper_percentile}; expected (0, 100]")
    bl = raw.get("bl_scale")
    bl_scale = None
    if bl is not None:
        bl_scale = (float(bl["lo"]), float(bl["hi"]))
        if not (np.isfinite(bl_scale).all() and bl_scale[1] > bl_scale[0]):
            raise ValueError(f"bl_scale {bl_scale}; expected finite lo < hi")
    scanners = {str(k): [str(s) for s in v] for k, v in dict(raw.get("scanners", {})).items()}
    dataset = {str(k): str(v) for k, v in dict(raw.get("dataset", {})).items()}
    return Preprocessing(settings, dataset, bl_scale, scanners, str(raw.get("pipeline", PIPELINE_VERSION)))
