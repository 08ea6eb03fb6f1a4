"""Plugin module for the ``identity`` method."""

from __future__ import annotations

from harmbench.hookspecs import hookimpl
from harmbench.method import BaseMethod, Capabilities
from harmbench.volume import Volume


class IdentityMethod(BaseMethod):
    """Returns the follow-up image unchanged: the "original FU" row of the paper's tables."""

    name = "identity"
    capabilities = Capabilities(needs_training=False)

    def __init__(self) -> None:
        pass

    def _transform(self, fu: Volume, *, reference: Volume | None) -> Volume:
        return fu.with_data(fu.data.copy())


@hookimpl
def harmbench_methods() -> list[type[BaseMethod]]:
    return [IdentityMethod]
