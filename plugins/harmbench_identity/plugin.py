"""Plugin module of the diagnostic methods ``identity`` and ``copy-reference``."""

from __future__ import annotations

from harmbench.hookspecs import hookimpl
from harmbench.method import BaseMethod, Capabilities
from harmbench.volume import Volume


class IdentityMethod(BaseMethod):
    """Returns the follow-up image unchanged: the "original FU" row of the paper's tables.

    A diagnostic: the floor every candidate must beat on similarity, and the ceiling of change
    preservation (it keeps every real change).
    """

    name = "identity"
    capabilities = Capabilities(needs_training=False, diagnostic=True)

    def __init__(self) -> None:
        pass

    def _transform(self, fu: Volume, *, reference: Volume | None) -> Volume:
        return fu.with_data(fu.data.copy())


class CopyReferenceMethod(BaseMethod):
    """Returns the patient's baseline image in place of the follow-up: an adversarial diagnostic.

    It agrees perfectly with BL, so it tops every similarity table (PSNR +inf, SSIM 1, LPIPS 0),
    and it erases every real change, so it must come last on change kept (test B). A benchmark
    that ranked it first would be measuring agreement with BL, not harmonization; the
    leaderboards show it marked "(diagnostic)" and never rank or bold it. Needs the BL
    (``needs_reference``) on the FU's grid, as every head-to-head method does.
    """

    name = "copy-reference"
    capabilities = Capabilities(needs_training=False, needs_reference=True, diagnostic=True)

    def __init__(self) -> None:
        pass

    def _transform(self, fu: Volume, *, reference: Volume | None) -> Volume:
        assert reference is not None                      # BaseMethod.transform checks needs_reference
        return fu.with_data(reference.data.astype(fu.data.dtype, copy=True))


@hookimpl
def harmbench_methods() -> list[type[BaseMethod]]:
    return [IdentityMethod, CopyReferenceMethod]
