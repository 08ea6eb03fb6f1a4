"""Generate docs/cli.md from the click commands (a test keeps the file in sync).

The reference is rendered here from each command's declared parameters (names, types, help,
defaults), not from click's ``--help`` text, whose layout changes between click releases: the
file must not go stale because click was upgraded.
"""

from __future__ import annotations

import inspect

import click

HEADER = [
    "# CLI reference",
    "",
    "Generated from the click commands by `python -m harmbench.cli.docgen > docs/cli.md`; "
    "`tests/core/test_docs.py` fails if this file drifts. Every command also takes `-h`/`--help`.",
    "",
]


def _walk(cmd: click.Command, path: list[str]):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            yield from _walk(cmd.commands[name], path + [name])


def _help(cmd: click.Command) -> str:
    return inspect.cleandoc(cmd.help or "").split("\f")[0].strip()


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _value(opt: click.Option) -> str:
    if opt.is_flag:
        return ""
    t = opt.type
    if isinstance(t, click.Choice):
        return " \\| ".join(f"`{c}`" for c in t.choices)
    if isinstance(t, click.IntRange):
        bounds = [f">= {t.min}" if t.min is not None else "", f"<= {t.max}" if t.max is not None else ""]
        return " ".join(["INTEGER", *filter(None, bounds)])
    return t.name.upper()


def _usage(path: list[str], cmd: click.Command) -> str:
    parts = [*path, "[OPTIONS]"]
    for p in cmd.params:
        if isinstance(p, click.Argument):
            name = p.name.upper() + ("..." if p.nargs == -1 else "")
            parts.append(name if p.required else f"[{name}]")
    if isinstance(cmd, click.Group):
        parts.append("COMMAND [ARGS]...")
    return " ".join(parts)


def _section(path: list[str], cmd: click.Command) -> list[str]:
    out = [f"## `{' '.join(path)}`", "", f"`{_usage(path, cmd)}`", "", _help(cmd), ""]
    for p in cmd.params:
        if isinstance(p, click.Argument) and isinstance(p.type, click.Choice):
            out += [f"{p.name.upper()}: one of {', '.join(f'`{c}`' for c in p.type.choices)}.", ""]
    options = [p for p in cmd.params if isinstance(p, click.Option) and not p.hidden]
    if options:
        out += ["| option | value | description |", "|---|---|---|"]
        for o in options:
            desc = _cell(o.help or "")
            if o.required:
                desc = f"Required. {desc}".strip()
            if o.show_default is True and o.default is not None and not o.is_flag:
                desc = f"{desc} (default: `{o.default}`)".strip()
            out.append(f"| `{', '.join(o.opts + o.secondary_opts)}` | {_value(o)} | {desc} |")
        out.append("")
    if isinstance(cmd, click.Group):
        out += ["| command | description |", "|---|---|"]
        for name in sorted(cmd.commands):
            out.append(f"| `{name}` | {_cell(_help(cmd.commands[name]).split(chr(10) * 2)[0])} |")
        out.append("")
    return out


def cli_reference() -> str:
    from harmbench.cli.main import cli

    out = list(HEADER)
    for path, cmd in _walk(cli, ["harmbench"]):
        out += _section(path, cmd)
    return "\n".join(out)


if __name__ == "__main__":
    print(cli_reference(), end="")
