"""The paper configurations: layer counts and parameter counts computed by hand (REFERENCE §3/§4)."""

from __future__ import annotations

import torch
from torch import nn

from harmbench_gan.methods import CycleGAN, CycleGANIdentity, OMLCycleGAN, Pix2Pix
from harmbench_gan.models import CycleModel, Pix2PixModel
from harmbench_gan.networks import (
    GlobalDiscriminator,
    PatchDiscriminator,
    ResnetGenerator,
    UnetGenerator,
    count_parameters,
    init_weights,
)


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def _count(net: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in net.modules())


def test_resnet9_generator_matches_paper_architecture():
    g = ResnetGenerator(ngf=64, n_blocks=9)
    expected = (conv(1, 64, 7) + conv(64, 128, 3) + conv(128, 256, 3) + 18 * conv(256, 256, 3)
                + conv(256, 128, 3) + conv(128, 64, 3) + conv(64, 1, 7))
    assert expected == 11_365_633
    assert count_parameters(g) == expected
    assert _count(g, nn.Conv2d) == 22 and _count(g, nn.ConvTranspose2d) == 2
    assert _count(g, nn.InstanceNorm2d) == 23 and _count(g, nn.ReflectionPad2d) == 20
    assert _count(g, nn.Tanh) == 1 and _count(g, nn.Dropout) == 0
    y = g(torch.zeros(1, 1, 64, 64))
    assert y.shape == (1, 1, 64, 64)


def test_global_discriminator_is_one_logit_per_image():
    d = GlobalDiscriminator(ndf=64)
    expected = conv(1, 64, 4) + conv(64, 128, 4) + conv(128, 256, 4) + conv(256, 512, 4) + conv(512, 1, 3)
    assert count_parameters(d) == expected == 2_759_105
    strides = [m.stride for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert strides == [(2, 2)] * 4 + [(1, 1)]
    assert d(torch.zeros(3, 1, 256, 256)).shape == (3, 1)


def test_patchgan_70_conditional():
    d = PatchDiscriminator(in_channels=2, ndf=64, n_layers=3, norm="batch")
    expected = (conv(2, 64, 4) + conv(64, 128, 4, False) + 2 * 128 + conv(128, 256, 4, False) + 2 * 256
                + conv(256, 512, 4, False) + 2 * 512 + conv(512, 1, 4))
    assert count_parameters(d) == expected == 2_764_609
    assert d(torch.zeros(1, 2, 256, 256)).shape == (1, 1, 30, 30)  # the classic 30x30 map of 70x70 patches


def test_unet256_matches_pix2pix():
    g = UnetGenerator(ngf=64, depth=8, norm="batch", dropout=0.5)
    bn = lambda c: 2 * c  # noqa: E731
    down = (conv(1, 64, 4, False) + conv(64, 128, 4, False) + bn(128) + conv(128, 256, 4, False) + bn(256)
            + conv(256, 512, 4, False) + bn(512) + 3 * (conv(512, 512, 4, False) + bn(512))
            + conv(512, 512, 4, False))  # innermost down: no norm
    up = (conv(512, 512, 4, False) + bn(512)            # innermost up
          + 3 * (conv(1024, 512, 4, False) + bn(512))   # three 8*ngf levels with dropout
          + conv(1024, 256, 4, False) + bn(256) + conv(512, 128, 4, False) + bn(128)
          + conv(256, 64, 4, False) + bn(64) + conv(128, 1, 4))
    # (the 3-channel unet_256 of Isola et al. has 54,413,955 = this + 2,048 + 4,098)
    assert count_parameters(g) == down + up == 54_407_809
    assert _count(g, nn.Dropout) == 3
    assert g.stride == 256
    g.eval()
    assert g(torch.zeros(1, 1, 256, 256)).shape == (1, 1, 256, 256)


def test_paper_presets_and_loss_weights():
    for cls, oml, idt in ((OMLCycleGAN, 10.0, 0.0), (CycleGAN, 0.0, 0.0), (CycleGANIdentity, 0.0, 2.5)):
        m = cls(preset="paper")
        p = m.resolved_params()
        assert (p["ngf"], p["n_blocks"], p["batch_size"], p["epochs"], p["crop"]) == (64, 9, 16, 50, None)
        assert (p["lr"], p["beta1"], p["beta2"], p["decay_start"]) == (2e-4, 0.5, 0.99, 0.0)
        cfg = m._model_config(p)
        assert (cfg.lambda_adv, cfg.lambda_ccl, cfg.lambda_oml, cfg.lambda_identity) == (1.0, 5.0, oml, idt)
        assert (cfg.discriminator, cfg.gan_loss, cfg.oml_form, cfg.pool_size) == ("global", "bce", "paper", 0)
    p = Pix2Pix(preset="paper").resolved_params()
    cfg = Pix2Pix(preset="paper")._model_config(p)
    assert (cfg.depth, cfg.norm, cfg.dropout, cfg.gan_loss, cfg.lambda_l1) == (8, "batch", 0.5, "bce", 100.0)


def test_models_build_paper_networks_cheaply_on_meta():
    # CycleModel wires G_A/G_B/D_A/D_B; a narrow copy keeps the test fast.
    from harmbench_gan.models import CycleConfig, Pix2PixConfig

    m = CycleModel(CycleConfig(ngf=8, n_blocks=2, ndf=8))
    assert set(m.nets) == {"G_fu2bl", "G_bl2fu", "D_bl", "D_fu"} and m.generators == ("G_fu2bl", "G_bl2fu")
    assert m.optimizers["G"].defaults["betas"] == (0.5, 0.99)
    p = Pix2PixModel(Pix2PixConfig(ngf=8, ndf=8, depth=5))
    assert set(p.nets) == {"G_fu2bl", "D"} and p.optimizers["G"].defaults["betas"] == (0.5, 0.999)


def test_residual_generators_start_as_identity():
    x = torch.linspace(-0.95, 0.95, 2 * 64 * 64).view(2, 1, 64, 64)
    for g in (ResnetGenerator(ngf=4, n_blocks=1, residual=True), UnetGenerator(ngf=4, depth=5, residual=True)):
        init_weights(g, seed=0)
        assert torch.allclose(g(x), x, atol=1e-5)
        assert count_parameters(g) > 0
    # the paper networks are not residual: Tanh output, random at init
    g = init_weights(ResnetGenerator(ngf=4, n_blocks=1), seed=0)
    assert not torch.allclose(g(x), x, atol=1e-2)


def test_intensity_curve_starts_at_zero_and_fits_a_global_map_in_one_linear_layer():
    """The curve is identity at init and can represent a monotone intensity map (issue #23)."""
    x = torch.linspace(-0.95, 0.95, 2 * 64 * 64).view(2, 1, 64, 64)
    g = init_weights(ResnetGenerator(ngf=4, n_blocks=1, residual=True, intensity_curve=True), seed=0)
    assert torch.allclose(g(x), x, atol=1e-5)
    curve = g.curve
    assert curve is not None and count_parameters(curve) == 18 and not any(p.requires_grad for p in curve.buffers())
    # a global map, as the residual generator needs it in atanh space: least squares on the fixed hinges
    target = torch.atanh(torch.tanh(1.3 * torch.atanh(x)) * 0.9) - torch.atanh(x)
    basis = torch.cat([x, torch.relu(x - curve.hinges), torch.ones_like(x)], 1).permute(0, 2, 3, 1).reshape(-1, 18)
    coef = torch.linalg.lstsq(basis, target.reshape(-1, 1)).solution
    with torch.no_grad():
        curve.weights.weight.copy_(coef[:17].view(1, 17, 1, 1))
        curve.weights.bias.copy_(coef[17])
    assert torch.max(torch.abs(curve(x) - target)) < 0.05


def test_intensity_curve_needs_a_residual_single_channel_generator():
    import pytest

    from harmbench.errors import DataError

    with pytest.raises(DataError, match="intensity_curve"):
        ResnetGenerator(ngf=4, n_blocks=1, intensity_curve=True)


def test_the_curve_has_its_own_learning_rate_and_follows_the_schedule():
    from harmbench_gan.models import CycleConfig

    m = CycleModel(CycleConfig(ngf=4, n_blocks=1, ndf=4, residual=True, intensity_curve=True, lr=1e-3,
                               curve_lr_scale=10.0))
    groups = m.optimizers["G"].param_groups
    assert [g["lr"] for g in groups] == [1e-3, 1e-2]
    assert sum(p.numel() for p in groups[1]["params"]) == 2 * 18  # one curve per generator
    m.set_lr(5e-4)
    assert [g["lr"] for g in groups] == [5e-4, 5e-3]
    # without a curve: one group, as before
    plain = CycleModel(CycleConfig(ngf=4, n_blocks=1, ndf=4, residual=True))
    assert len(plain.optimizers["G"].param_groups) == 1
