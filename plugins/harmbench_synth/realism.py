"""Realism check of a prepared cohort: how big is the scanner gap, and what kind of gap is it.

Definitions (used for the figures in ``docs/datasets.md``):

* **PSNR / SSIM** of a prepared follow-up (FU or FU2) against BL over the *whole volume*, data
  range 1; SSIM with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False`` (Wang et
  al.). The same numbers inside the BL head bounding box are reported too (the harness's mask
  policy, :mod:`harmbench.metrics.region`).
* **Regional CNR** = (mean ROI − mean background) / SD(background) on each session's own label map
  (left and right merged); background = cerebral white matter (2/41), except for the cerebral-WM
  ROI whose background is the cortex (3/42 and the ``aparc`` cortical labels 1000-2999). The
  background is eroded by one voxel (6-connectivity) and the ROI grown by one voxel is removed
  from it, as in the harness's ``cnr`` metric.
  ``|ΔCNR| = |CNR_BL − CNR_FU|`` per Table-4 region.
* **Monotone-map residual**: the best single monotone intensity map FU -> BL (isotonic regression
  over brain voxels) still leaves this RMSE; compared with the FU2 -> BL RMSE after the same fit.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from harmbench.data.cohort import Cohort
from harmbench.metrics.region import head_box

#: Table-4 regions (REFERENCE.md §2): name -> FreeSurfer IDs (left, right).
TABLE4_REGIONS: dict[str, tuple[int, ...]] = {
    "amygdala": (18, 54), "brainstem": (16,), "caudate": (11, 50),
    "cerebellum-wm": (7, 46), "cerebellum-cortex": (8, 47), "cerebral-wm": (2, 41),
    "insula": (1035, 2035), "pallidum": (13, 52), "putamen": (12, 51), "thalamus": (10, 49),
}


def cortex_mask(labels: np.ndarray) -> np.ndarray:
    """Cerebral cortex: aseg 3/42 or any aparc cortical label (1000-2999)."""
    return np.isin(labels, (3, 42)) | ((labels >= 1000) & (labels < 3000))


def regional_cnr(image: np.ndarray, labels: np.ndarray, *, erode: int = 1) -> dict[str, float]:
    """CNR of each Table-4 region (definition in the module docstring); NaN if absent.

    The background tissue is eroded by ``erode`` voxels (6-connectivity) and the ROI grown by
    ``erode`` voxels is removed from it, so partial-volume edges do not inflate SD(background)
    (the same policy as the harness's ``cnr`` metric).
    """
    backgrounds = {"wm": np.isin(labels, (2, 41)), "ctx": cortex_mask(labels)}
    if erode > 0:
        backgrounds = {k: ndimage.binary_erosion(v, iterations=erode) for k, v in backgrounds.items()}
    out = {}
    for name, ids in TABLE4_REGIONS.items():
        roi = np.isin(labels, ids)
        grown = ndimage.binary_dilation(roi, iterations=erode) if erode > 0 else roi
        bg = backgrounds["ctx" if name == "cerebral-wm" else "wm"] & ~grown
        if roi.sum() < 5 or bg.sum() < 20:
            out[name] = float("nan")
            continue
        vals = image[bg].astype(np.float64)
        sd = float(vals.std())
        out[name] = (float(image[roi].mean()) - float(vals.mean())) / sd if sd > 0 else float("nan")
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))


def monotone_residual(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> float:
    """RMSE left after the best monotone (isotonic) map of ``src`` onto ``ref`` inside ``mask``."""
    from sklearn.isotonic import IsotonicRegression

    x, y = src[mask].astype(np.float64), ref[mask].astype(np.float64)
    fit = IsotonicRegression(out_of_bounds="clip").fit(x, y)
    return float(np.sqrt(np.mean((fit.predict(x) - y) ** 2)))


def realism_report(cohort: Cohort, *, split: str = "test-A") -> dict:
    """Per-case and mean realism figures of a prepared cohort's ``split``.

    Returns a dict with ``cases`` (list of per-case dicts) and ``mean`` (averages): PSNR/SSIM of
    FU and FU2 vs BL (whole volume and head box), ``abs_dcnr`` per region (FU vs BL and FU2 vs
    BL) and the monotone-map residual RMSE of FU and FU2.
    """
    rows = []
    for case in cohort.split(split):
        bl = case.volume("BL").data
        lab_bl = case.labels("BL")
        box = head_box(case.volume("BL"))
        cnr_bl = regional_cnr(bl, lab_bl) if lab_bl is not None else {}
        brain = (lab_bl > 0) if lab_bl is not None else bl > 0
        row: dict = {"case": case.case_id}
        for session in ("FU", "FU2"):
            if not case.has(session):
                continue
            img = case.volume(session).data
            key = session.lower()
            row[f"psnr_{key}"] = psnr(bl, img)
            row[f"ssim_{key}"] = ssim(bl, img)
            row[f"psnr_{key}_box"] = psnr(bl[box], img[box])
            row[f"ssim_{key}_box"] = ssim(bl[box], img[box])
            row[f"monotone_rmse_{key}"] = monotone_residual(img, bl, brain)
            lab = case.labels(session)
            if lab is not None and cnr_bl:
                cnr = regional_cnr(img, lab)
                row[f"abs_dcnr_{key}"] = {k: abs(cnr_bl[k] - cnr[k]) for k in TABLE4_REGIONS}
        rows.append(row)
    mean: dict = {}
    if rows:
        for k in rows[0]:
            if k == "case":
                continue
            if isinstance(rows[0][k], dict):
                mean[k] = {r: float(np.nanmean([row[k][r] for row in rows])) for r in TABLE4_REGIONS}
            else:
                mean[k] = float(np.nanmean([row[k] for row in rows]))
    return {"split": split, "n": len(rows), "cases": rows, "mean": mean}
