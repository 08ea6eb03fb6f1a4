"""The four slice-GAN methods: ``oml-cyclegan``, ``cyclegan``, ``cyclegan-id`` and ``pix2pix``.

The three CycleGAN variants are named configurations of one class (:class:`CycleGANFamily`).
Parameters whose default is ``None`` come from the variant, then from the chosen preset:

* ``paper`` — the published configuration (Hwang et al., Sci Rep 2026; REFERENCE.md §1/§3/§4),
  for a GPU: whole 256² slices, ResNet-9 / ngf 64, global-pooled discriminator, BCE, batch 16,
  50 epochs, Adam 2e-4, linear decay to 0 over the whole run.
* ``quick`` — a CPU-tractable configuration for ``synth-quick`` (~2 mm volumes): narrow nets on
  random 48² / 64² crops (the generators are fully convolutional and harmonize whole slices at
  inference), trained until the smoothed validation PSNR stops improving, within an iteration
  cap (``epochs`` x ``iters_per_epoch``) and a time cap; the epoch with the best validation PSNR
  is kept.
"""

from __future__ import annotations

from typing import ClassVar

from harmbench.method import Capabilities
from harmbench.params import Interval, Options
from harmbench.typing import ParamDict
from harmbench.volume import Volume
from harmbench_gan.base import GanMethod
from harmbench_gan.losses import OML_FORMS
from harmbench_gan.models import CycleConfig, CycleModel, Pix2PixConfig, Pix2PixModel

#: a fixed number of epochs, the best by validation SSIM (the paper's selection)
FIXED_SCHEDULE: ParamDict = {"select_by": "ssim", "patience": 0, "min_delta": 0.0, "time_cap": 0.0}
#: the quick presets' convergence schedule: epochs of 30 iterations, at least 8 and at most 16
#: (240-480 iterations; the former fixed schedule ran 240), stop after 4 epochs without a 0.02 dB
#: gain of the 3-epoch mean validation PSNR, or after 10 minutes (a guard that should not bind on a 2-core CPU); the LR is
#: constant for the first 120 iterations, then decays linearly to 0 at the cap.
QUICK_SCHEDULE: ParamDict = {"epochs": 16, "iters_per_epoch": 30, "decay_start": 0.25, "select_by": "psnr",
                             "patience": 4, "min_delta": 0.02, "time_cap": 600.0}

_CYCLE_PRESETS: dict[str, ParamDict] = {
    "paper": {"epochs": 50, "iters_per_epoch": None, "batch_size": 16, "ngf": 64, "n_blocks": 9, "ndf": 64,
              "discriminator": "global", "residual": False, "intensity_curve": False, "curve_init": "zero", "crop": None,
              "lr": 2e-4,
              "decay_start": 0.0, "val_slices": 0, "val_region": "slice", **FIXED_SCHEDULE},
    "quick": {"batch_size": 4, "ngf": 16, "n_blocks": 2, "ndf": 16, "discriminator": "patch", "residual": True,
              "intensity_curve": True, "curve_init": "quantile", "crop": 48, "lr": 5e-4, "val_slices": 32, "val_region": "slice",
              **QUICK_SCHEDULE},
    # conformance checks (`harmbench check-plugin`): a few steps of a tiny net, seconds
    "tiny": {"epochs": 1, "iters_per_epoch": 3, "batch_size": 2, "ngf": 4, "n_blocks": 1, "ndf": 4,
             "discriminator": "patch", "residual": True, "intensity_curve": True, "curve_init": "quantile", "crop": 32,
             "lr": 5e-4,
             "decay_start": 0.5, "val_slices": 4, "val_region": "slice", **FIXED_SCHEDULE},
}

_CYCLE_CAPS = Capabilities(needs_training=True, needs_paired=True, supports_gpu=True, has_inverse=True,
                           deterministic=True)


class CycleGANFamily(GanMethod):
    """CycleGAN-family estimator: FU->BL with ``G_fu2bl``, BL->FU (inverse) with ``G_bl2fu``.

    One signature for the whole family; ``oml-cyclegan``, ``cyclegan`` and ``cyclegan-id`` are
    named configurations of it (subclasses that set ``name``, a docstring and ``variant``, the
    defaults of ``lambda_oml`` / ``lambda_identity`` used when those are None). Two ResNet
    generators (G_fu2bl = G_A, G_bl2fu = G_B) and two discriminators are trained on paired,
    registered BL/FU axial slices with ``λ_adv·L_adv + λ_ccl·L_ccl + λ_oml·L_oml + λ_identity·L_id``.

    Args:
        preset: ``quick`` (CPU) or ``paper`` (published configuration); fills every ``None``.
        epochs, iters_per_epoch, batch_size: training length (``iters_per_epoch=None``: one pass).
        ngf, n_blocks, ndf: generator width / residual blocks, discriminator width.
        residual: generators output ``x + f(x)`` and start as the identity (not in the paper;
            ``quick`` uses it so narrow nets converge within the CPU budget).
        intensity_curve: add a learned piecewise-linear curve of the input's absolute intensity to
            the residual correction (:class:`~harmbench_gan.networks.IntensityCurve`; not in the
            paper; ``quick``). Instance-normalised features do not carry absolute intensity, so
            without it the quick generators could not express a subtle global contrast shift and
            stayed at the identity on ``synth-quick-ge`` (issue #23).
        curve_init: where the intensity curve starts: ``zero`` (the identity map) or ``quantile``
            (the training set's pooled FU->BL quantile map inside the BL head, and its reverse for
            ``G_bl2fu``; :mod:`harmbench_gan.curve_init`). None: the variant's (``oml-cyclegan``:
            ``zero``), else the preset's (``quick``, ``tiny``: ``quantile``).
        curve_lr_scale: the curve's learning rate as a multiple of ``lr`` (10: at ``lr`` alone a
            global offset of 0.1 takes ≈ 200 Adam steps).
        crop: random square training crop in pixels (None: whole slices).
        lr, beta1, beta2: Adam. ``beta2=0.99`` as the paper's text; the authors' code uses 0.999.
        decay_start: fraction of training after which the LR decays linearly to 0 (paper: 0).
        val_slices: validation slices scored per epoch for model selection (0: all).
        val_region: what ``val_psnr`` scores: ``slice`` (the mean of whole-slice PSNRs, air
            included; every preset) or ``head`` (the PSNR of the pooled error inside the BL head
            mask: the leaderboard's volume-PSNR region). Screened in session 23 (issue #23,
            ``docs/methods-gan.md``): in the three fits screened ``head`` selected the same epoch
            as ``slice``, so the presets keep ``slice`` and the committed leaderboards stand.
        select_by: the validation metric of model selection, ``ssim`` (``paper``) or ``psnr``
            (``quick``); the other breaks ties.
        patience: convergence-based stop: end after this many epochs without an improvement of
            the selection metric's 3-epoch trailing mean by more than ``min_delta`` (dB or SSIM
            units), but not before half of ``epochs``, which is then the cap. 0: always run
            ``epochs`` (``paper``).
        min_delta: see ``patience``.
        time_cap: stop after the first epoch that ends past this many seconds of training (0: no
            cap). Host-dependent: the history's ``stop_reason`` says when it bound.
        ema: decay of a moving average of the generator weights used for validation, selection
            and the saved model (0 = off, the paper).
        discriminator: ``global`` (authors' globally pooled D; ``paper``) or ``patch`` (70x70
            PatchGAN; ``quick``, where it keeps local noise texture better).
        d_norm: normalisation inside the PatchGAN: ``instance`` (Zhu et al.) or ``none``.
        gan_loss: ``bce`` (paper) or ``lsgan``.
        lambda_adv, lambda_ccl: adversarial and cycle weights (paper: 1, 5).
        lambda_oml, lambda_identity: OML and identity weights; None: the variant's defaults.
        oml_form: ``paper`` — the four-term equation (default); ``authors-code`` — only the two
            paired cross terms, as the public code (set ``lambda_identity=1`` to match it fully).
        pool_size: image-pool size for discriminator updates (0 = none, as the authors' code).
        flip: random left-right flips.
        device: ``auto`` (CUDA, MPS, CPU), or an explicit torch device.
        seed: initialisation / sampling seed.
        work_dir: checkpoint folder (resume from its last epoch); None = a temporary folder.
        infer_batch: slices per forward pass at inference; None = 16 on CUDA/MPS and, on the CPU,
            :func:`~harmbench_gan.inference.cpu_slice_batch`: 1 for paper nets on 256² slices
            (one slice already fills the cache), 4 for the quick nets on synth-quick slices.
        infer_compile: run the generator through ``torch.compile`` at inference (True/False);
            None = only on the CPU for large workloads (paper-size nets on whole 256³ volumes),
            where it is ≈ 1.2-1.3x faster after a 10-30 s compilation; see ``inference.py``.
        precision: ``auto`` (fp16 mixed precision on CUDA; bfloat16 training with fp32 validation
            and inference on a CPU with native bf16 units, where the method's
            ``cpu_bf16_auto`` says it trains faster; fp32 elsewhere), ``fp32``, or ``mixed``
            (fp16 on CUDA, bfloat16 on the CPU) for training and inference. On CPUs with
            AMX / AVX-512 BF16, ``mixed`` trains the paper architecture ≈ 2.2-2.5x faster and
            runs inference ≈ 4x faster, at bfloat16 accuracy (≈ 0.4 % of the range per pixel);
            the quick CycleGAN presets train 1.2-1.3x faster in bf16 (docs/methods-gan.md).
    """

    capabilities = _CYCLE_CAPS
    presets: ClassVar[dict[str, ParamDict]] = _CYCLE_PRESETS
    _model_class = CycleModel
    _config_class = CycleConfig
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_blocks": [Interval(int, 0, 100), None],
        "intensity_curve": [bool, None],
        "val_region": [Options({"slice", "head"}), None],
        "curve_lr_scale": [Interval(float, 0, None, closed="neither")],
        "curve_init": [Options({"zero", "quantile"}), None],
        "discriminator": [Options({"global", "patch"}), None],
        "d_norm": [Options({"instance", "none"})],
        "lambda_ccl": [Interval(float, 0, None)],
        "lambda_oml": [Interval(float, 0, None), None],
        "lambda_identity": [Interval(float, 0, None), None],
        "oml_form": [Options(OML_FORMS)],
        "pool_size": [Interval(int, 0, None)],
    }

    def __init__(self, *, preset: str = "quick", epochs: int | None = None, iters_per_epoch: int | None = None,
                 batch_size: int | None = None, ngf: int | None = None, n_blocks: int | None = None,
                 ndf: int | None = None, residual: bool | None = None, intensity_curve: bool | None = None,
                 curve_lr_scale: float = 10.0, curve_init: str | None = None, crop: int | None = None,
                 lr: float | None = None, beta1: float = 0.5, beta2: float = 0.99, decay_start: float | None = None,
                 val_slices: int | None = None, val_region: str | None = None, select_by: str | None = None,
                 patience: int | None = None,
                 min_delta: float | None = None, time_cap: float | None = None, ema: float = 0.0,
                 discriminator: str | None = None,
                 d_norm: str = "instance", gan_loss: str = "bce", lambda_adv: float = 1.0, lambda_ccl: float = 5.0,
                 lambda_oml: float | None = None, lambda_identity: float | None = None, oml_form: str = "paper",
                 pool_size: int = 0, flip: bool = True, device: str = "auto", seed: int = 0,
                 work_dir: str | None = None, infer_batch: int | None = None, infer_compile: bool | None = None,
                 precision: str = "auto") -> None:
        self._store_params(locals())

    def _config_stride(self, p: ParamDict) -> int:
        return 2 ** CycleConfig.n_down

    def _inverse_transform(self, bl: Volume) -> Volume:
        return self._harmonize(bl, "G_bl2fu")


class OMLCycleGAN(CycleGANFamily):
    """Paired CycleGAN with the Original Matching Loss (Hwang et al., Sci Rep 2026): λ_oml 10, λ_identity 0.

    Its intensity curve starts at zero (``curve_init="zero"``) in every preset: the OML's paired
    terms include ``l1(x_A, G_A(x_A))`` at weight 10, which pulls a curve started at the cohort's
    quantile map back towards the identity; on ``synth-quick-ge`` (seed 0) that start lowered its
    test-A gain from +1.00 to +0.75 dB (docs/methods-gan.md, issue #23). Parameters as
    :class:`CycleGANFamily`.
    """

    name = "oml-cyclegan"
    variant: ClassVar[ParamDict] = {"lambda_oml": 10.0, "lambda_identity": 0.0, "curve_init": "zero"}


class CycleGAN(CycleGANFamily):
    """CycleGAN without identity loss (Zhu et al. 2017) on the paper's settings: λ_adv 1, λ_ccl 5, λ_oml 0.

    The paper's controlled comparison for the OML: same engine, networks and schedule as
    ``oml-cyclegan``; only ``lambda_oml`` (and ``lambda_identity``) are 0, and in the ``quick``
    preset the intensity curve starts at the training set's quantile map (``curve_init``;
    ``oml-cyclegan`` starts it at zero). ``cyclegan[curve_init='zero']`` is the comparison with
    nothing but the loss changed. Parameters as :class:`CycleGANFamily`.
    """

    name = "cyclegan"
    variant: ClassVar[ParamDict] = {"lambda_oml": 0.0, "lambda_identity": 0.0}


class CycleGANIdentity(CycleGANFamily):
    """CycleGAN with identity loss on the paper's settings: λ_adv 1, λ_ccl 5, λ_oml 0, λ_identity 2.5.

    ``lambda_identity`` is an absolute weight on ``l1(x_A, G_A(x_A)) + l1(x_B, G_B(x_B))``; 2.5 is
    Zhu et al.'s rule (0.5 x the cycle weight) applied to λ_ccl = 5. As ``cyclegan``, the ``quick``
    preset starts its intensity curve at the training set's quantile map. Parameters as
    :class:`CycleGANFamily`.
    """

    name = "cyclegan-id"
    variant: ClassVar[ParamDict] = {"lambda_oml": 0.0, "lambda_identity": 2.5}


class Pix2Pix(GanMethod):
    """Pix2Pix (Isola et al. 2017), the paper's supervised comparator: FU -> BL only.

    U-Net generator (``depth=8`` is unet_256; BatchNorm, dropout 0.5 in the inner decoder blocks)
    and a conditional 70x70 PatchGAN on concat(FU, BL-or-G(FU)); vanilla (BCE) GAN loss plus
    ``lambda_l1`` x L1 to the paired BL slice. At inference the network runs in eval mode
    (BatchNorm running statistics, no dropout), so the output is deterministic.

    Args:
        preset: ``quick`` or ``paper`` (Isola et al.: unet_256, batch 1, 100 + 100 epochs of
            linear decay, Adam 2e-4, betas (0.5, 0.999)).
        depth: U-Net downsamplings (input padded to a multiple of ``2**depth``).
        norm, dropout: generator/discriminator norm and decoder dropout.
        gan_loss, lambda_adv, lambda_l1: GAN criterion and weights (paper: bce, 1, 100).
        Other parameters as :class:`CycleGANFamily`.
    """

    name = "pix2pix"
    #: the quick U-Net (64-px crops, 16 channels) trained no faster in bf16 than in fp32 on an AMX
    #: CPU (0.99x, benchmarks/results/bench_precision-*.json), so ``auto`` keeps fp32 on the CPU
    cpu_bf16_auto = False
    capabilities = Capabilities(needs_training=True, needs_paired=True, supports_gpu=True, has_inverse=False,
                                deterministic=True)
    presets: ClassVar[dict[str, ParamDict]] = {
        "paper": {"epochs": 200, "iters_per_epoch": None, "batch_size": 1, "ngf": 64, "ndf": 64, "depth": 8,
                  "residual": False, "crop": None, "lr": 2e-4, "decay_start": 0.5, "val_slices": 0,
                  **FIXED_SCHEDULE},
        "quick": {"batch_size": 4, "ngf": 16, "ndf": 16, "depth": 6, "residual": True, "crop": 64, "lr": 5e-4,
                  "val_slices": 32, **QUICK_SCHEDULE},
        "tiny": {"epochs": 1, "iters_per_epoch": 3, "batch_size": 2, "ngf": 4, "ndf": 4, "depth": 5,
                 "residual": True, "crop": 32, "lr": 5e-4, "decay_start": 0.5, "val_slices": 4,
                 **FIXED_SCHEDULE},
    }
    _model_class = Pix2PixModel
    _config_class = Pix2PixConfig
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "depth": [Interval(int, 1, 10), None],
        "norm": [Options({"batch", "instance", "none"})],
        "dropout": [Interval(float, 0, 1, closed="left")],
        "lambda_l1": [Interval(float, 0, None)],
    }

    def __init__(self, *, preset: str = "quick", epochs: int | None = None, iters_per_epoch: int | None = None,
                 batch_size: int | None = None, ngf: int | None = None, ndf: int | None = None,
                 depth: int | None = None, residual: bool | None = None, crop: int | None = None,
                 lr: float | None = None, beta1: float = 0.5,
                 beta2: float = 0.999, decay_start: float | None = None, val_slices: int | None = None,
                 select_by: str | None = None, patience: int | None = None, min_delta: float | None = None,
                 time_cap: float | None = None, ema: float = 0.0,
                 norm: str = "batch", dropout: float = 0.5, gan_loss: str = "bce", lambda_adv: float = 1.0,
                 lambda_l1: float = 100.0, flip: bool = True, device: str = "auto", seed: int = 0,
                 work_dir: str | None = None, infer_batch: int | None = None,
                 infer_compile: bool | None = None, precision: str = "auto") -> None:
        self._store_params(locals())

    def _config_stride(self, p: ParamDict) -> int:
        return 2 ** int(p["depth"])
