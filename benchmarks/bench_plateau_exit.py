"""When does a quick CycleGAN-family fit leave the identity plateau, in fp32 and in bf16 autocast?

The toy pair of ``tests/gan/test_identity_trap.py`` (BL = smooth synthetic head slices, FU = a
known monotone curve of BL; 4-channel residual nets on 32² slices, lr 5e-3) is fitted per variant,
seed and precision for a fixed number of iterations without a stopping rule. Recorded per fit: the
first validation period whose PSNR is at least ``--margin`` dB above the identity map's (None:
never within the run) and the best gain.

Why it exists: the identity-trap test asserts an exit within its cap for *one* seed. The exit from
the plateau is chaotic: any change of rounding (bf16 autocast, another CPU's kernels) moves it by
tens of iterations in either direction, so the test runs one numeric path (fp32), and this
benchmark shows the spread over seeds for both precisions.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_plateau_exit.py [--seeds 6] [--iterations 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "gan"))

from _common import save  # noqa: E402
from harmbench.training.loop import LoopConfig, fit  # noqa: E402
from harmbench.training.validation import SliceValidator  # noqa: E402
from harmbench_gan.base import SELECTION_PSNR  # noqa: E402
from harmbench_gan.models import CycleConfig, CycleModel  # noqa: E402
from test_identity_trap import VARIANTS, _pair  # noqa: E402

PRECISIONS = {"fp32": "fp32", "bf16": "mixed"}


def exit_iteration(variant: str, seed: int, precision: str, iterations: int, margin: float) -> dict:
    torch.manual_seed(seed)
    lam = VARIANTS[variant]
    model = CycleModel(CycleConfig(ngf=4, n_blocks=1, ndf=4, residual=True, discriminator="patch", lr=5e-3,
                                   lambda_oml=lam["lambda_oml"], lambda_identity=lam["lambda_identity"]),
                       seed=seed, precision=PRECISIONS[precision])
    train, val = _pair(12, seed=1), _pair(6, seed=2)
    validator = SliceValidator(val.fu, val.bl)
    cfg = LoopConfig(iterations=iterations, val_every=5, lr=5e-3, decay_start=0.25, seed=seed, selection=SELECTION_PSNR)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hist = fit(model, train.sampler(batch_size=4, crop=None, flip=True, seed=seed), cfg, validator=validator,
                   work_dir=Path(work), fingerprint={"variant": variant, "seed": seed, "precision": precision},
                   method=variant)
    identity = validator.identity()["val_psnr"]
    return {"exit": next((r["iteration"] for r in hist.rows if r["val_psnr"] >= identity + margin), None),
            "best_gain_db": round(max(r["val_psnr"] for r in hist.rows) - identity, 2),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--margin", type=float, default=3.0)
    args = ap.parse_args()
    rows = {}
    for variant in sorted(VARIANTS):
        for precision in PRECISIONS:
            fits = [exit_iteration(variant, s, precision, args.iterations, args.margin) for s in range(args.seeds)]
            rows[f"{variant}/{precision}"] = {"exit_by_seed": [f["exit"] for f in fits],
                                              "best_gain_db_by_seed": [f["best_gain_db"] for f in fits],
                                              "seconds": round(sum(f["seconds"] for f in fits), 1)}
            print(variant, precision, rows[f"{variant}/{precision}"]["exit_by_seed"], flush=True)
    save("bench_plateau_exit", {"iterations": args.iterations, "margin_db": args.margin, "threads": torch.get_num_threads(),
                                "rows": rows})


if __name__ == "__main__":
    main()
