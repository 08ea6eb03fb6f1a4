"""Wall time per (run, case) unit of harmonize and score: this checkout vs an earlier commit, one run.

Usage: python benchmarks/bench_units.py [--baseline 1d09677] [--cases 6] [--methods identity,histmatch,pix2pix]

The earlier commit (``--baseline``, default: the last commit before per-case sharing) is exported
with ``git archive`` into a temporary folder. For each test case of the prepared ``synth-quick``
data, two fresh Python processes — one per code version, in alternating order so machine load
drifts cancel — run the case's units exactly as ``harmbench evaluate`` does:

* harmonize: :func:`harmbench.harness.units.harmonize_unit` once per method;
* score: the reference rows (original FU, same-scanner FU2) and every harmonized image with every
  metric that both versions register: one ``score_unit`` per image on the baseline (its stage's unit), one
  ``score_case_unit`` per case on this checkout (the stage's unit now), each with fresh records.

Each process runs one torch thread (a pool worker's setting on 2 CPUs) and is timed from inside, after
its imports and the LPIPS network load. Reports the mean seconds per (run, case) unit of each
stage, the ratios baseline / now, and whether every metric value is identical bit for bit (float64
``repr``). A learned method needs a fitted model: ``--model-dir`` (the pix2pix ``quick`` fit of
seed 0 is fitted into a temporary folder when not given).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import export_revision, save

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = "1d09677"
LEARNED = {"pix2pix": {"device": "cpu", "preset": "quick", "seed": 0}}


def worker(args: argparse.Namespace) -> None:
    """One code version, one case: time its harmonize and score units, print JSON."""
    os.environ.setdefault("HARMBENCH_QUIET", "1")
    import torch

    torch.set_num_threads(1)
    from harmbench import registry
    from harmbench.harness import units

    metrics = args.metrics.split(",")
    for m in metrics:
        registry.get_metric(m).available()  # loads the LPIPS network before the clock starts
    tmp = Path(args.tmp)
    harm, t_harm = {}, {}
    for name in args.methods.split(","):
        params, model = LEARNED.get(name, {}), args.model_dir if name in LEARNED else None
        t0 = time.perf_counter()
        harm[name] = units.harmonize_unit(name, params, model, args.manifest, args.case, str(tmp / "h" / name))
        t_harm[name] = time.perf_counter() - t0
    jobs = {}
    for ref, session in (("original-fu", "FU"), ("same-scanner-fu2", "FU2")):
        jobs[ref] = {"image": None, "recon": None, "session": session, "source": None}
    for name, h in harm.items():
        jobs[name] = {"image": h["files"]["harmonized"], "recon": h["files"].get("recon"), "session": "FU",
                      "source": h.get("source")}
    for key, job in jobs.items():
        job.update(case_id=args.case, manifest=args.manifest, params={},
                   records={m: str(tmp / "s" / key / f"{m}.json") for m in metrics})
    t0 = time.perf_counter()
    if hasattr(units, "score_case_unit"):
        outs = units.score_case_unit(list(jobs.values()))
        errors = [o.error for o in outs if o.error]
        results = [o.result for o in outs]
    else:
        results, errors = [units.score_unit(**job) for job in jobs.values()], []
    t_score = time.perf_counter() - t0
    rows = {key: {f"{r['metric']}|{r['region']}": repr(r["value"]) for r in res["rows"]}
            for key, res in zip(jobs, results)}
    print(json.dumps({"harmonize": t_harm, "score": t_score, "images": len(jobs), "rows": rows, "errors": errors}))


def run_version(path: Path, case: str, manifest: str, args: argparse.Namespace) -> dict:
    tmp = tempfile.mkdtemp(prefix="bench-units-")
    env = {**os.environ, "PYTHONPATH": f"{path}{os.pathsep}{path / 'plugins'}", "HARMBENCH_QUIET": "1"}
    try:
        out = subprocess.run([sys.executable, __file__, "--worker", "--case", case, "--manifest", manifest,
                              "--tmp", tmp, "--methods", args.methods, "--model-dir", args.model_dir or "",
                              "--metrics", args.metrics],
                             env=env, check=True, capture_output=True, text=True, cwd=tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def registered_metrics(path: Path) -> list[str]:
    """The metric names registered by the code at ``path`` (a fresh process on that checkout)."""
    env = {**os.environ, "PYTHONPATH": f"{path}{os.pathsep}{path / 'plugins'}", "HARMBENCH_QUIET": "1"}
    code = "import json; from harmbench import registry; print(json.dumps(list(registry.metrics())))"
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True,
                         cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit_model(method: str, manifest: str, folder: Path) -> str:
    from harmbench.harness.units import fit_unit

    return fit_unit(method, LEARNED[method], manifest, str(folder / "model"), str(folder / "train"))["model_dir"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare with")
    ap.add_argument("--cases", type=int, default=6, help="test cases (alternately from test sets A and B)")
    ap.add_argument("--methods", default="identity,histmatch,pix2pix")
    ap.add_argument("--model-dir", default=None, help="fitted pix2pix (quick, seed 0) model folder")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--manifest", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    ap.add_argument("--metrics", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.model_dir = args.model_dir or None
        worker(args)
        return
    os.environ.setdefault("HARMBENCH_QUIET", "1")
    from harmbench.data.cohort import Cohort
    from harmbench.data.resolve import prepared_manifest

    manifest = str(prepared_manifest("synth-quick"))
    cohort = Cohort.from_manifest(manifest)
    a, b = cohort.split("test-A"), cohort.split("test-B")
    cases = [c.case_id for pair in zip(a, b) for c in pair][: args.cases]
    work = Path(tempfile.mkdtemp(prefix="bench-units-"))
    try:
        base = work / "baseline"
        base.mkdir()
        export_revision(args.baseline, base)
        # both versions score the metrics they share, so the times compare the same work
        old_metrics, new_metrics = registered_metrics(base), registered_metrics(ROOT)
        args.metrics = ",".join(m for m in new_metrics if m in old_metrics)
        if any(m in LEARNED for m in args.methods.split(",")) and not args.model_dir:
            t0 = time.perf_counter()
            args.model_dir = fit_model("pix2pix", manifest, work)
            print(f"fitted pix2pix in {time.perf_counter() - t0:.0f} s", flush=True)
        per = {"baseline": [], "now": []}
        load = [os.getloadavg()[0]]
        for i, case in enumerate(cases):
            order = [("baseline", base), ("now", ROOT)]
            for label, path in order if i % 2 == 0 else order[::-1]:
                per[label].append(run_version(path, case, manifest, args))
            print(f"{case}: score {per['baseline'][-1]['score']:.1f} s -> {per['now'][-1]['score']:.1f} s", flush=True)
            load.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    methods = args.methods.split(",")
    record = {"dataset": "synth-quick", "baseline": args.baseline, "cases": cases, "methods": methods,
              "metrics": args.metrics.split(","),
              "metrics_only_now": [m for m in new_metrics if m not in old_metrics],
              "metrics_only_baseline": [m for m in old_metrics if m not in new_metrics],
              "torch_threads": 1, "per_unit_seconds": {}, "ratio_baseline_over_now": {}}
    for label, runs in per.items():
        harm = {m: sum(r["harmonize"][m] for r in runs) / len(runs) for m in methods}
        images = sum(r["images"] for r in runs)
        record["per_unit_seconds"][label] = {
            "harmonize": harm, "harmonize_mean": sum(harm.values()) / len(harm),
            "score_per_image": sum(r["score"] for r in runs) / images,
            # a (run, case) unit = one harmonization + the scoring of one image
            "harmonize+score": sum(harm.values()) / len(harm) + sum(r["score"] for r in runs) / images}
    old, new = record["per_unit_seconds"]["baseline"], record["per_unit_seconds"]["now"]
    record["ratio_baseline_over_now"] = {
        **{f"harmonize {m}": round(old["harmonize"][m] / new["harmonize"][m], 2) for m in methods},
        "harmonize": round(old["harmonize_mean"] / new["harmonize_mean"], 2),
        "score": round(old["score_per_image"] / new["score_per_image"], 2),
        "harmonize+score": round(old["harmonize+score"] / new["harmonize+score"], 2)}
    values, differ, unmatched, differ_metrics = 0, [], set(), set()
    for case, r_old, r_new in zip(cases, per["baseline"], per["now"]):
        for key, rows in r_old["rows"].items():
            new_rows = r_new["rows"][key]
            unmatched |= rows.keys() ^ new_rows.keys()   # a row one version writes and the other does not
            for k in rows.keys() & new_rows.keys():
                values += 1
                v, w = rows[k], new_rows[k]
                if not (v == w or (math.isnan(float(v)) and math.isnan(float(w)))):
                    differ.append(f"{case} {key} {k}: {v} -> {w}")
                    differ_metrics.add(k.split("|")[0])
    record["values_compared"], record["values_differing"] = values, len(differ)
    record["differing_metrics"] = sorted(differ_metrics)
    record["differing"], record["rows_in_one_version_only"] = differ[:50], sorted(unmatched)
    record["errors"] = [e for r in per["now"] + per["baseline"] for e in r["errors"]]
    record["load_average"] = load
    record["note"] = ("ratios of interleaved runs in one invocation; both versions score the metrics they share "
                      "(`metrics`); per-unit score time includes the reference rows (4-5 images per case share one "
                      "case's work)")
    save("bench_units-synth-quick", record)


if __name__ == "__main__":
    main()
