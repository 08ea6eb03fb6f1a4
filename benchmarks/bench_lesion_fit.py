"""Speed and bit-identity of the lesion model fit against an earlier implementation.

    python benchmarks/bench_lesion_fit.py [--base COMMIT] [--cases N]

Runs ``segment_pair(default_segmenter(), …)`` (BL anchored, then FU / FU2) on every synth-quick
case, once with ``harmbench/metrics/lesion_model.py`` as of ``--base`` (loaded from git into a
temporary module) and once with the working tree's, interleaved (alternating which goes first), and
compares every float of every returned ``ModelFit`` by ``repr`` (masks, radii and centres
by ``np.array_equal``). Records the number of fits and of differing values, and the seconds
spent in ``fit_lesion_model`` (wall and CPU) and in ``segment_pair`` (wall) by each
implementation. Run with ``OMP_NUM_THREADS=1``. Writes ``benchmarks/results/bench_lesion_fit.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import save
import harmbench.metrics.lesion_model as new_model
import harmbench.metrics.lesion_seg as lesion_seg
from harmbench.data.cohort import Cohort
from harmbench.data.resolve import prepared_manifest

#: the last commit before the screened grid search
BASE = "a210b02"
FLOATS = ("volume_mm3", "scale", "core", "blur_mm", "lesion_level", "background_level", "noise")


def load_base(commit: str):
    """``harmbench/metrics/lesion_model.py`` as of ``commit``, imported as a separate module."""
    repo = Path(__file__).resolve().parents[1]
    src = subprocess.run(["git", "show", f"{commit}:harmbench/metrics/lesion_model.py"], cwd=repo,
                         check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "lesion_model_base.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("lesion_model_base", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def differences(a, b) -> int:
    """Differing values of two ModelFits (floats by repr; arrays bit for bit)."""
    n = sum(repr(getattr(a, f)) != repr(getattr(b, f)) for f in FLOATS)
    n += not np.array_equal(a.mask, b.mask)
    n += repr(float(a.surface.scale)) != repr(float(b.surface.scale))
    n += not np.array_equal(a.surface.centre_mm, b.surface.centre_mm)
    n += not np.array_equal(a.surface.radii, b.surface.radii)
    return int(n)


def run(fit_fn, case, session: str) -> tuple[list, np.ndarray, float]:
    """The ModelFits of one segment_pair call, the (wall, CPU) seconds in fit_lesion_model and the
    wall seconds in segment_pair."""
    fits, spent = [], np.zeros(2)

    def timed(*args, **kwargs):
        t = np.array([time.perf_counter(), time.process_time()])
        fits.append(fit_fn(*args, **kwargs))
        spent[:] += np.array([time.perf_counter(), time.process_time()]) - t
        return fits[-1]

    bl, fu = case.volume("BL"), case.volume(session)
    seed, lab_bl, lab_fu = case.lesion("BL"), case.labels("BL"), case.labels(session)
    lesion_seg.fit_lesion_model = timed
    try:
        t = time.perf_counter()
        lesion_seg.segment_pair(lesion_seg.default_segmenter(), bl=bl.data, fu=fu.data, seed=seed,
                                spacing=tuple(bl.spacing), labels_bl=lab_bl, labels_fu=lab_fu)
        total = time.perf_counter() - t
    finally:
        lesion_seg.fit_lesion_model = new_model.fit_lesion_model
    return fits, spent, total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default=BASE, help="commit of the reference implementation")
    ap.add_argument("--cases", type=int, default=0, help="only the first N cases (0 = all)")
    args = ap.parse_args()
    base = load_base(args.base)
    cohort = Cohort.from_manifest(prepared_manifest("synth-quick"))
    cases = [c for s in ("train", "val", "test-A", "test-B") for c in cohort.split(s)]
    cases = cases[:args.cases] if args.cases else cases
    impls = {"old": base.fit_lesion_model, "new": new_model.fit_lesion_model}
    fit_s = {k: np.zeros(2) for k in impls}
    pair_s = {k: 0.0 for k in impls}
    n_pairs = n_fits = n_diff = 0
    differing = []
    for case in cases:
        for session in ("FU", "FU2"):
            order = ("old", "new") if n_pairs % 2 == 0 else ("new", "old")
            out = {}
            for k in order:
                out[k], f, p = run(impls[k], case, session)
                fit_s[k] += f
                pair_s[k] += p
            d = sum(differences(a, b) for a, b in zip(out["old"], out["new"], strict=True))
            n_pairs += 1
            n_fits += len(out["new"])
            n_diff += d
            if d:
                differing.append(f"{case.case_id}/{session}")
    save("bench_lesion_fit", {
        "dataset": "synth-quick", "base": args.base, "cases": len(cases), "segment_pairs": n_pairs,
        "model_fits": n_fits, "differing_values": n_diff, "differing_pairs": differing,
        "fit_seconds": {k: v[0] for k, v in fit_s.items()},
        "fit_cpu_seconds": {k: v[1] for k, v in fit_s.items()},
        "segment_pair_seconds": pair_s, "fit_speedup": fit_s["old"][0] / fit_s["new"][0],
        "fit_cpu_speedup": fit_s["old"][1] / fit_s["new"][1],
        "segment_pair_speedup": pair_s["old"] / pair_s["new"]})


if __name__ == "__main__":
    main()
