"""A third-party plugin (docs/examples/harmbench-gain) is discovered via its entry point."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harmbench import registry
from harmbench.cli.main import cli
from harmbench.errors import DataError

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "harmbench-gain"


@pytest.fixture
def installed_example(tmp_path, monkeypatch):
    """Install the example like pip would: package + .dist-info with entry_points.txt on sys.path."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE / "harmbench_gain", site / "harmbench_gain")
    info = site / "harmbench_gain-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: harmbench-gain\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[harmbench]\ngain = harmbench_gain.plugin\n")
    monkeypatch.syspath_prepend(str(site))
    registry.reset()
    yield
    sys.modules.pop("harmbench_gain.plugin", None)
    sys.modules.pop("harmbench_gain", None)
    monkeypatch.undo()
    registry.reset()


def test_external_plugin_discovered_and_conforms(installed_example):
    assert registry.methods()["gain"].source == "gain"
    res = CliRunner().invoke(cli, ["check-plugin", "gain", "--json"])
    assert res.exit_code == 0, res.output
    results = json.loads(res.output)
    assert [r for r in results if not r["passed"]] == []
    names = {r["name"] for r in results}
    assert "check_params refuses an out-of-constraint value with a one-line DataError" in names


def test_external_plugin_parameters_are_checked_when_built(installed_example):
    with pytest.raises(DataError, match=r"gain: parameter 'max_voxels' must be an int in \[1, inf\); got 0"):
        registry.build_run("gain[max_voxels=0]")


def test_external_plugin_can_be_disabled(installed_example, monkeypatch):
    monkeypatch.setenv("HARMBENCH_DISABLE_PLUGINS", "gain")
    registry.reset()
    assert "gain" not in registry.methods()


def test_example_harmonizes(installed_example, toy_manifest):
    import numpy as np

    from harmbench.data.cohort import Cohort

    cohort = Cohort.from_manifest(toy_manifest)
    m = registry.get_method("gain")().fit(cohort)
    case = cohort.split("test-A")[0]
    bl, fu = case.volume("BL"), case.volume("FU")
    before = np.mean((fu.data - bl.data) ** 2)
    after = np.mean((m.transform(fu).data - bl.data) ** 2)
    assert after < 0.7 * before
