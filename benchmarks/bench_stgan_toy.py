"""STGAN on the smooth-curve toy pair: does the generator leave the identity? (seconds per run, one thread)

The pair and the data layout are those of ``tests/stgan/test_stgan_identity_trap.py`` (32² slices,
FU = a concave curve of BL, paired partners). Trains :class:`harmbench_stgan.model.StarGANv2Model`
directly (raw networks, no weight averaging, constant lr, batch 4, paired references, 8/16
channels, residual generator) and prints, every ``--every`` iterations, the validation PSNR of
FU->BL vs BL (identity 14.14 dB), the norm of the generator's output-layer weights and the last
losses. The table in ``docs/methods-gan.md`` ("STGAN in the quick budget") comes from this script.

Usage::

    python benchmarks/bench_stgan_toy.py [--cyc 10] [--lr 2e-3] [--guidance reference]
        [--reg 1] [--init-std 0] [--d-lr-scale 1] [--domain-output] [--iterations 60] [--every 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "stgan"))

import test_stgan_identity_trap as toy  # noqa: E402
from harmbench_stgan.model import LossWeights, StarGANv2Model, build_networks  # noqa: E402


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of [-1, 1] images on the [0, 1] scale (L = 2 here)."""
    return float(10 * torch.log10(4 / ((a - b) ** 2).mean()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cyc", type=float, default=10.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--guidance", default="reference", choices=["both", "alternate", "reference"])
    ap.add_argument("--reg", type=float, default=1.0, help="R1 weight")
    ap.add_argument("--init-std", type=float, default=0.0,
                    help="output-layer weights ~ N(0, std²) instead of 0 (the residual generator's identity start)")
    ap.add_argument("--d-lr-scale", type=float, default=1.0, help="discriminator lr = this x lr")
    ap.add_argument("--one-way", action="store_true",
                    help="train on FU-scanner sources only (FU -> BL; the reverse only through the cycle term): "
                         "batches of 8 draws keep their FU-scanner samples")
    ap.add_argument("--domain-output", action="store_true",
                    help="one generator output layer per target scanner (the quick preset's domain_output)")
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--every", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    nets = build_networks(dim=8, max_dim=16, n_down=2, style_dim=8, latent_dim=4, mapping_dim=16, n_domains=2,
                          residual=True, domain_output=a.domain_output)
    if a.init_std > 0:
        torch.nn.init.normal_(nets["generator"].to_img[2].weight, std=a.init_std)
    model = StarGANv2Model(nets, device="cpu", lr=a.lr, lr_mapping=1e-5, betas=(0.0, 0.99), weight_decay=1e-4,
                           weights=LossWeights(reg=a.reg, cyc=a.cyc, ds=0.0, ds_iterations=0), latent_dim=4, seed=0,
                           target_domain=1, guidance=a.guidance)
    for g in model.optimizers["discriminator"].param_groups:
        g["lr"] = a.lr * a.d_lr_scale
    train, _, _ = toy._data(12, seed=1)
    _, vfu, vbl = toy._data(6, seed=2)
    sampler = train.sampler(batch_size=12 if a.one_way else 4, seed=0, paired_reference=True)
    draw = sampler.batch
    if a.one_way:
        def draw(it: int) -> dict[str, torch.Tensor]:
            b = sampler.batch(it)
            keep = b["y"] == 0
            keep[0] |= not bool(keep.any())  # never an empty batch (then one BL-scanner sample)
            return {k: v[keep] for k, v in b.items()}
    fu, bl = torch.from_numpy(vfu)[:, None], torch.from_numpy(vbl)[:, None]
    print(f"identity {psnr(fu, bl):.2f} dB")
    for it in range(a.iterations):
        logs = model.train_step(draw(it), it)
        if (it + 1) % a.every == 0:
            out = model.translate(fu, bl)
            w = model.nets["generator"].to_img[2].weight.detach()
            losses = {k: round(v, 3) for k, v in logs.items() if k.startswith(("G_", "D_ref_acc", "D_lat_acc"))}
            print(f"{it + 1:4d}  val {psnr(out, bl):.2f} dB  output-layer |w| {float(w.norm()):.4f}  {losses}",
                  flush=True)


if __name__ == "__main__":
    main()
