"""Benchmark of the slice-GAN engine (ratios measured in one run; the CPU may be shared).

1. 3x3-convolution peak: best sustained GFLOP/s of a plain ``Conv2d(256, 256, 3)`` on 64x64
   maps (the layer that makes up 90 % of the paper generator), over batch sizes 1/4 and memory
   formats, each timing 12 images back to back (≈ 0.3 s, as long as one generator pass: a single
   22 ms call catches clock bursts the workload never sees), best of 3, measured in alternation
   with the inference timings (the machine load changes over a run).
2. Inference with the paper generator (ResNet-9, ngf 64) on 256x256 slices: a naive per-slice
   ``no_grad`` loop vs the engine's path (:func:`harmbench.training.inference.harmonize_stack`) eager
   with batch 1 and 4, and compiled (``torch.compile`` with Inductor freezing, what the engine
   uses on the CPU for a 256³ volume), as GFLOP/s, as a fraction of the peak, and extrapolated
   to a 256-slice volume (the compiled figure includes the measured compilation time).
3. Training step of the paper architecture (batch 1): the authors' loop style (the discriminator
   step re-runs both generators with autograd and backpropagates through them; discriminator
   weights collect gradients in the generator step) vs :meth:`CycleModel.train_step`, with the
   paper's OML (needs G(x) identity outputs) and for CycleGAN without identity loss; in fp32
   (the default on the CPU) and with ``precision="mixed"`` (bfloat16 autocast).

The ``engine_compiled_mixed`` inference row runs the compiled generator under bfloat16 autocast;
its fraction is of the bfloat16 conv peak, and its output is compared with the fp32 engine's.

Usage::

    python benchmarks/bench_gan.py [--size 256] [--steps 3] [--slices 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harmbench.device import platform_info
from harmbench.training.inference import harmonize_stack
from harmbench_gan import losses
from harmbench_gan.models import CycleConfig, CycleModel
from harmbench_gan.networks import ResnetGenerator, init_weights


def conv_flops(net: nn.Module, shape: tuple[int, ...]) -> float:
    """FLOPs (2 x MACs) of all convolutions of one forward pass on ``shape``."""
    total = [0.0]

    def hook(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        if isinstance(m, nn.ConvTranspose2d):
            x = inp[0]
            total[0] += 2.0 * x.numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
        else:
            total[0] += 2.0 * out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] / m.groups

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.inference_mode():
        net(torch.zeros(shape))
    for h in hs:
        h.remove()
    return total[0]


def _time(fn, reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def _peak_once(dtype: torch.dtype = torch.float32) -> dict:
    best = {"gflops": 0.0}
    for fmt in (torch.contiguous_format, torch.channels_last):
        conv = nn.Conv2d(256, 256, 3, padding=1).to(dtype=dtype, memory_format=fmt)
        for b in (1, 4):
            x = torch.randn(b, 256, 64, 64, dtype=dtype).contiguous(memory_format=fmt)
            inner = 12 // b                       # ≈ 0.3 s per timing, like one generator pass

            def run() -> None:
                for _ in range(inner):
                    conv(x)

            with torch.inference_mode():
                t = _time(run, 3) / inner
            g = 2 * 256 * 256 * 9 * 64 * 64 * b / t / 1e9
            if g > best["gflops"]:
                best = {"gflops": g, "batch": b, "channels_last": fmt is torch.channels_last}
    return best


def inference(slices: int, reps: int) -> dict:
    """Peak, naive loop and engine timed in alternation; the best of ``reps`` rounds of each is kept."""
    g = init_weights(ResnetGenerator(ngf=64, n_blocks=9), seed=0).eval()
    flop = conv_flops(g, (1, 1, 256, 256))
    stack = np.random.default_rng(0).random((slices, 256, 256)).astype(np.float32)

    def naive() -> None:
        with torch.no_grad():
            for s in stack:
                g(torch.from_numpy(s * 2 - 1)[None, None])

    m = CycleModel(CycleConfig(), channels_last=False)
    m.nets["G_fu2bl"] = g
    m_mixed = CycleModel(CycleConfig(), channels_last=False, precision="mixed")   # bfloat16 autocast
    m_mixed.nets["G_fu2bl"] = g

    def engine(batch: int, compiled: bool = False, model: CycleModel = m):
        return lambda: harmonize_stack(stack, lambda x, _: model.run("G_fu2bl", x, compiled=compiled),
                                       multiple=4, batch=batch)

    t0 = time.perf_counter()
    with torch.inference_mode():
        m.run("G_fu2bl", torch.zeros(1, 1, 256, 256), compiled=True)   # compile (or load torch's cache)
    compile_s = time.perf_counter() - t0
    with torch.inference_mode():
        m_mixed.run("G_fu2bl", torch.zeros(1, 1, 256, 256), compiled=True)
    variants = {"naive": naive, "engine_b1": engine(1), "engine_b4": engine(4),
                "engine_compiled": engine(1, compiled=True),
                "engine_compiled_mixed": engine(1, compiled=True, model=m_mixed)}
    best_t = {k: float("inf") for k in variants}
    peak, peak_bf16 = {"gflops": 0.0}, {"gflops": 0.0}
    for _ in range(reps):
        p = _peak_once()
        peak = p if p["gflops"] > peak["gflops"] else peak
        p = _peak_once(torch.bfloat16)
        peak_bf16 = p if p["gflops"] > peak_bf16["gflops"] else peak_bf16
        for k, fn in variants.items():
            t = time.perf_counter()
            fn()
            best_t[k] = min(best_t[k], time.perf_counter() - t)
    res: dict = {"gflop_per_slice": flop / 1e9, "conv_peak": peak, "conv_peak_bf16": peak_bf16,
                 "compile_s": compile_s}
    for k, t in best_t.items():
        ref = peak_bf16 if k.endswith("mixed") else peak
        res[k] = {"s_per_slice": t / slices, "gflops": flop * slices / t / 1e9,
                  "fraction_of_peak": flop * slices / t / 1e9 / ref["gflops"]}
    y32 = harmonize_stack(stack[:2], lambda x, _: m.run("G_fu2bl", x, compiled=True), multiple=4, batch=1)
    y16 = harmonize_stack(stack[:2], lambda x, _: m_mixed.run("G_fu2bl", x, compiled=True), multiple=4, batch=1)
    res["engine_compiled_mixed"]["abs_err_vs_fp32"] = {"mean": float(np.abs(y16 - y32).mean()),
                                                       "max": float(np.abs(y16 - y32).max())}
    return res


# ---------------------------------------------------------------- the authors' loop style
def naive_step(nets: dict, opts: dict, x_a: torch.Tensor, x_b: torch.Tensor, cfg: CycleConfig) -> None:
    g_a, g_b, d_a, d_b = nets["G_fu2bl"], nets["G_bl2fu"], nets["D_bl"], nets["D_fu"]
    bce = F.binary_cross_entropy_with_logits

    def gan(logits: torch.Tensor, real: bool) -> torch.Tensor:
        return bce(logits, torch.full_like(logits, float(real)))

    opts["G"].zero_grad()
    fake_a, fake_b = g_a(x_b), g_b(x_a)
    rec_a, rec_b = g_a(fake_b), g_b(fake_a)
    total = cfg.lambda_adv * (gan(d_a(fake_a), True) + gan(d_b(fake_b), True))
    total = total + cfg.lambda_ccl * losses.cycle_loss(x_a, rec_a, x_b, rec_b)
    if cfg.lambda_oml > 0 or cfg.lambda_identity > 0:
        idt_a, idt_b = g_a(x_a), g_b(x_b)
        total = total + cfg.lambda_oml * losses.original_matching_loss(x_a, x_b, fake_a, idt_a, fake_b, idt_b)
        total = total + cfg.lambda_identity * losses.identity_loss(x_a, x_b, idt_a, idt_b)
    total.backward()
    opts["G"].step()
    for o in ("D_bl", "D_fu"):
        opts[o].zero_grad()
    fake_a, fake_b = g_a(x_b), g_b(x_a)          # re-run with autograd, not detached
    l_d = 0.5 * (gan(d_a(x_a), True) + gan(d_a(fake_a), False)) + 0.5 * (gan(d_b(x_b), True)
                                                                      + gan(d_b(fake_b), False))
    l_d.backward()
    opts["D_bl"].step()
    opts["D_fu"].step()


def training(size: int, steps: int) -> dict:
    out = {}
    x_a = torch.rand(1, 1, size, size) * 2 - 1
    x_b = torch.rand(1, 1, size, size) * 2 - 1
    for label, cfg in (("oml (identity outputs on)", CycleConfig()),
                       ("cyclegan (identity off)", CycleConfig(lambda_oml=0.0))):
        naive_m, ours = CycleModel(cfg, seed=0), CycleModel(cfg, seed=0)
        mixed = CycleModel(cfg, seed=0, precision="mixed")
        naive_step(naive_m.nets, naive_m.optimizers, x_a, x_b, cfg)
        ours.train_step((x_a, x_b), 0)
        mixed.train_step((x_a, x_b), 0)
        tn, to, tm = [], [], []
        for _ in range(steps):                   # interleaved: all see the same machine load
            t = time.perf_counter()
            naive_step(naive_m.nets, naive_m.optimizers, x_a, x_b, cfg)
            tn.append(time.perf_counter() - t)
            t = time.perf_counter()
            ours.train_step((x_a, x_b), 0)
            to.append(time.perf_counter() - t)
            t = time.perf_counter()
            mixed.train_step((x_a, x_b), 0)
            tm.append(time.perf_counter() - t)
        n_s, o_s, m_s = statistics.median(tn), statistics.median(to), statistics.median(tm)
        out[label] = {"naive_s": n_s, "engine_s": o_s, "speedup": n_s / o_s,
                      "engine_mixed_s": m_s, "speedup_mixed": n_s / m_s}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128, help="training slice size (paper: 256)")
    ap.add_argument("--steps", type=int, default=5, help="timed training steps per variant (median kept)")
    ap.add_argument("--slices", type=int, default=8, help="256x256 slices per inference timing")
    ap.add_argument("--reps", type=int, default=3, help="alternating rounds (best kept) for inference timings")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    torch.manual_seed(0)
    res: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(), "platform": platform_info()}
    res["inference"] = inf = inference(a.slices, a.reps)
    peak = inf["conv_peak"]
    print(f"3x3 conv peak: {peak['gflops']:.1f} GFLOP/s (batch {peak['batch']}, "
          f"channels_last={peak['channels_last']}); generator {inf['gflop_per_slice']:.1f} GFLOP per 256² slice")
    pb = inf["conv_peak_bf16"]
    print(f"3x3 conv peak, bfloat16: {pb['gflops']:.1f} GFLOP/s (batch {pb['batch']}, "
          f"channels_last={pb['channels_last']}; the reference for the *_mixed row)")
    for k in ("naive", "engine_b1", "engine_b4", "engine_compiled", "engine_compiled_mixed"):
        v = inf[k]
        extra = inf["compile_s"] if k.startswith("engine_compiled") else 0.0
        print(f"inference {k:15s}: {v['s_per_slice']:.3f} s/slice, {v['gflops']:.1f} GFLOP/s = "
              f"{100 * v['fraction_of_peak']:.0f} % of peak; 256-slice volume {256 * v['s_per_slice'] + extra:.0f} s"
              + (f" (incl. {extra:.0f} s compilation)" if extra else ""))
    print(f"speed-up of the engine (compiled) over the naive loop: "
          f"{inf['naive']['s_per_slice'] / inf['engine_compiled']['s_per_slice']:.2f}x")
    err = inf["engine_compiled_mixed"]["abs_err_vs_fp32"]
    print(f"mixed (bfloat16) vs fp32 output, [0, 1] scale: mean |diff| {err['mean']:.4f}, max {err['max']:.4f}")
    res["training"] = tr = training(a.size, a.steps)
    for k, v in tr.items():
        print(f"train step {a.size}² batch 1, {k}: naive {v['naive_s']:.2f} s, engine {v['engine_s']:.2f} s "
              f"({v['speedup']:.2f}x), engine precision='mixed' {v['engine_mixed_s']:.2f} s ({v['speedup_mixed']:.2f}x)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
