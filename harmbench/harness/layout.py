"""Where the harness caches things: every path and key of a work directory, in one object.

A work directory (``--work-dir``, default ``~/.cache/harmbench/work/<dataset hash[:16]>``)::

    <root>/
      models/<method>-<fit key>/                  fitted model (artifact.json, fit.json,
                                                  preprocessing.json, training_history.json)
      train/<method>-<fit key>/                   a method's scratch space while it trains
      harmonized/<method>-<harmonize key>/<case>/ record.json and the harmonized images
      scores/<metric key>/<run dir>/<case>.json   one score record per metric policy and image;
                                                  <run dir> is original-fu, same-scanner-fu2 or
                                                  <method>-<harmonize key>
      calibration/<metric>-<key>.json             calibrated metric parameters

``fingerprints.json`` (:mod:`harmbench.harness.fingerprint`) lives in the cache root: the
``--work-dir`` itself, else ``~/.cache/harmbench/work``, shared by every dataset's folder.

Every key is :func:`~harmbench.harness.cache.cache_key` of what the cached result depends on,
always including the harmbench version and the dataset content hash. A learned run's training
seed is one of its parameters, so every (run, seed) fit has its own model folder, harmonized
images and score records (seed 0 keeps the keys of a one-seed run). Fit and harmonize keys also
include the method's ``artifact_version``, so a method whose stored format changed never reads
a model (or images made from one) of the old format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harmbench.harness.cache import cache_key

FINGERPRINTS = "fingerprints.json"


def cache_root() -> Path:
    """Root of the default work caches: ``~/.cache/harmbench/work`` (``HARMBENCH_DATA`` does not move it)."""
    return Path.home() / ".cache" / "harmbench" / "work"


def fingerprint_store(work_dir: Path | None) -> Path:
    """``fingerprints.json`` of the ``--work-dir`` if one is given, else of :func:`cache_root`."""
    return Path(work_dir or cache_root()) / FINGERPRINTS


@dataclass(frozen=True)
class WorkLayout:
    """Every cache path of one work directory.

    Attributes:
        root: the work directory.
        dataset: the dataset's content hash (:func:`~harmbench.harness.fingerprint.dataset_hash`,
            16 hex digits), part of every key; only the folder properties work without it.
    """

    root: Path
    dataset: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # accept a str like every other path argument

    @classmethod
    def resolve(cls, work_dir: Path | None, dataset: str) -> WorkLayout:
        """The ``--work-dir`` if given, else the dataset's folder under :func:`cache_root`."""
        return cls(Path(work_dir) if work_dir else cache_root() / dataset, dataset)

    @property
    def models(self) -> Path:
        """Folder of the fitted models (one ``<method>-<fit key>`` folder each)."""
        return self.root / "models"

    @property
    def train(self) -> Path:
        return self.root / "train"

    @property
    def harmonized(self) -> Path:
        return self.root / "harmonized"

    @property
    def scores(self) -> Path:
        return self.root / "scores"

    @property
    def calibration(self) -> Path:
        return self.root / "calibration"

    def run(self, method: str, params: dict[str, Any], artifact_version: int,
            preset_values: dict[str, Any] | None = None) -> RunCache:
        """The cache of ``method`` with ``params``.

        Args:
            method: registry name.
            params: the run's effective parameters (defaults overridden by the run's values), so
                ``m[lam=10]`` and ``m`` (default 10) share a cache and a changed default does not.
            artifact_version: the method class's stored-format version.
            preset_values: the values of the run's preset, so editing a preset refits.
        """
        parts = {"method": method, "params": params, "dataset": self._dataset(), "artifact_version": artifact_version,
                 "preset_values": preset_values or {}}
        return RunCache(self, method, cache_key(unit="fit", **parts), cache_key(unit="harmonize", **parts))

    def score_key(self, policy: dict[str, Any]) -> str:
        """Key of a metric's score records: its policy (parameters), so changing one metric re-scores only it."""
        return cache_key(unit="score", metric=policy, dataset=self._dataset())

    def score_records(self, keys: dict[str, str], run_dir: str, case_id: str) -> dict[str, str]:
        """Score record path per metric name, for ``keys`` (metric name -> :meth:`score_key`)."""
        return {m: str(self.scores / k / run_dir / f"{case_id}.json") for m, k in keys.items()}

    def calibration_record(self, metric: str, policy: dict[str, Any]) -> Path:
        """Record of ``metric``'s calibrated parameters, keyed on its (uncalibrated) policy."""
        key = cache_key(unit="calibrate", metric=policy, dataset=self._dataset())
        return self.calibration / f"{metric}-{key}.json"

    def _dataset(self) -> str:
        if not self.dataset:
            raise ValueError(f"WorkLayout({self.root}) has no dataset hash; keys need one")
        return self.dataset


@dataclass(frozen=True)
class RunCache:
    """The cache of one run (a method with its non-default parameters) in a :class:`WorkLayout`."""

    layout: WorkLayout
    method: str
    fit_key: str
    harmonize_key: str

    @property
    def model_dir(self) -> Path:
        return self.layout.models / f"{self.method}-{self.fit_key}"

    @property
    def train_dir(self) -> Path:
        return self.layout.train / f"{self.method}-{self.fit_key}"

    @property
    def score_dir(self) -> str:
        """The ``<run dir>`` of this run's harmonized images and score records."""
        return f"{self.method}-{self.harmonize_key}"

    def harmonized_dir(self, case_id: str) -> Path:
        return self.layout.harmonized / self.score_dir / case_id
