"""Image-level ComBat (neuroHarmonize) as a harmbench method: landmark and voxel modes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from harmbench.errors import DataError
from harmbench.masking import head_mask
from harmbench.method import BaseMethod, Capabilities
from harmbench.params import Interval, Options
from harmbench.volume import Volume
from harmbench_combat.estimates import ComBatEstimates, fit_combat
from harmbench_combat.landmarks import DEFAULT_PERCENTILES, image_landmarks, piecewise_map

if TYPE_CHECKING:
    from harmbench.data.cohort import Case, Cohort

MODES = ("landmark", "voxel")
_PERCENTILE = Interval(float, 0, 100, closed="neither")


class ComBatHarmonization(BaseMethod):
    """ComBat (Johnson et al., Biostatistics 2007; Fortin et al., NeuroImage 2018) on images.

    ComBat models each feature as ``x = alpha + cov @ beta + gamma_site + delta_site * eps`` and
    removes the additive (``gamma``) and multiplicative (``delta``) scanner effects with
    empirical-Bayes shrinkage, keeping covariate effects. The fit runs through neuroHarmonize
    (batch = scanner, reference batch = the baseline scanner, so BL-scanner images stay as they
    are and other scanners move onto its location and scale); the fitted estimates are stored
    as arrays, never as neuroHarmonize's pickle.

    Modes:
        ``landmark`` (default, native space): the features of an image are intensity percentiles
        of its head foreground. ComBat is learned on every training image (BL, FU, FU2; batch =
        scanner). ``transform`` computes the FU's landmarks, ComBat-adjusts them toward the BL
        scanner, and maps the image through the monotone piecewise-linear function taking the
        original landmarks onto the adjusted ones (0 stays 0).
        ``voxel``: neuroHarmonize's voxel-wise ComBat; the features are the voxels inside a
        common head mask, so all images must share one template grid. Voxels without variation
        inside a scanner are left out of the mask (ComBat's variance would be 0) and pass
        through unchanged, as does everything outside the mask.

    When the training split has more than one BL scanner there is no single target; the model
    then maps every scanner to the pooled estimate (neuroHarmonize's default) and records it.

    Args:
        mode: ``"landmark"`` or ``"voxel"``.
        percentiles: at least two landmark percentiles in (0, 100), increasing (landmark mode).
        mask: ``"head"`` (Otsu head foreground) or ``"none"`` for the landmark statistics.
        covariates: names of numeric manifest columns kept as biological covariates (a tuple, or one name as a
            string, as a run spec gives it: ``combat[covariates=age]``);
            at transform time their values are read from ``fu.meta[name]``.
        eb: empirical-Bayes shrinkage of the site effects.
    """

    name = "combat"
    capabilities = Capabilities(needs_training=True, min_subjects_per_site=2, needs_seen_scanner=True)
    artifact_version = 1
    _parameter_constraints = {
        "mode": [Options(MODES)],
        "percentiles": [tuple, list],   # contents checked in check_params
        "mask": [Options({"head", "none"})],
        "covariates": [tuple, list, str],
        "eb": [bool],
    }

    def __init__(self, *, mode: str = "landmark", percentiles: tuple[float, ...] = DEFAULT_PERCENTILES,
                 mask: str = "head", covariates: tuple[str, ...] = (), eb: bool = True) -> None:
        self.mode = mode
        self.percentiles = percentiles
        self.mask = mask
        self.covariates = covariates
        self.eb = eb

    # ------------------------------------------------------------------ checks
    def check_params(self) -> None:
        """The declared constraints, then the contents of ``percentiles`` and ``covariates``."""
        super().check_params()
        pct = list(self.percentiles)
        if (len(pct) < 2 or not all(_PERCENTILE.is_satisfied_by(p) for p in pct)
                or any(b <= a for a, b in zip(pct, pct[1:]))):
            raise DataError(f"combat: percentiles must be >= 2 increasing values in (0, 100); got {pct}")
        bad = [c for c in self._covariate_names() if not isinstance(c, str) or not c]
        if bad:
            raise DataError(f"combat: covariates must be manifest column names; got {bad}")

    def _covariate_names(self) -> tuple[str, ...]:
        return (self.covariates,) if isinstance(self.covariates, str) else tuple(self.covariates)

    def decline(self, cohort: Cohort) -> str | None:
        if self.mode == "voxel" and not cohort.in_template_space:
            return "voxel mode needs images in a common template space; dataset is in native space"
        return super().decline(cohort)

    # ------------------------------------------------------------------ fitting
    def _fit(self, cohort: Cohort) -> None:
        pct = np.asarray(self.percentiles, dtype=np.float64)
        images = [(c, s) for c in cohort.train for s in sorted(c.sessions)]
        if not images:
            raise DataError("combat: the training split has no images")
        bl_scanners = sorted({c.ref("BL").scanner for c in cohort.train if c.has("BL")})
        ref = bl_scanners[0] if len(bl_scanners) == 1 else None
        sites = [c.ref(s).scanner for c, s in images]
        cov = self._training_covariates(cohort, images)
        if self.mode == "landmark":
            feats = np.stack([image_landmarks(c.volume(s).data, pct, mask=self.mask) for c, s in images])
            self.estimates_ = fit_combat(feats, sites, covariates=cov, covariate_names=self._covariate_names(),
                                         ref_site=ref, eb=self.eb, feature_names=[f"p{p:g}" for p in pct])
            self.voxel_mask_ = None
        else:
            vols = [c.volume(s) for c, s in images]
            self.voxel_mask_ = _voxel_mask(vols, sites)
            feats = np.stack([v.data[self.voxel_mask_] for v in vols]).astype(np.float64)
            self.estimates_ = fit_combat(feats, sites, covariates=cov, covariate_names=self._covariate_names(),
                                         ref_site=ref, eb=self.eb)
        self.percentiles_ = pct

    def _training_covariates(self, cohort: Cohort, images: list[tuple[Case, str]]) -> np.ndarray | None:
        if not self._covariate_names():
            return None
        if cohort.manifest is None:
            raise DataError("combat: covariates need the cohort's manifest file; this cohort has none")
        from harmbench.data.manifest import read_manifest

        df = read_manifest(cohort.manifest)
        missing = [c for c in self._covariate_names() if c not in df.columns]
        if missing:
            raise DataError(f"combat: covariate column(s) {missing} not in manifest; has {list(df.columns)}")
        table = df.set_index(["case", "session"])
        rows = []
        for c, s in images:
            vals = table.loc[(c.case_id, s), list(self._covariate_names())]
            try:
                rows.append([float(v) for v in np.asarray(vals).reshape(-1)])
            except ValueError:
                raise DataError(f"combat: covariates of {c.case_id}/{s} are not numeric: "
                                f"{list(np.asarray(vals).reshape(-1))}") from None
        return np.asarray(rows, dtype=np.float64)

    # ------------------------------------------------------------------ transforming
    def _transform(self, fu: Volume, *, reference: Volume | None) -> Volume:
        est: ComBatEstimates = self.estimates_
        scanner = self._scanner_of(fu)
        cov = None
        if est.covariates:
            missing = [c for c in est.covariates if c not in fu.meta]
            if missing:
                raise DataError(f"combat: FU image lacks covariate value(s) {missing} in its metadata")
            cov = np.array([[float(fu.meta[c]) for c in est.covariates]])
        if not np.isfinite(fu.data).all():
            bad = int(fu.data.size - np.count_nonzero(np.isfinite(fu.data)))
            raise DataError(f"combat: FU image has {bad} NaN/Inf voxels; expected finite intensities")
        if self.mode == "landmark":
            src = image_landmarks(fu.data, self.percentiles_, mask=self.mask)
            dst = est.apply(src[None], [scanner], cov)[0]
            return fu.with_data(piecewise_map(fu.data, src, dst))
        m = self.voxel_mask_
        if fu.shape != m.shape:
            raise DataError(f"combat: FU image has shape {fu.shape}; the voxel model was fitted on {m.shape}")
        out = fu.data.copy()
        out[m] = est.apply(fu.data[m][None].astype(np.float64), [scanner], cov)[0].astype(np.float32)
        return fu.with_data(out)

    def _scanner_of(self, fu: Volume) -> str:
        est: ComBatEstimates = self.estimates_
        scanner = fu.meta.get("scanner")
        if scanner is None:
            others = [s for s in est.sites if s != est.ref_site]
            if est.ref_site is not None and len(others) == 1:
                return others[0]  # two-scanner model: an unlabeled FU can only be the non-BL scanner
            raise DataError(f"combat: FU image has no 'scanner' in its metadata; expected one of "
                            f"{list(est.sites)}")
        if str(scanner) not in est.sites:
            raise DataError(f"combat: FU scanner {scanner!r} was not in the training data; known: "
                            f"{list(est.sites)}")
        return str(scanner)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, Any]:
        arrays, meta = self.estimates_.to_state()
        arrays["percentiles"] = self.percentiles_
        if self.voxel_mask_ is not None:
            arrays["voxel_mask"] = self.voxel_mask_.astype(np.uint8)
        return {"arrays": arrays, "json": {"estimates": meta}}

    def _set_state(self, state: dict[str, Any]) -> None:
        # JSON turns tuple parameters into lists; restore them so get_params() round-trips.
        self.percentiles = tuple(self.percentiles)
        self.covariates = tuple(self.covariates)
        arrays = state["arrays"]
        self.estimates_ = ComBatEstimates.from_state(arrays, state["json"]["estimates"])
        self.percentiles_ = np.asarray(arrays["percentiles"], dtype=np.float64)
        self.voxel_mask_ = arrays["voxel_mask"].astype(bool) if "voxel_mask" in arrays else None


def _voxel_mask(vols: list[Volume], sites: list[str]) -> np.ndarray:
    """Voxels inside the head mask of at least half of the images, with variation in every scanner."""
    first = vols[0]
    for v in vols[1:]:
        if v.shape != first.shape or not np.allclose(v.affine, first.affine, atol=1e-3):
            raise DataError(f"combat: voxel mode needs one template grid; got shapes {first.shape} "
                            f"and {v.shape}")
    votes = np.zeros(first.shape, np.int32)
    for v in vols:
        votes += head_mask(v.data)
    mask = votes * 2 >= len(vols)
    site_arr = np.array(sites)
    for s in np.unique(site_arr):
        stack = np.stack([vols[i].data[mask] for i in np.flatnonzero(site_arr == s)])
        keep = stack.std(axis=0) > 1e-6
        mask.flat[np.flatnonzero(mask)[~keep]] = False
    if not mask.any():
        raise DataError("combat: voxel mode found no voxels inside the common head mask")
    return mask
