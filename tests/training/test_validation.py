"""The slice validator's PSNR summary: whole-slice mean of dB, or the pooled head PSNR (issue #23)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harmbench.training.validation import SliceValidator, pooled_psnr, psnr_slices


class _Shift:
    """A 'model' that adds ``inside`` to the head pixels and ``outside`` elsewhere (signed units)."""

    def __init__(self, head: np.ndarray, inside: float, outside: float) -> None:
        self.head = torch.from_numpy(head)[:, None]
        self.inside, self.outside = inside, outside

    def translate(self, fu: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        n = fu.shape[0]
        return fu + torch.where(self.head[:n], self.inside, self.outside)  # one batch: the whole stack

    def train(self) -> None: ...

    def eval(self) -> None: ...


def _stack(n=6, h=24, w=20, seed=0):
    rng = np.random.default_rng(seed)
    bl = rng.uniform(-1, 0.6, (n, h, w)).astype(np.float32)
    fu = (bl + 0.2).astype(np.float32)                 # a global offset of 0.1 in [0, 1] units
    head = np.zeros((n, h, w), bool)
    head[:, 4:20, 3:17] = True
    head[0] = False                                     # an edge slice without head
    head[1, 4:6, 3:5] = True
    return bl, fu, head


def test_pooled_psnr_is_the_psnr_of_the_mean_mse():
    mse = np.array([1e-2, 1e-4, 4e-3])
    psnr = -10 * np.log10(mse)
    assert pooled_psnr(psnr) == pytest.approx(-10 * np.log10(mse.mean()), abs=1e-9)
    w = np.array([0, 3, 1])
    assert pooled_psnr(psnr, w) == pytest.approx(-10 * np.log10((w * mse).sum() / w.sum()), abs=1e-9)
    # the mean of per-slice dB is not: it is dominated by the near-empty, low-error slice
    assert np.mean(psnr) > pooled_psnr(psnr) + 4


def test_head_validation_equals_the_pooled_head_psnr_and_ignores_the_air():
    bl, fu, head = _stack()
    v = SliceValidator(fu, bl, batch=16, mask=head)
    ident = v.identity()
    a, b = (bl[head] + 1) / 2, (fu[head] + 1) / 2
    assert ident["val_psnr"] == pytest.approx(-10 * np.log10(np.mean((a - b) ** 2)), abs=1e-4)
    # a model that fixes the head and leaves the air: the gain is the whole offset
    fixed_head = v(_Shift(head, -0.2, 0.0))
    assert fixed_head["val_psnr"] > ident["val_psnr"] + 40
    # a model that only changes the air scores exactly like the identity with a mask ...
    air_only = v(_Shift(head, 0.0, -0.2))
    assert air_only["val_psnr"] == pytest.approx(ident["val_psnr"], abs=1e-6)
    # ... and is rewarded by whole-slice validation, which is how the air misled model selection
    whole = SliceValidator(fu, bl, batch=16)
    assert whole(_Shift(head, 0.0, -0.2))["val_psnr"] > whole.identity()["val_psnr"] + 3
    # SSIM scores whole slices either way
    assert fixed_head["val_ssim"] == pytest.approx(whole(_Shift(head, -0.2, 0.0))["val_ssim"], abs=1e-6)


def test_per_slice_scores_stay_per_slice_and_a_bad_mask_is_refused():
    bl, fu, head = _stack()
    v = SliceValidator(fu, bl, batch=16, mask=head)
    per = v.identity_slices()["val_psnr"]
    assert per.shape == (6,)
    whole = psnr_slices(torch.from_numpy((bl + 1) / 2), torch.from_numpy((fu + 1) / 2)).numpy()
    assert np.allclose(per[2:], whole[2:], atol=1e-3)   # full-offset slices: the same error inside the head
    # the mask follows the slices across batches
    assert np.array_equal(SliceValidator(fu, bl, batch=4, mask=head).identity_slices()["val_psnr"], per)
    with pytest.raises(ValueError, match="mask"):
        SliceValidator(fu, bl, mask=head[:, :3])
