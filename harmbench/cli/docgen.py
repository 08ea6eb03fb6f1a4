"""Generate docs/cli.md from the click commands (a test keeps the file in sync)."""

from __future__ import annotations

import click


def _walk(cmd: click.Command, path: list[str]):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            yield from _walk(cmd.commands[name], path + [name])


def cli_reference() -> str:
    from harmbench.cli.main import cli

    out = ["# CLI reference", "",
           "Generated from the click commands by `python -m harmbench.cli.docgen > docs/cli.md`; "
           "`tests/core/test_docs.py` fails if this file drifts.", ""]
    for path, cmd in _walk(cli, ["harmbench"]):
        ctx = click.Context(cmd, info_name=" ".join(path), terminal_width=80, max_content_width=80)
        out.append(f"## `{' '.join(path)}`")
        out.append("")
        out.append("```")
        out.append(cmd.get_help(ctx).replace("Usage: ", "usage: ", 1))
        out.append("```")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(cli_reference(), end="")
