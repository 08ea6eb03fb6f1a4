"""CLI plumbing: one-line errors with exit code 2, ``--debug`` for tracebacks."""

from __future__ import annotations

import sys

import click

from harmbench.console import error_line
from harmbench.errors import DataError, HarmbenchError

EXIT_BAD_INPUT = 2


class HarmbenchGroup(click.Group):
    """A click group that turns ``HarmbenchError`` into one stderr line and exit code 2."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except HarmbenchError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            error_line(str(exc))
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            error_line("interrupted; completed work is cached and a rerun resumes")
            sys.exit(130)


def load_run_method(spec: str, preset: str | None = None, device: str | None = None):
    """Instantiate a method from ``name[key=value,...]`` (a single run, no grid)."""
    from harmbench import registry
    from harmbench.runspec import parse_one

    runs = parse_one(spec)
    if len(runs) != 1:
        raise DataError(f"{spec!r} expands to {len(runs)} runs; give one value per parameter")
    run = runs[0]
    cls = registry.get_method(run.method)
    params = dict(run.params)
    names = set(cls.param_defaults())
    if preset and "preset" in names:
        params.setdefault("preset", preset)
    if device and "device" in names:
        params.setdefault("device", device)
    return registry.build_method(run.method, params)
