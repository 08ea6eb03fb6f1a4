"""Plugin module of harmbench_gan: registers the four slice-GAN methods."""

from __future__ import annotations

from harmbench.hookspecs import hookimpl
from harmbench.method import BaseMethod


@hookimpl
def harmbench_methods() -> list[type[BaseMethod]]:
    from harmbench_gan.methods import CycleGAN, CycleGANIdentity, OMLCycleGAN, Pix2Pix

    return [OMLCycleGAN, CycleGAN, CycleGANIdentity, Pix2Pix]
