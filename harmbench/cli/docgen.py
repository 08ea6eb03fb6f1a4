"""Generate docs/cli.md from the click commands (a test keeps the file in sync)."""

from __future__ import annotations

import click


def _walk(cmd: click.Command, path: list[str], parent: click.Context | None = None):
    """Yield (path, help text) with contexts chained like a real invocation (inherited settings)."""
    settings = {**cmd.context_settings, "terminal_width": 80, "max_content_width": 80}
    ctx = click.Context(cmd, info_name=path[-1], parent=parent, **settings)
    yield path, cmd.get_help(ctx)
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            yield from _walk(cmd.commands[name], path + [name], ctx)


def cli_reference() -> str:
    from harmbench.cli.main import cli

    out = ["# CLI reference", "",
           "Generated from the click commands by `python -m harmbench.cli.docgen > docs/cli.md`; "
           "`tests/core/test_docs.py` fails if this file drifts.", ""]
    for path, text in _walk(cli, ["harmbench"]):
        out.append(f"## `{' '.join(path)}`")
        out.append("")
        out.append("```")
        out.append(text.replace("Usage: ", "usage: ", 1))
        out.append("```")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(cli_reference(), end="")
