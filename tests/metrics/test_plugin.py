from __future__ import annotations

from harmbench import registry
from harmbench.metrics.base import Metric
from harmbench.metrics.plugin import core_metrics

KINDS = {"similarity", "slice-similarity", "cnr", "lesion", "change", "input-change", "downstream"}


def test_core_metrics_are_registered_through_the_hook():
    names = set(registry.metrics())
    assert {"similarity", "slice-similarity", "lpips", "cnr", "lesion", "change-read"} <= names
    assert registry.metrics()["lpips"].source == "core-metrics"


def test_every_metric_declares_kind_directions_and_policy():
    emitted = set()
    for m in core_metrics():
        assert isinstance(m, Metric) and m.kind in KINDS and m.description
        dirs = m.directions()
        assert dirs and not (emitted & set(dirs)), m.name     # no emitted name claimed twice
        emitted |= set(dirs)
        assert m.policy()["class"].startswith("harmbench.metrics.")
    assert {"ssim", "psnr", "slice-lpips", "cnr-diff", "lesion-dice", "lesion-hd95", "change-any",
            "input-rms-change"} <= emitted
    assert core_metrics()[0].directions()["psnr"] is True
