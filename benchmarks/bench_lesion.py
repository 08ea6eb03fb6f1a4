"""Accuracy and cost of the lesion instruments against a synthetic cohort's ground truth.

Run after the dataset is built and prepared (``harmbench evaluate`` or ``harmbench datasets build``
+ ``prepare``)::

    python benchmarks/bench_lesion.py [--dataset synth-quick] [--splits train,val,test-A,test-B]

``--dataset`` may also be a prepared ``<root>/prepared/manifest.csv`` whose truth is in
``<root>/raw/truth.json`` (a cohort built outside the registry, e.g. ``bench_lesion_bio.py``).

For every case: the target lesion segmented on BL, FU and FU2 (the fixed segmenter), compared with
the analytic true volume (``truth.json``), the true masks, and the true change (FU2 carries the FU
time point's lesion). For every case it also records the contrast-to-noise ratio of the true
BL boundary (``boundary_cnr``): the lesion's enhancing level (75th percentile inside the true mask)
minus the median of the tissue 2–4 mm outside it, split into WM-labelled tissue (WM and the
vasogenic oedema painted into it) and all other tissue, over a robust noise SD. Cases whose
boundary CNR is ~2 have no visible border on that side; the failures list shows them.

Each image is segmented as the metrics segment it: with its label map, and the FU/FU2 through
:func:`~harmbench.metrics.lesion_seg.segment_pair` with BL. Four segmenters on the same images in
one run, for the comparison and the cost ratios: the default
:class:`~harmbench.metrics.lesion_seg.ModelFitSegmenter` (local forward-model fit; BL anchored to
the seed's volume, which calibrates the core fraction and blur; ``model_fit`` keys), the same fit
without the anchor (BL measured from its image; ``model_fit_free`` keys), the default with the
follow-up's core fraction fitted on the follow-up instead of reused from BL (``model_fit_refit``
keys; for cohorts whose necrotic fraction changes between sessions, issue #21) and the half-maximum
version 2 (unprefixed keys). Also records the Dice of each segmentation with its session's true
mask (BL: the seed). Writes ``benchmarks/results/bench_lesion-<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from scipy import ndimage

from _common import save
from harmbench.data.cohort import Cohort
from harmbench.metrics.lesion_seg import LesionSegmenter, ModelFitSegmenter, segment_pair
from harmbench.data.resolve import prepared_manifest


def boundary_cnr(image: np.ndarray, lesion: np.ndarray, labels: np.ndarray | None) -> dict[str, float]:
    """Contrast-to-noise of the true lesion boundary against WM-side and other surroundings.

    Lesion level E = 75th percentile inside the true mask (the rim of a ring-enhancing lesion,
    the plateau of a solid one); surroundings = the second voxel layer outside the mask, split by
    WM labels (2/41, which carry the oedema); noise = robust SD (MAD) of the image minus its 3×3×3
    mean in a box around the lesion. A side with fewer than 6 voxels gives NaN.
    """
    idx = np.nonzero(lesion)
    box = tuple(slice(max(int(i.min()) - 6, 0), int(i.max()) + 7) for i in idx)
    img, les = np.asarray(image[box], np.float64), lesion[box]
    outside = ndimage.distance_transform_edt(~les)
    ring = (outside > 1) & (outside <= 2)
    wm = np.isin(labels[box], (2, 41)) if labels is not None else np.ones_like(les)
    hp = img - ndimage.uniform_filter(img, 3)
    noise = 1.4826 * float(np.median(np.abs(hp - np.median(hp)))) * float(np.sqrt(27 / 26))
    level = float(np.percentile(img[les], 75))
    out = {}
    for side, sel in (("wm", ring & wm), ("other", ring & ~wm)):
        out[side] = (level - float(np.median(img[sel]))) / noise if int(sel.sum()) >= 6 else float("nan")
    out["min"] = float(np.nanmin([out["wm"], out["other"]]))
    out["wm_fraction"] = float((ring & wm).sum() / ring.sum())
    return {k: round(v, 3) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="synth-quick")
    ap.add_argument("--splits", default="train,val,test-A,test-B")
    args = ap.parse_args()
    manifest = prepared_manifest(args.dataset)
    cohort = Cohort.from_manifest(manifest)
    raw = manifest.parent.parent / "raw" / "truth.json"
    truth = {c["case"]: c for c in json.loads(raw.read_text())["cases"]} if raw.exists() else {}
    segmenters = {"v2": LesionSegmenter(), "model_fit_free": ModelFitSegmenter(anchor=False),
                  "model_fit": ModelFitSegmenter(), "model_fit_refit": ModelFitSegmenter()}
    rows, seconds = [], dict.fromkeys(segmenters, 0.0)
    for case in (c for s in args.splits.split(",") for c in cohort.split(s)):
        bl = case.volume("BL")
        seed, sp = case.lesion("BL"), bl.spacing
        if seed is None or not seed.any():
            continue
        lesion = truth.get(case.case_id, {}).get("lesions", [{}])[0]
        true_bl = lesion.get("volume_bl_mm3", float(seed.sum() * np.prod(sp)))
        true_fu = lesion.get("volume_fu_mm3", true_bl * (1 + (case.change or 0.0)))
        lab_bl = case.labels("BL")
        row = {"case": case.case_id, "split": case.split, "change": case.change, "true_bl_mm3": true_bl,
               "ring": lesion.get("ring_enhancing"), "boundary_cnr": boundary_cnr(bl.data, seed, lab_bl)}
        others = {s: (case.volume(s).data, case.labels(s), case.lesion(s)) for s in ("FU", "FU2") if case.has(s)}
        for name, seg in segmenters.items():
            pre = "" if name == "v2" else f"{name}_"
            for session, (image, labels, true_mask) in others.items():
                t0 = time.perf_counter()
                if name == "model_fit_refit":   # BL anchored as the default; FU fits its own core fraction
                    s_bl = seg.segment_reference(bl.data, seed, sp, lab_bl)
                    s_fu = seg.segment(image, seed, sp, labels if labels is not None else lab_bl)
                else:
                    s_bl, s_fu = segment_pair(seg, bl=bl.data, fu=image, seed=seed, spacing=sp,
                                              labels_bl=lab_bl, labels_fu=labels)
                seconds[name] += time.perf_counter() - t0
                key = session.lower()
                row[f"{pre}{key}_dv_error"] = s_fu.volume_mm3 / s_bl.volume_mm3 - 1 - (case.change or 0.0)
                row[f"{pre}{key}_error"] = s_fu.volume_mm3 / true_fu - 1
                if true_mask is not None:
                    row[f"{pre}{key}_dice"] = _dice(s_fu.mask, true_mask)
            row[f"{pre}bl_error"] = s_bl.volume_mm3 / true_bl - 1
            row[f"{pre}bl_dice"] = _dice(s_bl.mask, seed)
        rows.append(row)
    n_seg = 2 * sum(len([k for k in r if k.endswith("_dv_error") and not k.startswith("model_fit_")]) for r in rows)

    def stats(key, split=None):
        v = np.array([abs(r[key]) for r in rows if key in r and (split is None or r["split"] == split)])
        return {"n": int(v.size), "median_abs": float(np.median(v)), "max_abs": float(v.max()),
                "over_015": int((v > 0.15).sum()), "over_010": int((v > 0.10).sum())}

    def summary(pre):
        return {"bl_volume_error": stats(f"{pre}bl_error"), "fu2_volume_error": stats(f"{pre}fu2_error"),
                "fu2_dv_error": stats(f"{pre}fu2_dv_error"),
                "fu2_dv_error_test_A": stats(f"{pre}fu2_dv_error", "test-A"),
                "fu2_dv_error_test_B": stats(f"{pre}fu2_dv_error", "test-B"),
                "fu_dv_error": stats(f"{pre}fu_dv_error"),
                "mean_dice": {k: float(np.mean([r[f"{pre}{k}_dice"] for r in rows if f"{pre}{k}_dice" in r]))
                              for k in ("bl", "fu2", "fu")}}

    # a prepared manifest path <root>/prepared/manifest.csv is named after <root>
    name = Path(args.dataset).parent.parent.name if args.dataset.endswith(".csv") else args.dataset
    save(f"bench_lesion-{name}", {
        "dataset": args.dataset, "dataset_hash": cohort.dataset_hash[:8],
        "segmenter": segmenters["model_fit"].policy(), "v2": segmenters["v2"].policy(),
        "model_fit_free_policy": segmenters["model_fit_free"].policy(),
        "version_2": summary(""), "model_fit_free": summary("model_fit_free_"), "model_fit": summary("model_fit_"),
        "model_fit_refit": summary("model_fit_refit_"),
        "seconds_per_segmentation": {**{k: v / n_seg for k, v in seconds.items()},
                                     **{f"ratio_{k}_over_v2": v / seconds["v2"] for k, v in seconds.items() if k != "v2"}},
        "failures": {name: _failures(rows, "" if name == "v2" else f"{name}_") for name in segmenters},
        "cases": rows,
    })


def _failures(rows: list[dict], pre: str) -> list[dict]:
    """Cases outside a check: BL volume > 15 %, FU2 ΔV/V error > 0.10 or FU2 volume > 15 %."""
    out = [{"case": r["case"], "split": r["split"], "ring": r["ring"], "bl_error": r[f"{pre}bl_error"],
            "fu2_error": r.get(f"{pre}fu2_error"), "fu2_dv_error": r.get(f"{pre}fu2_dv_error"),
            "fu_dv_error": r.get(f"{pre}fu_dv_error"), "boundary_cnr": r["boundary_cnr"]}
           for r in rows if abs(r[f"{pre}bl_error"]) > 0.15 or abs(r.get(f"{pre}fu2_dv_error", 0.0)) > 0.10
           or abs(r.get(f"{pre}fu2_error", 0.0)) > 0.15]
    return sorted(out, key=lambda f: f["boundary_cnr"]["min"])


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return float(2 * int((a & b).sum()) / s) if s else float("nan")


if __name__ == "__main__":
    main()
