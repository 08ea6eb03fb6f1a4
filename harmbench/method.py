"""The method contract: a scikit-learn-style estimator over volumes.

Every harmonization method (built-in or third-party) subclasses :class:`BaseMethod`:

* ``__init__`` takes keyword-only parameters and only stores them;
* ``fit(cohort)`` validates, sets fitted attributes ending in ``_``, returns ``self``;
* ``transform(fu, reference=None)`` maps a follow-up image into baseline-scanner style without
  mutating its inputs, keeping shape and affine;
* ``save(dir)`` / ``load(dir)`` persist the fitted state as a versioned artifact (no pickle).
"""

from __future__ import annotations

import abc
import inspect
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from harmbench.artifacts import load_artifact, save_artifact
from harmbench.errors import DataError, MethodDeclined, NotFittedError, PluginError
from harmbench.params import merged_constraints, validate_params
from harmbench.typing import ParamDict, PathLike
from harmbench.volume import Volume, count_nonfinite, require_same_grid

if TYPE_CHECKING:
    from harmbench.data.cohort import Cohort


@dataclass(frozen=True)
class Capabilities:
    """What a method needs; the harness skips incompatible datasets with a stated reason.

    Attributes:
        needs_training: ``fit`` learns something from the training split.
        needs_paired: training needs same-patient BL/FU pairs (registered).
        needs_reference: ``transform`` needs the same patient's BL image (head-to-head).
        needs_template_space: all images must share one template grid (e.g. voxel-wise ComBat).
        min_subjects_per_site: fewest training subjects per scanner the method can fit.
        supports_gpu: the method can use CUDA/MPS when available.
        has_inverse: ``inverse_transform`` maps BL style to FU style (BL->FU->BL reconstruction).
        deterministic: output is a pure function of inputs and ``random_state``.
        needs_seen_scanner: ``transform`` works only for FU scanners present in the training
            data (e.g. ComBat's per-site estimates); ``harmbench harmonize`` declines an unseen
            scanner for such a method instead of warning.
        diagnostic: a sanity check of the benchmark, not a harmonization candidate (``identity``:
            the floor; ``copy-reference``: returns the patient's BL, the adversary that a
            similarity-only benchmark would crown). Leaderboards show its rows, marked
            "(diagnostic)", but never rank or bold them.
    """

    needs_training: bool = True
    needs_paired: bool = False
    needs_reference: bool = False
    needs_template_space: bool = False
    min_subjects_per_site: int = 0
    supports_gpu: bool = False
    has_inverse: bool = False
    deterministic: bool = True
    needs_seen_scanner: bool = False
    diagnostic: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class BaseMethod(abc.ABC):
    """Base class of all harmonization methods.

    Subclasses set ``name`` (lowercase-hyphen registry name), ``capabilities`` and
    ``artifact_version``, and implement ``_fit``, ``_transform`` and, when they learn
    anything, ``_get_state`` / ``_set_state``.
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()
    artifact_version: ClassVar[int] = 1
    #: Named parameter sets (e.g. ``{"quick": {...}, "paper": {...}}``) the harness can apply.
    presets: ClassVar[dict[str, ParamDict]] = {}
    #: Accepted values per ``__init__`` parameter (:mod:`harmbench.params`), merged along the
    #: class hierarchy and checked by :meth:`check_params` at planning time.
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        names = []
        for p in sig.parameters.values():
            if p.name == "self":
                continue
            if p.kind is not p.KEYWORD_ONLY:
                raise TypeError(f"{cls.__name__}.__init__ parameter {p.name!r} must be keyword-only")
            names.append(p.name)
        return sorted(names)

    @classmethod
    def param_defaults(cls) -> ParamDict:
        sig = inspect.signature(cls.__init__)
        return {n: sig.parameters[n].default for n in cls._param_names()}

    def get_params(self) -> ParamDict:
        """The constructor parameters, read back from attributes of the same name."""
        return {n: getattr(self, n) for n in self._param_names()}

    def set_params(self, **params: Any) -> BaseMethod:
        valid = set(self._param_names())
        for k, v in params.items():
            if k not in valid:
                raise DataError(f"{self.name}: unknown parameter {k!r}; expected one of {sorted(valid)}")
            setattr(self, k, v)
        return self

    def clone(self) -> BaseMethod:
        """A fresh, unfitted method with the same parameters."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items() if v != self.param_defaults().get(k)}
        inner = ", ".join(f"{k}={v!r}" for k, v in sorted(changed.items()))
        return f"{type(self).__name__}({inner})"

    # ------------------------------------------------------------------ fitting
    def is_fitted(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    def check_is_fitted(self) -> None:
        if self.capabilities.needs_training and not self.is_fitted():
            raise NotFittedError(f"{self.name or type(self).__name__} is not fitted; call fit() or load() first")

    def decline(self, cohort: Cohort) -> str | None:
        """Return a reason if this method cannot run on ``cohort``, else ``None``."""
        caps = self.capabilities
        if caps.needs_template_space and not cohort.in_template_space:
            return "needs images in a common template space; dataset is in native space"
        if caps.needs_paired and not cohort.is_paired:
            return "needs paired BL/FU training cases; dataset has none"
        if caps.min_subjects_per_site:
            counts = cohort.subjects_per_scanner("train")
            low = {s: n for s, n in counts.items() if n < caps.min_subjects_per_site}
            if low:
                return f"needs >= {caps.min_subjects_per_site} training subjects per scanner; got {low}"
        return None

    def check_params(self) -> None:
        """Validate the parameters without data or fitting; raise a one-line ``DataError``.

        Cheap enough for planning time: the harness calls it for every planned run before any
        fit (:func:`harmbench.registry.build_method`), and ``fit`` calls it first. The default
        checks the declared ``_parameter_constraints`` (:mod:`harmbench.params`); subclasses
        that check more (deep methods: network size, before allocating) call ``super()`` first.
        """
        validate_params(self.name or type(self).__name__, self.get_params(), merged_constraints(type(self)))

    def fit(self, cohort: Cohort) -> BaseMethod:
        """Learn from ``cohort.train`` (and ``cohort.val`` for model selection); returns self."""
        self.check_params()
        reason = self.decline(cohort)
        if reason:
            raise MethodDeclined(f"{self.name}: {reason}")
        self._fit(cohort)
        self.fitted_ = True
        return self

    def _fit(self, cohort: Cohort) -> None:
        """Subclass hook; default learns nothing."""

    # ------------------------------------------------------------------ transforming
    def transform(self, fu: Volume, *, reference: Volume | None = None) -> Volume:
        """Harmonize a follow-up image into baseline-scanner style.

        Args:
            fu: follow-up volume (prepared: [0, 1] intensities, registered to BL).
            reference: the same patient's BL volume; required when
                ``capabilities.needs_reference``; must share FU's grid.

        Returns:
            A new float32 volume with FU's shape and affine.

        Raises:
            DataError: a parameter of a training-free method breaks its declared constraints,
                or the method's output is not a finite volume on FU's grid (checked here for
                every method, so a bad output never reaches a file or a metric).
        """
        self.check_is_fitted()
        if not self.capabilities.needs_training:
            self.check_params()  # never fitted, so never checked by fit (planning checks first)
        if self.capabilities.needs_reference:
            if reference is None:
                raise DataError(f"{self.name} needs the patient's BL image as reference")
            require_same_grid(fu, reference)
        before = fu.data.copy() if _debug_mutation() else None
        out = self._transform(fu, reference=reference)
        if before is not None and not np.array_equal(before, fu.data):
            raise RuntimeError(f"{self.name} mutated its input")
        self._check_output(out, fu, "transform")
        return Volume(out.data.astype(np.float32, copy=False), fu.affine.copy(), {**fu.meta, "method": self.name})

    def _check_output(self, out: Any, src: Volume, what: str) -> None:
        """Raise ``DataError`` unless ``out`` is an all-finite volume on ``src``'s grid."""
        name = self.name or type(self).__name__
        if not isinstance(out, Volume):
            raise DataError(f"{name} {what} returned {type(out).__name__}; expected a Volume")
        if out.shape != src.shape:
            raise DataError(f"{name} {what} returned shape {out.shape}; input was {src.shape}")
        if not np.allclose(out.affine, src.affine, atol=1e-3):
            raise DataError(f"{name} {what} changed the image grid (affine differs by up to "
                            f"{np.abs(out.affine - src.affine).max():.3g} mm); expected the input's affine")
        bad = count_nonfinite(out.data)
        if bad:
            where = "" if what == "transform" else f" ({what})"
            raise DataError(f"{name} produced {bad} non-finite voxels of {out.data.size}{where}")

    @abc.abstractmethod
    def _transform(self, fu: Volume, *, reference: Volume | None) -> Volume:
        """Subclass hook: the harmonized volume (shape of ``fu``); inputs must not be modified."""

    def inverse_transform(self, bl: Volume) -> Volume:
        """Map a BL-style image to FU style (only when ``capabilities.has_inverse``)."""
        if not self.capabilities.has_inverse:
            raise DataError(f"{self.name} has no inverse mapping")
        self.check_is_fitted()
        out = self._inverse_transform(bl)
        self._check_output(out, bl, "inverse_transform")
        return Volume(out.data.astype(np.float32, copy=False), bl.affine.copy(), dict(bl.meta))

    def _inverse_transform(self, bl: Volume) -> Volume:
        raise PluginError(f"{type(self).__name__} declares has_inverse but does not implement _inverse_transform")

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, Any]:
        """Fitted state as ``{"arrays": {name: ndarray}, "json": {...}, "torch": {name: state_dict}}``."""
        return {}

    def _set_state(self, state: dict[str, Any]) -> None:
        """Inverse of ``_get_state``."""

    def save(self, directory: PathLike) -> Path:
        self.check_is_fitted()
        return save_artifact(self, directory)

    @classmethod
    def load(cls, directory: PathLike) -> BaseMethod:
        return load_artifact(cls, directory)


#: Cap on the parameters of all networks a deep method builds: 5e8 (2 GB of float32 weights,
#: ~8 GB with gradients and Adam moments), about ten times the largest published configuration.
MAX_NETWORK_PARAMETERS = 500_000_000


def check_network_size(method: str, n_parameters: int, settings: str) -> None:
    """Refuse (``DataError``) networks of more than :data:`MAX_NETWORK_PARAMETERS` parameters.

    ``n_parameters`` must be counted before any weight is allocated (e.g. on torch's ``meta``
    device), so an absurd width such as ``ngf=100000`` fails at once instead of exhausting memory.
    ``settings`` names the responsible parameters (``"ngf=100000, ndf=16"``).
    """
    if n_parameters > MAX_NETWORK_PARAMETERS:
        raise DataError(f"{method}: {settings} gives networks of {n_parameters:.3g} parameters "
                        f"({4 * n_parameters / 1e9:.3g} GB of float32 weights); "
                        f"the limit is {MAX_NETWORK_PARAMETERS:.0e}")


def _debug_mutation() -> bool:
    import os

    return os.environ.get("HARMBENCH_CHECK_MUTATION", "") == "1"
