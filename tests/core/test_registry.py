from __future__ import annotations

import pytest

from harmbench import registry
from harmbench.errors import PluginError
from harmbench.hookspecs import hookimpl
from harmbench.method import BaseMethod, Capabilities


class _Dup(BaseMethod):
    name = "histmatch"
    capabilities = Capabilities(needs_training=False)

    def __init__(self):
        pass


class _DupPlugin:
    @hookimpl
    def harmbench_methods(self):
        return [_Dup]


def test_builtins_registered_through_entry_points():
    from importlib.metadata import entry_points

    eps = {ep.name for ep in entry_points(group="harmbench")}
    assert {"identity", "histmatch"} <= eps
    assert {"identity", "histmatch", "nyul"} <= set(registry.methods())
    assert registry.methods()["nyul"].source == "histmatch"


def test_duplicate_name_names_both_sources():
    registry.register_plugin(_DupPlugin(), "dup-plugin")
    try:
        with pytest.raises(PluginError, match="'histmatch' is registered twice.*'histmatch'.*'dup-plugin'"):
            registry.methods()
    finally:
        registry.unregister_plugin("dup-plugin")
    assert "histmatch" in registry.methods()


def test_disable_plugins_env(monkeypatch):
    monkeypatch.setenv("HARMBENCH_DISABLE_PLUGINS", "histmatch, identity")
    registry.reset()
    try:
        names = set(registry.methods())
        assert "histmatch" not in names and "nyul" not in names and "identity" not in names
    finally:
        monkeypatch.delenv("HARMBENCH_DISABLE_PLUGINS")
        registry.reset()


def test_unknown_method_suggests():
    with pytest.raises(PluginError, match="did you mean histmatch"):
        registry.get_method("histmach")


def test_core_names_no_method():
    """Nothing in harmbench/ (the core) may name a built-in method."""
    from pathlib import Path

    import harmbench

    core = Path(harmbench.__file__).parent
    banned = ["harmbench_histmatch", "harmbench_gan", "harmbench_combat", "harmbench_stgan",
              "harmbench_identity", "harmbench_synth", "\"nyul\"", "'nyul'", "\"histmatch\"", "'histmatch'",
              "\"oml-cyclegan\"", "\"combat\"", "\"stgan\"", "\"pix2pix\""]
    for f in core.rglob("*.py"):
        text = f.read_text()
        for b in banned:
            assert b not in text, f"{f} names {b}"
