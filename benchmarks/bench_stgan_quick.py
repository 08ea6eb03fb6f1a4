"""Screening of STGAN quick presets: test-A volume PSNR gain over the original FU, per seed, per validation point.

Fits ``stgan`` on the prepared synth-quick data (train / val splits) and, at every validation
point of the fit, also harmonizes the test-A FU volumes with the current (weight-averaged)
networks, the style read from the patient's own BL as in the benchmark, and scores them with
harmbench's own volume metric (:func:`harmbench.metrics.similarity.volume_scores`, head-masked
``psnr``, the value in ``leaderboards/synth-quick/results.csv``). Prints and records, per seed,
the validation curve, the test-A curve (``--curve N``: the first N cases, mean gain over the
original FU; it costs about as much as the training), the selected
iteration and the selected model's test-A gain (which is what ``harmbench evaluate`` would score).

Usage::

    python benchmarks/bench_stgan_quick.py [--seeds 0,1,2] [--set lr=2e-4 --set iterations=300]
        [--threads 1] [--label name]

The test-A curve is for screening only (the fit never sees it; selection uses validation).
Timings are CPU seconds on a shared host. Writes ``benchmarks/results/bench_stgan_quick-<label>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from _common import quick_params, save
from harmbench.data.cohort import Cohort
from harmbench.data.resolve import prepared_manifest
from harmbench.metrics.region import head_region
from harmbench.metrics.similarity import volume_scores
from harmbench.training.validation import SliceValidator
from harmbench_stgan.stgan import StyleTransferGAN


def case_psnr(bl, img) -> float:
    mask, box = head_region(bl)
    return volume_scores(bl.data, img.data, box, mask=mask)[1]


class TestAValidator(SliceValidator):
    """The method's validator, plus the test-A volume PSNR gain of the networks being validated."""

    def __init__(self, base: SliceValidator, method: StyleTransferGAN, cases, identity: list[float]) -> None:
        super().__init__(base.fu, base.bl, batch=base.batch, region=base.region, reference=base.reference,
                         passthrough=base.passthrough)
        self.method, self.cases, self.identity = method, cases, identity

    def __call__(self, model) -> dict[str, float]:
        row = super().__call__(model)
        if not self.cases:
            print(f"  val {row['val_psnr']:.3f} dB (ssim {row['val_ssim']:.4f})", flush=True)
            return row
        m = self.method
        m.nets_ = {k: model.nets[k] for k in ("generator", "mapping", "style_encoder")}
        gains = [case_psnr(c.volume("BL"), m._transform(c.volume("FU"), reference=c.volume("BL"))) - i
                 for c, i in zip(self.cases, self.identity)]
        row["testA_gain"] = float(np.mean(gains))
        row["testA_min"] = float(np.min(gains))
        print(f"  val {row['val_psnr']:.3f} dB (ssim {row['val_ssim']:.4f})  test-A gain {row['testA_gain']:+.3f} "
              f"(min {row['testA_min']:+.3f})", flush=True)
        return row


def run_seed(cohort: Cohort, params: dict, seed: int, curve: int) -> dict:
    cases = cohort.split("test-A")
    identity = [case_psnr(c.volume("BL"), c.volume("FU")) for c in cases]
    m = StyleTransferGAN(**params, seed=seed)
    make = m._validator

    def validator(val_cases):
        base = make(val_cases)
        return TestAValidator(base, m, cases[:curve], identity[:curve])

    m._validator = validator  # type: ignore[method-assign]
    t0 = time.perf_counter()
    m.fit(cohort)
    seconds = time.perf_counter() - t0
    h = m.training_history_
    final = [case_psnr(c.volume("BL"), m.transform(c.volume("FU"), reference=c.volume("BL"))) - i
             for c, i in zip(cases, identity)]
    ident = h.identity_score or 0.0
    rows = [{"it": r["iteration"], "val_gain": round(r["val_psnr"] - ident, 3), "val_ssim": round(r["val_ssim"], 4),
             "testA_gain": round(r.get("testA_gain", np.nan), 3), "testA_min": round(r.get("testA_min", np.nan), 3),
             "D_acc": round(r.get("D_ref_acc", r.get("D_lat_acc", float("nan"))), 3), "s": r["seconds"]}
            for r in h.rows]
    out = {"seed": seed, "selected": h.selected_iteration, "stop": h.stop_reason,
           "iterations_run": h.iterations_run, "near_identity": h.near_identity,
           "testA_identity_psnr": round(float(np.mean(identity)), 3),
           "testA_gain": round(float(np.mean(final)), 3), "testA_min_case_gain": round(float(np.min(final)), 3),
           "fit_seconds": round(seconds, 1), "curve": rows}
    print(json.dumps({k: v for k, v in out.items() if k != "curve"}))
    for r in rows:
        print("   ", r)
    return out


def score_checkpoint(cohort: Cohort, params: dict, directory: Path) -> dict:
    """Test-A gain of the weight-averaged networks in a fit's ``work_dir/last`` (a fit still running)."""
    m = StyleTransferGAN(**params)
    train = cohort.train
    m.domains_ = sorted({r.scanner for c in train for r in c.sessions.values()})
    m.bl_domain_ = sorted({c.ref("BL").scanner for c in train})[0]
    nets = m._build(len(m.domains_))
    for k in ("generator", "mapping", "style_encoder"):
        nets[k].load_state_dict(torch.load(directory / "last" / f"ema_{k}.pt", weights_only=True))
        nets[k].eval()
    m.nets_ = nets
    state = json.loads((directory / "last" / "state.json").read_text())
    gains = [case_psnr(c.volume("BL"), m._transform(c.volume("FU"), reference=c.volume("BL")))
             - case_psnr(c.volume("BL"), c.volume("FU")) for c in cohort.split("test-A")]
    out = {"checkpoint": str(directory), "iteration": state["iteration"], "testA_gain": round(float(np.mean(gains)), 3),
           "testA_min_case_gain": round(float(np.min(gains)), 3)}
    print(json.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default=str(Path.home() / ".cache/harmbench/datasets/synth-quick/seed-0/prepared/manifest.csv"))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--set", action="append", default=[], help="parameter override name=value (JSON value)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--label", default="quick")
    ap.add_argument("--score-checkpoint", type=Path, default=None,
                    help="only score the EMA networks of this running fit's work_dir/last on test A")
    ap.add_argument("--curve", type=int, default=0,
                    help="score the first N test-A cases at every validation point (0: only the final model)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    params = quick_params(a.set)
    cohort = Cohort.from_manifest(prepared_manifest(a.dataset))
    if a.score_checkpoint is not None:
        score_checkpoint(cohort, params, a.score_checkpoint)
        return
    results = [run_seed(cohort, params, int(s), a.curve) for s in a.seeds.split(",")]
    save(f"bench_stgan_quick-{a.label}", {"dataset": a.dataset, "params": params, "threads": a.threads,
                                          "seeds": results})


if __name__ == "__main__":
    main()
