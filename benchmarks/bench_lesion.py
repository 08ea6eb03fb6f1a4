"""Accuracy and cost of the lesion instruments against a synthetic cohort's ground truth.

Run after the dataset is built and prepared (``harmbench evaluate`` or ``harmbench datasets build``
+ ``prepare``)::

    python benchmarks/bench_lesion.py [--dataset synth-quick] [--splits train,val,test-A,test-B]

For every case: the target lesion segmented on BL, FU and FU2 (the fixed segmenter), compared with
the analytic true volume (``truth.json``), the true masks, and the true change (FU2 carries the FU
time point's lesion). For every case it also records the contrast-to-noise ratio of the true
BL boundary (``boundary_cnr``): the lesion's enhancing level (75th percentile inside the true mask)
minus the median of the tissue 2–4 mm outside it, split into WM-labelled tissue (WM and the
vasogenic oedema painted into it) and all other tissue, over a robust noise SD. Cases whose
boundary CNR is ~2 have no visible border on that side; the failures list shows them. Also times the segmenter against a straightforward baseline in the same
run: whole-voxel counting at the same threshold (no fine grid), which is what version 2's fine grid
costs over. Writes ``benchmarks/results/bench_lesion-<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from scipy import ndimage

from _common import save
from harmbench.data.cohort import Cohort
from harmbench.metrics.lesion_seg import LesionSegmenter
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
    fine, coarse = LesionSegmenter(), LesionSegmenter(upsample=1)
    rows, t_fine, t_coarse = [], 0.0, 0.0
    for case in (c for s in args.splits.split(",") for c in cohort.split(s)):
        bl = case.volume("BL")
        seed, sp = case.lesion("BL"), bl.spacing
        if seed is None or not seed.any():
            continue
        true_bl = truth.get(case.case_id, {}).get("lesions", [{}])[0].get("volume_bl_mm3",
                                                                         float(seed.sum() * np.prod(sp)))
        row = {"case": case.case_id, "split": case.split, "change": case.change, "true_bl_mm3": true_bl,
               "boundary_cnr": boundary_cnr(bl.data, seed, case.labels("BL"))}
        t0 = time.perf_counter()
        v_bl = fine.segment(bl.data, seed, sp).volume_mm3
        t_fine += time.perf_counter() - t0
        t0 = time.perf_counter()
        v_bl_coarse = coarse.segment(bl.data, seed, sp).volume_mm3
        t_coarse += time.perf_counter() - t0
        row["bl_error"] = v_bl / true_bl - 1
        row["bl_error_whole_voxel"] = v_bl_coarse / true_bl - 1
        for session in ("FU", "FU2"):
            if case.has(session):
                v = fine.segment(case.volume(session).data, seed, sp).volume_mm3
                row[f"{session.lower()}_dv_error"] = v / v_bl - 1 - (case.change or 0.0)
        rows.append(row)

    def stats(key, split=None):
        v = np.array([abs(r[key]) for r in rows if key in r and (split is None or r["split"] == split)])
        return {"n": int(v.size), "median_abs": float(np.median(v)), "max_abs": float(v.max()),
                "over_015": int((v > 0.15).sum()), "over_010": int((v > 0.10).sum())}

    save(f"bench_lesion-{args.dataset}", {
        "dataset": args.dataset, "dataset_hash": cohort.dataset_hash[:8], "segmenter": fine.policy(),
        "bl_volume_error": stats("bl_error"), "bl_volume_error_whole_voxel": stats("bl_error_whole_voxel"),
        "fu2_dv_error": stats("fu2_dv_error"), "fu2_dv_error_test_A": stats("fu2_dv_error", "test-A"),
        "fu2_dv_error_test_B": stats("fu2_dv_error", "test-B"), "fu_dv_error": stats("fu_dv_error"),
        "seconds_per_segmentation": {"fine_grid": t_fine / len(rows), "whole_voxel": t_coarse / len(rows),
                                     "ratio": t_fine / t_coarse},
        "failures": sorted(({"case": r["case"], "split": r["split"], "bl_error": r["bl_error"],
                             "fu2_dv_error": r.get("fu2_dv_error"), "boundary_cnr": r["boundary_cnr"]}
                            for r in rows if abs(r["bl_error"]) > 0.15 or abs(r.get("fu2_dv_error", 0.0)) > 0.10),
                           key=lambda f: f["boundary_cnr"]["min"]),
        "cases": rows,
    })


if __name__ == "__main__":
    main()
