"""Documentation cannot drift: every hook is documented; the plugin guide's example exists."""

from __future__ import annotations

import inspect
from pathlib import Path

from harmbench import hookspecs

DOCS = Path(__file__).parents[2] / "docs"


def test_every_hook_documented():
    text = (DOCS / "hooks.md").read_text()
    hooks = [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("harmbench_")]
    assert len(hooks) == 3
    for name in hooks:
        assert f"## `{name}`" in text, f"hook {name} is not documented in docs/hooks.md"


def test_plugin_guide_embeds_the_tested_example():
    guide = (DOCS / "writing-a-plugin.md").read_text()
    example = (DOCS / "examples" / "harmbench-gain" / "harmbench_gain" / "plugin.py").read_text()
    assert example.strip() in guide, "docs/writing-a-plugin.md must embed the tested example verbatim"


def test_cli_reference_is_current():
    from harmbench.cli.docgen import cli_reference

    assert (DOCS / "cli.md").read_text() == cli_reference(), (
        "docs/cli.md is stale: run python -m harmbench.cli.docgen > docs/cli.md")
