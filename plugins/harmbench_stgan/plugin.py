"""Plugin module registering ``stgan``."""

from __future__ import annotations

from harmbench.hookspecs import hookimpl
from harmbench.method import BaseMethod

from harmbench_stgan.stgan import StyleTransferGAN


@hookimpl
def harmbench_methods() -> list[type[BaseMethod]]:
    return [StyleTransferGAN]
