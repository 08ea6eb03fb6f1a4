"""StarGAN v2 networks for single-channel slices: generator, mapping network, style encoder, discriminator.

Architecture after Choi et al., CVPR 2020 (StarGAN v2), as used by the style-transfer GAN of
Liu et al., Hum Brain Mapp 2023: pre-activation residual blocks (scaled by 1/sqrt(2)),
instance-normalized encoder, AdaIN decoder driven by a style code, per-domain output heads
for the mapping network, style encoder and discriminator. Differences from the RGB face
model: one input/output channel, no high-pass "wing" mask, and the style encoder and
discriminator end in a global average pool, so any slice size divisible by ``2**n_down``
works (at 256² with ``n_down`` 4 this replaces StarGAN v2's final 4×4 conv).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class ResBlock(nn.Module):
    """Pre-activation residual block, optional instance norm and 2× average-pool downsampling."""

    def __init__(self, dim_in: int, dim_out: int, *, normalize: bool = False,
                 downsample: bool = False) -> None:
        super().__init__()
        self.downsample = downsample
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.norm1 = nn.InstanceNorm2d(dim_in, affine=True) if normalize else nn.Identity()
        self.norm2 = nn.InstanceNorm2d(dim_in, affine=True) if normalize else nn.Identity()
        self.skip = nn.Conv2d(dim_in, dim_out, 1, bias=False) if dim_in != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.skip(x)
        if self.downsample:
            s = F.avg_pool2d(s, 2)
        r = self.conv1(F.leaky_relu(self.norm1(x), 0.2))
        if self.downsample:
            r = F.avg_pool2d(r, 2)
        r = self.conv2(F.leaky_relu(self.norm2(r), 0.2))
        return (s + r) / math.sqrt(2)


class AdaIN(nn.Module):
    """Adaptive instance norm: ``(1 + gamma(s)) * IN(x) + beta(s)``."""

    def __init__(self, style_dim: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.fc = nn.Linear(style_dim, 2 * channels)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.fc(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdaINResBlock(nn.Module):
    """Residual block with AdaIN and optional 2× nearest upsampling."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, *, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        self.skip = nn.Conv2d(dim_in, dim_out, 1, bias=False) if dim_in != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        sc = F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x
        sc = self.skip(sc)
        r = F.leaky_relu(self.norm1(x, s), 0.2)
        if self.upsample:
            r = F.interpolate(r, scale_factor=2, mode="nearest")
        r = self.conv1(r)
        r = self.conv2(F.leaky_relu(self.norm2(r, s), 0.2))
        return (sc + r) / math.sqrt(2)


def _widths(dim: int, max_dim: int, n_down: int) -> list[int]:
    return [min(dim * 2**i, max_dim) for i in range(n_down + 1)]


class Generator(nn.Module):
    """Encoder (IN residual blocks, ``n_down`` downsamplings) + AdaIN decoder.

    Input and output: (B, 1, H, W) slices in [-1, 1], H and W divisible by ``2**n_down``;
    style: (B, style_dim). With ``residual`` the network predicts a correction added to the
    input and its last conv starts at zero, so training starts from the identity map (not part
    of StarGAN v2; used by the CPU ``quick`` preset, see the method docstring).

    ``out_heads`` > 1: the last 1x1 conv has one output channel per target domain and
    ``forward`` takes the target domains ``y`` (B,) to pick each sample's channel, as StarGAN
    v2 already does for the mapping network, style encoder and discriminator. With one shared
    output layer and a zero (identity) start, the gradients of the two translation directions
    cancel in that layer, and a short run never leaves the identity (``docs/methods-gan.md``).
    """

    def __init__(self, *, dim: int, max_dim: int, n_down: int, style_dim: int, n_bottleneck: int = 2,
                 residual: bool = False, out_heads: int = 1) -> None:
        super().__init__()
        self.residual, self.out_heads = residual, out_heads
        w = _widths(dim, max_dim, n_down)
        self.from_img = nn.Conv2d(1, dim, 3, 1, 1)
        self.encode = nn.ModuleList(ResBlock(w[i], w[i + 1], normalize=True, downsample=True)
                                    for i in range(n_down))
        self.encode.extend(ResBlock(w[-1], w[-1], normalize=True) for _ in range(n_bottleneck))
        self.decode = nn.ModuleList(AdaINResBlock(w[-1], w[-1], style_dim) for _ in range(n_bottleneck))
        self.decode.extend(AdaINResBlock(w[i + 1], w[i], style_dim, upsample=True)
                           for i in reversed(range(n_down)))
        self.to_img = nn.Sequential(nn.InstanceNorm2d(dim, affine=True), nn.LeakyReLU(0.2),
                                    nn.Conv2d(dim, out_heads, 1))
        if residual:
            nn.init.zeros_(self.to_img[2].weight)
            nn.init.zeros_(self.to_img[2].bias)

    def forward(self, x: torch.Tensor, s: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.from_img(x)
        for blk in self.encode:
            h = blk(h)
        for blk in self.decode:
            h = blk(h, s)
        out = self.to_img(h)
        if self.out_heads > 1:
            if y is None:
                raise ValueError("a generator with per-domain output layers needs the target domain y")
            out = out[torch.arange(len(x)), y][:, None]
        return x + out if self.residual else out


class MappingNetwork(nn.Module):
    """Latent code z (B, latent_dim) + domain (B,) -> style code (B, style_dim)."""

    def __init__(self, *, latent_dim: int, style_dim: int, n_domains: int, hidden: int,
                 n_shared: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(latent_dim, hidden), nn.ReLU()]
        for _ in range(n_shared - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                          nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, style_dim))
            for _ in range(n_domains))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(z)
        out = torch.stack([head(h) for head in self.heads], dim=1)  # (B, n_domains, style_dim)
        return out[torch.arange(len(y)), y]


class _Trunk(nn.Module):
    """Shared body of the style encoder and discriminator: residual downsampling + global pool."""

    def __init__(self, *, dim: int, max_dim: int, n_down: int) -> None:
        super().__init__()
        w = _widths(dim, max_dim, n_down)
        blocks: list[nn.Module] = [nn.Conv2d(1, dim, 3, 1, 1)]
        blocks += [ResBlock(w[i], w[i + 1], downsample=True) for i in range(n_down)]
        blocks += [nn.LeakyReLU(0.2), nn.Conv2d(w[-1], w[-1], 3, 1, 1), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*blocks)
        self.out_dim = w[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


class StyleEncoder(nn.Module):
    """Image (B, 1, H, W) + domain (B,) -> style code (B, style_dim)."""

    def __init__(self, *, dim: int, max_dim: int, n_down: int, style_dim: int, n_domains: int) -> None:
        super().__init__()
        self.trunk = _Trunk(dim=dim, max_dim=max_dim, n_down=n_down)
        self.heads = nn.Linear(self.trunk.out_dim, n_domains * style_dim)
        self.n_domains, self.style_dim = n_domains, style_dim

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.heads(self.trunk(x)).view(len(x), self.n_domains, self.style_dim)
        return out[torch.arange(len(y)), y]


class Discriminator(nn.Module):
    """Multi-domain discriminator: image (B, 1, H, W) + domain (B,) -> one logit per image (B,)."""

    def __init__(self, *, dim: int, max_dim: int, n_down: int, n_domains: int) -> None:
        super().__init__()
        self.trunk = _Trunk(dim=dim, max_dim=max_dim, n_down=n_down)
        self.head = nn.Linear(self.trunk.out_dim, n_domains)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))[torch.arange(len(y)), y]
