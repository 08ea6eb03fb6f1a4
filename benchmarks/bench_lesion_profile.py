"""How well one image constrains the size of one target lesion: the model fit's residual over scale.

    python benchmarks/bench_lesion_profile.py --dataset synth-quick-15t --case c0050 [--sessions FU2,FU]

The default segmenter calibrates the lesion on BL (anchored to the contour's volume; core fraction
and blur), then fits each session's image at every scale s of a grid with that core fraction, the
blur searched and the centre fixed at the seed's. A profile whose residual SD barely changes over
a wide range of s means the image does not determine the lesion's size: the measured ΔV/V of that
session is then a guess, whatever the segmenter reports. Records, per session, the residual SD and
the fitted lesion-to-background contrast at each s, the best s, the ΔV/V it implies and the true
ΔV/V. Writes ``benchmarks/results/bench_lesion_profile-<dataset>-<case>.json``.
"""

from __future__ import annotations

import argparse

import numpy as np

from _common import save
from harmbench.data.cohort import Cohort
from harmbench.data.resolve import prepared_manifest
from harmbench.metrics.lesion_model import fit_lesion_model
from harmbench.metrics.lesion_seg import ModelFitSegmenter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="synth-quick-15t")
    ap.add_argument("--case", default="c0050")
    ap.add_argument("--sessions", default="FU2,FU")
    ap.add_argument("--scales", default="0.6,1.5,19", help="low,high,count of the scale grid")
    args = ap.parse_args()
    cohort = Cohort.from_manifest(prepared_manifest(args.dataset))
    case = next(c for s in ("train", "val", "test-A", "test-B") for c in cohort.split(s) if c.case_id == args.case)
    bl, seed = case.volume("BL"), case.lesion("BL")
    seg = ModelFitSegmenter()
    ref = seg.segment_reference(bl.data, seed, bl.spacing, case.labels("BL"))
    lo, hi, n = args.scales.split(",")
    grid = np.linspace(float(lo), float(hi), int(n))
    out = {"dataset": args.dataset, "dataset_hash": cohort.dataset_hash[:8], "case": args.case,
           "true_change": case.change, "reference": {"volume_mm3": ref.volume_mm3, "core": ref.core,
                                                     "scale": ref.surface.scale}, "sessions": {}}
    for session in args.sessions.split(","):
        image = np.asarray(case.volume(session).data, np.float64)
        rows = []
        for s in grid:
            fit = fit_lesion_model(image, seed, bl.spacing, case.labels(session), cores=(ref.core,),
                                   blurs_mm=seg.blurs_mm, scales=(s * 0.9999, s * 1.0001), n_scales=3,
                                   shift_steps_mm=(), band_mm=seg.band_mm, band_fraction=seg.band_fraction)
            rows.append({"scale": float(s), "residual_sd": fit.noise,
                         "contrast": fit.lesion_level - fit.background_level})
        finite = [r for r in rows if np.isfinite(r["residual_sd"])]
        best = min(finite, key=lambda r: r["residual_sd"])
        out["sessions"][session] = {
            "profile": rows, "best_scale": best["scale"],
            "dv_at_best": (best["scale"] / ref.surface.scale) ** 3 - 1.0,
            "segmenter_dv": seg.segment(case.volume(session).data, seed, bl.spacing, case.labels(session),
                                        core=ref.core).volume_mm3 / ref.volume_mm3 - 1.0,
            "residual_sd_range": [min(r["residual_sd"] for r in finite), max(r["residual_sd"] for r in finite)]}
    save(f"bench_lesion_profile-{args.dataset}-{args.case}", out)


if __name__ == "__main__":
    main()
