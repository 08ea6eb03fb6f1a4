"""Why the lesion instrument misses follow-up volumes under biology: the necrotic-core change.

Usage: python benchmarks/bench_lesion_core.py [--dataset synth-quick-bio]

With inter-session biology (docs/datasets.md), a *changing* ring target's necrotic-core fraction
shifts between BL and the follow-up (−0.10…+0.15). The default segmenter fits the follow-up with
BL's fitted core fraction (docs/metrics.md), so for those targets the model is misspecified. For
every case this measures the same-scanner FU2 (FU's time point, BL's scanner), against the truth
(``truth.json``):

* ``default``: :func:`~harmbench.metrics.lesion_seg.segment_pair` as the metrics run it;
* ``true_core``: the follow-up fitted with the truth's follow-up core fraction (an oracle);
* ``shifted_core``: BL's fitted core plus the truth's core change (an oracle of the change only);
* ``window``: the follow-up fitted with each core fraction within ±0.15 of BL's, with the
  residual noise of each fit, to show whether the image itself could pick the core
  (``core_by_residual``: the misses when the lowest-residual core is taken, given a minimum gain).

Reports per case the FU2 volume error and ΔV/V error of each, counts of |ΔV/V error| > 0.10, and
the size call on FU2 with its threshold calibrated on the train/val same-scanner pairs as the change
read calibrates it (the middle of the *first* run of best thresholds) and at the middle of the
longest run instead (docs/datasets.md). Writes
``benchmarks/results/bench_lesion_core-<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from _common import save
from harmbench.data.cohort import Cohort
from harmbench.data.resolve import prepared_manifest
from harmbench.metrics.lesion_model import fit_lesion_model
from harmbench.metrics.change_read import CHANGED_ABOVE, SIZE_GRID, STABLE_BELOW, _size_threshold, size_errors
from harmbench.metrics.lesion_seg import ModelFitSegmenter, segment_pair

WINDOW = tuple(0.05 * k for k in range(-3, 4))


def measure_case(seg: ModelFitSegmenter, case, truth: dict) -> dict:
    """The FU2 measurements of one case (module docstring)."""
    bl, fu2 = case.volume("BL"), case.volume("FU2")
    spacing, seed = tuple(bl.spacing), case.lesion("BL")
    lab = case.labels("FU2")
    ref, fu = segment_pair(seg, bl=bl.data, fu=fu2.data, seed=seed, spacing=spacing,
                           labels_bl=case.labels("BL"), labels_fu=lab)
    target = truth["lesions"][0]
    core = (truth.get("biology") or {}).get("target", {})
    true_fu, change = target["volume_fu_mm3"], truth["change"]

    def errors(volume: float) -> dict:
        return {"volume_error": volume / true_fu - 1.0, "dv_error": volume / ref.volume_mm3 - 1.0 - change}

    rec = {"case": case.case_id, "split": case.split, "change": change, "core_bl_true": core.get("core_bl"),
           "core_fu_true": core.get("core_fu"), "core_bl_fitted": ref.core, "default": errors(fu.volume_mm3)}
    if ref.core > 0 and core.get("core_fu"):
        rec["true_core"] = errors(seg.segment(fu2.data, seed, spacing, lab, core=core["core_fu"]).volume_mm3)
        shifted = float(np.clip(ref.core + core["core_fu"] - core["core_bl"], 0.3, 0.85))
        rec["shifted_core"] = errors(seg.segment(fu2.data, seed, spacing, lab, core=shifted).volume_mm3)
        rec["window"] = []
        for d in WINDOW:
            c = round(float(np.clip(ref.core + d, 0.3, 0.85)), 3)
            fit = fit_lesion_model(np.asarray(fu2.data, np.float64), seed, spacing, lab, cores=(c,),
                                   blurs_mm=seg.blurs_mm, scales=seg.scales, n_scales=seg.n_scales,
                                   band_mm=seg.band_mm, band_fraction=seg.band_fraction)
            rec["window"].append({"core": c, "noise": fit.noise, **errors(fit.volume_mm3)})
    return rec


def residual_pick(cases: list[dict], gain: float) -> dict:
    """FU2 ΔV/V misses (> 0.10) when the follow-up's core is the window's lowest-residual one, kept
    at BL's core unless the residual sum of squares drops by more than ``gain`` (a fraction)."""
    errs = []
    for c in cases:
        window = c.get("window")
        if not window:
            errs.append(c["default"]["dv_error"])
            continue
        base = min(window, key=lambda w: abs(w["core"] - c["core_bl_fitted"]))
        best = min(window, key=lambda w: w["noise"])
        pick = best if best["noise"] ** 2 < (1.0 - gain) * base["noise"] ** 2 else base
        errs.append(pick["dv_error"])
    errs = np.abs(errs)
    return {"gain": gain, "over_010": int((errs > 0.10).sum()), "n": len(errs)}


def size_calls(cases: list[dict], key: str) -> dict:
    """The FU2 size call (|ΔV/V| > t) with t calibrated on the train/val cases as the change read
    calibrates it (:meth:`~harmbench.metrics.change_read.ChangeRead.calibrate`: the middle of the
    longest run of best thresholds; before session 25 the first run), scored on test A (false calls)
    and B (misses). Records the calibration's error count per threshold."""
    def measured(c):
        return c.get(key, c["default"])["dv_error"] + c["change"]

    cal = [c for c in cases if c["split"] in ("train", "val")]
    stable = [abs(measured(c)) for c in cal if abs(c["change"]) < STABLE_BELOW]
    changed = [(c["change"], measured(c)) for c in cal if abs(c["change"]) > CHANGED_ABOVE]
    errors = size_errors(stable, changed)
    out = {"calibration_pairs": {"stable": len(stable), "changed": len(changed)},
           "errors_by_threshold": {f"{t:.3f}": int(e) for t, e in zip(SIZE_GRID, errors) if t <= 0.3}}
    for rule, t in (("change_read", _size_threshold(stable, changed)),):
        out[rule] = {"threshold": t}
        for split in ("test-A", "test-B"):
            pairs = [(measured(c), c["change"]) for c in cases if c["split"] == split]
            out[rule][split] = {
                "false_calls": sum(1 for m, ch in pairs if ch == 0 and abs(m) > t),
                "misses": sum(1 for m, ch in pairs if ch != 0 and not (abs(m) > t and np.sign(m) == np.sign(ch))),
                "n": len(pairs)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="synth-quick-bio")
    args = ap.parse_args()
    manifest = prepared_manifest(args.dataset)
    truth = {c["case"]: c for c in json.loads((manifest.parent.parent / "raw" / "truth.json").read_text())["cases"]}
    seg = ModelFitSegmenter()
    cases = []
    for case in Cohort.from_manifest(manifest).cases:
        cases.append(measure_case(seg, case, truth[case.case_id]))
        d = cases[-1]["default"]["dv_error"]
        print(f"{case.case_id} {case.split:6s} dV/V error {d:+.3f}", flush=True)
    summary = {}
    for key in ("default", "true_core", "shifted_core"):
        errs = np.abs([c.get(key, c["default"])["dv_error"] for c in cases])
        summary[key] = {"over_010": int((errs > 0.10).sum()), "n": len(errs), "median_abs": float(np.median(errs)),
                        "size_call": size_calls(cases, key)}
    summary["core_by_residual"] = [residual_pick(cases, g) for g in (0.0, 0.01, 0.02, 0.05, 0.10)]
    changed = [c for c in cases if c.get("core_fu_true") is not None and c["core_bl_true"] != c["core_fu_true"]]
    summary["core_changed_cases"] = len(changed)
    summary["core_changed_over_010"] = {k: int(sum(abs(c[k]["dv_error"]) > 0.10 for c in changed))
                                        for k in ("default", "true_core", "shifted_core")}
    save(f"bench_lesion_core-{args.dataset}", {"dataset": args.dataset, "summary": summary, "cases": cases,
                                               "note": "keys other than default fall back to default for "
                                                       "solid targets (no core to set)"})


if __name__ == "__main__":
    main()
