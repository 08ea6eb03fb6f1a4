"""Slice-wise LPIPS (Zhang et al. 2018; AlexNet trunk, ``lpips`` v0.1 linear heads), offline.

The network is ``lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True)`` (linear heads from
the ``lpips`` package, randomly initialised trunk so nothing is downloaded) whose five AlexNet
convolutions are then overwritten with ImageNet weights found by
:func:`harmbench.metrics.lpips_weights.load_alexnet_weights`. One network per process.

Region policy (:mod:`harmbench.metrics.region`): each kept axial slice is cropped to the in-plane
bounding box of the BL head mask and its air (outside that slice's BL head mask) is set to 0 in
both images, i.e. to the network's background value -1, so images that differ only in air get
identical LPIPS. Grayscale slices in [0, 1] are mapped to [-1, 1] and replicated to three channels.
BL features are computed once per case and reused for the FU and reconstruction comparisons;
slices are pushed through the trunk in batches. Crops smaller than :data:`MIN_SIZE` pixels on a
side (toy phantoms only) are padded with background (-1) on the bottom/right so AlexNet's pooling
fits.
"""

from __future__ import annotations

import math
import threading
import warnings
from typing import ClassVar

import numpy as np

from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.metrics.lpips_weights import CONV_INDICES, WeightsError, load_alexnet_weights
from harmbench.metrics.region import case_slice_frame, cut_slices, zero_outside
from harmbench.volume import require_same_grid

#: smallest slice side AlexNet's three pooling stages accept, rounded up
MIN_SIZE = 32
#: region policy recorded in ``policy()`` (score cache key, runs.json)
REGION_POLICY = "bl-head-mask"  # air outside each slice's BL head mask zeroed in both images
CROP_POLICY = "bl-head-box"  # slices cropped in-plane to the BL head mask's bounding box
DEFAULT_BATCH = 32

_lock = threading.Lock()
_state: dict[str, object] = {}


def get_network():
    """The process-wide LPIPS network (eval mode, CPU), built on first use.

    Raises:
        WeightsError: no AlexNet weights available (the reason is cached, not retried).
    """
    with _lock:
        if "net" in _state:
            return _state["net"]
        if "error" in _state:
            raise WeightsError(str(_state["error"]))
        try:
            weights = load_alexnet_weights()
        except WeightsError as exc:
            _state["error"] = str(exc)
            raise
        import lpips
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision's "pretrained is deprecated"
            net = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
        trunk = [net.net.slice1, net.net.slice2, net.net.slice3, net.net.slice4, net.net.slice5]
        with torch.no_grad():
            for part, idx in zip(trunk, CONV_INDICES):
                conv = getattr(part, str(idx))
                conv.weight.copy_(torch.from_numpy(weights.params[f"features.{idx}.weight"]))
                conv.bias.copy_(torch.from_numpy(weights.params[f"features.{idx}.bias"]))
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        _state["net"] = net
        _state["source"] = weights.source
        return net


def weights_source() -> str | None:
    """Where the loaded AlexNet weights came from (None before the first successful load)."""
    return _state.get("source")  # type: ignore[return-value]


def unavailable_reason() -> str | None:
    """None if LPIPS can run here, else a one-line reason."""
    try:
        get_network()
    except WeightsError as exc:
        return f"LPIPS unavailable: {exc}"
    except ImportError as exc:
        return f"LPIPS unavailable: cannot import lpips/torchvision ({exc})"
    return None


def _features(x):
    """Unit-normalised trunk activations of (N, 3, H, W) inputs in [-1, 1]."""
    import lpips

    net = get_network()
    return [lpips.normalize_tensor(o) for o in net.net(net.scaling_layer(x))]


def _distance(f0, f1):
    """(N,) LPIPS from two feature lists (v0.1 heads, spatial mean)."""
    net = get_network()
    total = 0
    for k, lin in enumerate(net.lins):
        total = total + lin((f0[k] - f1[k]) ** 2).mean(dim=(2, 3))
    return total[:, 0]


def _to_input(slices: np.ndarray):
    """(N, H, W) [0, 1] -> (N, 3, H', W') torch in [-1, 1], padded to MIN_SIZE with -1."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(slices, dtype=np.float32)) * 2.0 - 1.0
    h, w = x.shape[-2:]
    if h < MIN_SIZE or w < MIN_SIZE:
        x = torch.nn.functional.pad(x, (0, max(MIN_SIZE - w, 0), 0, max(MIN_SIZE - h, 0)), value=-1.0)
    return x[:, None].expand(-1, 3, -1, -1)


def lpips_rgb(img0: np.ndarray, img1: np.ndarray) -> float:
    """LPIPS of two RGB images (H, W, 3) with values in [0, 1] (the calibration protocol)."""
    import torch

    t0 = torch.from_numpy(np.asarray(img0, np.float32).transpose(2, 0, 1)[None].copy()) * 2 - 1
    t1 = torch.from_numpy(np.asarray(img1, np.float32).transpose(2, 0, 1)[None].copy()) * 2 - 1
    with torch.inference_mode():
        return float(_distance(_features(t0), _features(t1))[0])


def lpips_slices(reference: np.ndarray, others: tuple[np.ndarray, ...], *,
                 batch: int = DEFAULT_BATCH, ref_features: list | None = None) -> list[np.ndarray]:
    """Per-slice LPIPS of each stack in ``others`` against ``reference``.

    Args:
        reference: (N, H, W) grayscale slices in [0, 1] (BL).
        others: stacks of the same shape (harmonized FU, reconstruction ...).
        batch: slices per forward pass (bounds memory).
        ref_features: :func:`reference_features` of ``reference`` with this ``batch`` when
            already computed (e.g. once per case for every image scored against the same BL).

    Returns:
        One (N,) float64 array per entry of ``others``.
    """
    import torch

    n = reference.shape[0]
    feats = ref_features if ref_features is not None else reference_features(reference, batch=batch)
    out = [np.empty(n) for _ in others]
    with torch.inference_mode():
        for k, lo in enumerate(range(0, n, batch)):
            hi = min(lo + batch, n)
            fill = _fill_count(n, lo, hi, batch)
            for j, img in enumerate(others):
                d = _distance(feats[k], _features(_to_input(_fill(img[lo:hi], fill)))).double().numpy()
                out[j][lo:hi] = d[: hi - lo]
    return out


def reference_features(reference: np.ndarray, *, batch: int = DEFAULT_BATCH) -> list:
    """The trunk features of ``reference`` (N, H, W), one list per forward pass of :func:`lpips_slices`."""
    import torch

    n = reference.shape[0]
    with torch.inference_mode():
        return [_features(_to_input(_fill(reference[lo:min(lo + batch, n)], _fill_count(n, lo, min(lo + batch, n),
                                                                                        batch))))
                for lo in range(0, n, batch)]


def _fill_count(n: int, lo: int, hi: int, batch: int) -> int:
    """Slices added to the chunk ``[lo, hi)``: the last chunk is padded (repeating its last slice)
    to the full batch so every forward pass has one shape; the padded results are dropped."""
    return batch - (hi - lo) if n > batch else 0


def _fill(stack: np.ndarray, extra: int) -> np.ndarray:
    if extra <= 0:
        return stack
    return np.concatenate([stack, np.repeat(stack[-1:], extra, axis=0)])


class LpipsMetric(Metric):
    """Slice-wise LPIPS vs BL over the kept axial slices (paper Table 2; lower is better).

    Emits ``slice-lpips`` and, when ``ctx.recon`` is set, ``recon-slice-lpips``: the mean over the
    kept, non-empty axial slices of per-slice LPIPS, each slice cropped to the in-plane BL head
    bounding box with its air (outside the slice's BL head mask) zeroed in both images. The
    policy is recorded in :meth:`policy` (attributes ``region`` and ``crop``). No box variant.

    Args:
        batch: slices per AlexNet forward pass.
    """

    name = "lpips"
    kind = "slice-similarity"
    higher_is_better = False
    description = ("mean over kept axial slices of LPIPS (AlexNet, v0.1) vs BL; head-box crop, "
                   "air outside the BL head mask zeroed")
    emits: ClassVar[dict[str, bool | None]] = {"slice-lpips": False, "recon-slice-lpips": False}

    def __init__(self, *, batch: int = DEFAULT_BATCH) -> None:
        self.batch = batch
        self.region = REGION_POLICY
        self.crop = CROP_POLICY

    def available(self) -> str | None:
        return unavailable_reason()

    def policy(self) -> dict[str, object]:
        return {**super().policy(), "weights": weights_source()}

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        require_same_grid(ctx.fu, ctx.bl)
        vols = (ctx.fu,) + ((ctx.recon,) if ctx.recon is not None else ())
        for v in vols[1:]:
            require_same_grid(v, ctx.bl, what_a="recon image")
        # = kept_slices of BL and the images; BL's slices and trunk features are shared per case
        frame, bl = case_slice_frame(ctx, 0)
        if bl.shape[0] == 0:
            vals = [np.empty(0) for _ in vols]
        else:
            others = tuple(zero_outside(cut_slices(o, frame), frame.mask) for o in vols)
            feats = ctx.shared.for_case(("lpips-bl", self.batch), lambda: reference_features(
                zero_outside(bl, frame.mask), batch=self.batch))
            vals = lpips_slices(bl, others, batch=self.batch, ref_features=feats)
        names = ("slice-lpips", "recon-slice-lpips")
        return [MetricValue(nm, "", float(np.mean(v)) if v.size else math.nan) for nm, v in zip(names, vals)]
