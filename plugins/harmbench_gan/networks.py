"""2-D generators and discriminators of the GAN family (single-channel MRI slices).

* :class:`ResnetGenerator` — the CycleGAN / OML-CycleGAN generator (Zhu et al. 2017; the
  authors' code of Hwang et al. 2026): 7x7 conv -> ``n_down`` stride-2 convs -> ``n_blocks``
  residual blocks -> ``n_down`` transposed convs -> 7x7 conv -> Tanh; InstanceNorm, ReLU,
  reflection padding, no dropout.
* :class:`UnetGenerator` — the Pix2Pix generator (Isola et al. 2017; ``unet_256`` is depth 8):
  4x4 stride-2 encoder/decoder with skip connections, BatchNorm, dropout in the inner decoder
  blocks, Tanh.
* :class:`GlobalDiscriminator` — the authors' discriminator: four 4x4 stride-2 convs (ndf...8 ndf),
  LeakyReLU 0.2, a conv to one channel, globally averaged to one logit per image.
* :class:`PatchDiscriminator` — the 70x70 PatchGAN (C64-C128-C256 stride 2, C512 stride 1,
  conv -> 1 logit map); ``in_channels=2`` makes it the conditional Pix2Pix discriminator.

All inputs are (N, C, H, W) float tensors in [-1, 1]; generators need H, W to be multiples of
their ``stride``.
"""

from __future__ import annotations

import torch
from torch import nn

from harmbench.errors import DataError


def residual_output(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """``tanh(atanh(x) + f)``: identity when ``f = 0``, output kept in (-1, 1) by the paper's Tanh.

    A residual in the Tanh's pre-activation space: corrections are damped where the input is
    near ±1 (background), so the generator cannot drift the noise floor cheaply.
    """
    return torch.tanh(torch.atanh(x.clamp(-0.999, 0.999)) + f)


def _norm2d(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise DataError(f"unknown norm {kind!r}; expected 'instance', 'batch' or 'none'")


class ResidualBlock(nn.Module):
    """x + (pad-conv3x3-norm-ReLU-pad-conv3x3-norm)(x); channels unchanged."""

    def __init__(self, channels: int, norm: str = "instance") -> None:
        super().__init__()
        bias = norm == "instance"
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), _norm2d(norm, channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), _norm2d(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class IntensityCurve(nn.Module):
    """A learned piecewise-linear intensity map ``c(x) = b + a_0·x + Σ_k a_k·relu(x - t_k)``, per pixel.

    The hinges ``t_k`` are fixed and evenly spaced in (-1, 1); the weights ``a`` (one 1x1
    convolution, zero-initialised) are learned, so ``c`` starts at 0. Added to a residual
    generator's correction it gives the network the absolute intensity that its instance-normalised
    features do not carry: a global, histogram-matching-like map is one linear layer away.
    """

    def __init__(self, knots: int = 16) -> None:
        super().__init__()
        self.register_buffer("hinges", torch.linspace(-1, 1, knots + 2)[1:-1].view(1, knots, 1, 1))
        self.weights = nn.Conv2d(knots + 1, 1, 1)
        self.weights.zero_init = True  # type: ignore[assignment]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weights(torch.cat([x, torch.relu(x - self.hinges)], 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The curve's basis at 1-D intensities ``x``: (len(x), knots + 2) columns ``1, x, relu(x - t_k)``."""
        x = x.reshape(-1, 1).to(self.hinges.dtype)
        return torch.cat([torch.ones_like(x), x, torch.relu(x - self.hinges.reshape(1, -1))], 1)

    @torch.no_grad()
    def set_coefficients(self, coef: torch.Tensor) -> None:
        """Set ``b, a_0, a_1, ...`` (the columns of :meth:`features`) as the curve's weights."""
        coef = coef.to(self.weights.weight.dtype)
        self.weights.bias.copy_(coef[:1])
        self.weights.weight.copy_(coef[1:].reshape(self.weights.weight.shape))


class ResnetGenerator(nn.Module):
    """ResNet image-to-image generator (the paper's is ``ngf=64, n_blocks=9, n_down=2``).

    Args:
        in_channels / out_channels: image channels (1 for MRI slices).
        ngf: filters of the first layer; doubled at every downsampling.
        n_blocks: residual blocks at the bottleneck.
        n_down: stride-2 downsamplings (output size needs H, W divisible by ``2**n_down``).
        norm: ``instance`` (paper) or ``batch``.
        residual: output ``tanh(atanh(x) + f(x))`` (:func:`residual_output`; last conv
            zero-initialised by :func:`init_weights`), so the network starts as the identity map.
            Not in the paper; the ``quick`` presets use it to converge in a few hundred iterations.
        intensity_curve: add an :class:`IntensityCurve` of the input to the residual correction
            (needs ``residual``; not in the paper). Instance normalisation removes the absolute
            intensity of every crop, so without it a subtle global contrast shift is invisible to
            the generator and the fit stays at the identity (issue #23).
    """

    def __init__(self, *, in_channels: int = 1, out_channels: int = 1, ngf: int = 64, n_blocks: int = 9,
                 n_down: int = 2, norm: str = "instance", residual: bool = False,
                 intensity_curve: bool = False) -> None:
        super().__init__()
        bias = norm == "instance"  # the reference implementation keeps conv biases with InstanceNorm
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                   _norm2d(norm, ngf), nn.ReLU(inplace=True)]
        ch = ngf
        for _ in range(n_down):
            layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1, bias=bias), _norm2d(norm, ch * 2),
                       nn.ReLU(inplace=True)]
            ch *= 2
        layers += [ResidualBlock(ch, norm) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       _norm2d(norm, ch // 2), nn.ReLU(inplace=True)]
            ch //= 2
        last = nn.Conv2d(ch, out_channels, 7)
        last.zero_init = residual  # type: ignore[assignment]
        layers += [nn.ReflectionPad2d(3), last] + ([] if residual else [nn.Tanh()])  # residual: Tanh in forward
        self.model = nn.Sequential(*layers)
        self.stride = 2**n_down
        self.residual = residual
        if intensity_curve and not (residual and in_channels == out_channels == 1):
            raise DataError("intensity_curve needs a residual single-channel generator")
        self.curve = IntensityCurve() if intensity_curve else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        if self.curve is not None:
            y = y + self.curve(x)
        return residual_output(x, y) if self.residual else y


class _UnetBlock(nn.Module):
    """One U-Net level: down -> (inner) -> up, output concatenated with the input (skip)."""

    def __init__(self, outer: int, inner: int, *, in_channels: int | None = None, sub: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, norm: str = "batch",
                 dropout: float = 0.0, out_channels: int | None = None, residual: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        bias = norm != "batch"
        cin = in_channels if in_channels is not None else outer
        down = nn.Conv2d(cin, inner, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, out_channels or outer, 4, stride=2, padding=1)
            up.zero_init = residual  # type: ignore[assignment]
            layers = [down, sub, nn.ReLU(inplace=False), up] + ([] if residual else [nn.Tanh()])
        elif innermost:
            up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), up, _norm2d(norm, outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down, _norm2d(norm, inner), sub, nn.ReLU(), up, _norm2d(norm, outer)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*[m for m in layers if m is not None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """Pix2Pix U-Net (``depth=8`` is ``unet_256``: 256 -> 1 pixel at the bottleneck).

    Args:
        in_channels / out_channels: image channels.
        ngf: filters of the outermost level; doubled per level up to ``8*ngf``.
        depth: number of stride-2 downsamplings (H, W must be divisible by ``2**depth``).
        norm: ``batch`` (paper) or ``instance``.
        dropout: dropout probability in the inner decoder blocks (0.5 in Pix2Pix).
        residual: output ``tanh(atanh(x) + f(x))``, starting as the identity (see
            :class:`ResnetGenerator`; not in Pix2Pix, used by the ``quick`` preset).
    """

    def __init__(self, *, in_channels: int = 1, out_channels: int = 1, ngf: int = 64, depth: int = 8,
                 norm: str = "batch", dropout: float = 0.5, residual: bool = False) -> None:
        super().__init__()
        if depth < 5:
            raise DataError(f"U-Net depth must be >= 5; got {depth}")
        block = _UnetBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(depth - 5):
            block = _UnetBlock(ngf * 8, ngf * 8, sub=block, norm=norm, dropout=dropout)
        block = _UnetBlock(ngf * 4, ngf * 8, sub=block, norm=norm)
        block = _UnetBlock(ngf * 2, ngf * 4, sub=block, norm=norm)
        block = _UnetBlock(ngf, ngf * 2, sub=block, norm=norm)
        self.model = _UnetBlock(ngf, ngf, in_channels=in_channels, sub=block, outermost=True, norm=norm,
                                out_channels=out_channels, residual=residual)
        self.stride = 2**depth
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        return residual_output(x, y) if self.residual else y


class GlobalDiscriminator(nn.Module):
    """The authors' discriminator: four 4x4 stride-2 convs, conv -> 1, global average -> (N, 1)."""

    def __init__(self, *, in_channels: int = 1, ndf: int = 64, n_layers: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch_in, ch = in_channels, ndf
        for _ in range(n_layers):
            layers += [nn.Conv2d(ch_in, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            ch_in, ch = ch, ch * 2
        layers.append(nn.Conv2d(ch_in, 1, 3, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).mean(dim=(2, 3))


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN ("basic", ``n_layers=3``): one logit per overlapping patch, (N, 1, h, w)."""

    def __init__(self, *, in_channels: int = 1, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for i in range(1, n_layers + 1):
            prev, mult = mult, min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                       _norm2d(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, *, gain: float = 0.02, seed: int | None = None) -> nn.Module:
    """N(0, ``gain``) conv weights, N(1, ``gain``) norm scales, zero biases (Zhu/Isola defaults).

    Convolutions flagged ``zero_init`` (the output layer of a residual generator) get zero weights.
    """
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * gain)
                if getattr(m, "zero_init", False):
                    m.weight.zero_()
                if m.bias is not None:
                    m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(1.0 + torch.randn(m.weight.shape, generator=gen) * gain)
                m.bias.zero_()
    return net


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
