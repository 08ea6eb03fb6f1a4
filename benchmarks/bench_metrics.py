"""Per-case cost of the metric suite, and batched LPIPS vs a straightforward per-slice loop.

Run:  python benchmarks/bench_metrics.py [--shape 91,109,91] [--repeats 3] [--json out.json]

Builds one phantom case (``harmbench.testing.toy``) at the given grid, scores its original FU
(with a reconstruction, so every ``recon-*`` value is computed too) with every core metric and
reports the median wall time per metric over ``--repeats`` runs. The LPIPS baseline is what a
direct use of the ``lpips`` package looks like: one ``net(bl_slice, fu_slice)`` call per slice
(BL features recomputed for each comparison); the ratio baseline / ours is the speed-up. The CNR
baseline is the textbook per-region loop on the label map as loaded (np.isin on the NIfTI array,
background eroded and ROI dilated over the whole volume for every region).
Timings depend on the machine and on concurrent load: compare ratios, not absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import numpy as np


def _case_context(shape: tuple[int, int, int]):
    from harmbench.data.cohort import Cohort
    from harmbench.metrics.base import ScoringContext
    from harmbench.testing.toy import write_toy_cohort

    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        manifest = write_toy_cohort(tmp, n_train=0, n_val=0, n_test_a=1, n_test_b=0, shape=shape)
        case = Cohort.from_manifest(manifest).cases[0]
        bl, fu = case.volume("BL"), case.volume("FU")
        recon = bl.with_data(np.clip(bl.data + np.float32(0.01), 0, 1))
        return ScoringContext(case=case, bl=bl, fu=fu, fu_original=fu, recon=recon, labels_bl=case.labels("BL"),
                              labels_fu=case.labels("FU"), lesion_bl=case.lesion("BL"),
                              lesion_fu=case.lesion("FU"), slice_range=case.slice_range, change=case.change)


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _lpips_baseline(ctx) -> float:
    """Per-slice official forward: net(bl, fu) and net(bl, recon), one slice at a time."""
    import torch

    from harmbench.metrics.lpips_metric import _to_input, get_network
    from harmbench.metrics.region import kept_slices

    net = get_network()
    st = kept_slices(ctx.bl, (ctx.fu, ctx.recon), ctx.slice_range)
    vals = []
    with torch.no_grad():
        for i in range(st.bl.shape[0]):
            a = _to_input(st.bl[i : i + 1])          # same [-1, 1] 3-channel input as the metric
            for other in st.others:
                vals.append(float(net(a, _to_input(other[i : i + 1]))))
    return float(np.mean(vals))


def _cnr_baseline(ctx) -> list[float]:
    """Per region: ROI and background masks from the label map as loaded, full-volume morphology."""
    from scipy import ndimage

    from harmbench.metrics.cnr import REGIONS, RegionalCnr

    ref = RegionalCnr()
    out = []
    for vol, lab in ((ctx.bl.data, ctx.labels_bl), (ctx.fu.data, ctx.labels_fu)):
        for ids in REGIONS.values():
            roi = np.isin(lab, ids)
            bg = ndimage.binary_erosion(np.isin(lab, ref._background_ids(ids))) & ~ndimage.binary_dilation(roi)
            if not roi.any() or bg.sum() < ref.min_voxels:
                out.append(float("nan"))
                continue
            out.append((vol[roi].astype(np.float64).mean() - vol[bg].astype(np.float64).mean())
                       / vol[bg].astype(np.float64).std())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="91,109,91")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))

    import torch

    from harmbench.metrics.lpips_metric import get_network, weights_source
    from harmbench.metrics.plugin import core_metrics

    ctx = _case_context(shape)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    get_network()
    build = time.perf_counter() - t0
    from harmbench.device import platform_info

    result: dict[str, object] = {"shape": shape, "repeats": args.repeats, "platform": platform_info(),
                                 "torch_threads": torch.get_num_threads(),
                                 "lpips_network_build_s": round(build, 3), "lpips_weights": weights_source()}
    per_metric = {}
    for m in core_metrics():
        m.compute(ctx)  # warm-up
        per_metric[m.name] = _median_time(lambda m=m: m.compute(ctx), args.repeats)
    result["per_metric_s"] = {k: round(v, 4) for k, v in per_metric.items()}
    result["suite_without_lpips_s"] = round(sum(v for k, v in per_metric.items() if k != "lpips"), 4)
    result["suite_total_s"] = round(sum(per_metric.values()), 4)
    _lpips_baseline(ctx)  # warm-up, as for the metrics
    base = _median_time(lambda: _lpips_baseline(ctx), args.repeats)
    result["lpips_per_slice_baseline_s"] = round(base, 4)
    result["lpips_speedup_vs_baseline"] = round(base / per_metric["lpips"], 2)
    from harmbench.metrics.cnr import RegionalCnr

    m = RegionalCnr()
    ours = [c for img, lab in ((ctx.bl.data, ctx.labels_bl), (ctx.fu.data, ctx.labels_fu))
            for c in m.region_cnrs(img, lab).values()]
    np.testing.assert_allclose(_cnr_baseline(ctx), ours, rtol=1e-9)    # same numbers
    base = _median_time(lambda: _cnr_baseline(ctx), args.repeats)
    result["cnr_baseline_s"] = round(base, 4)
    result["cnr_speedup_vs_baseline"] = round(base / per_metric["cnr"], 2)
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
