"""CLI plumbing: one-line errors with exit code 2, ``--debug`` for tracebacks."""

from __future__ import annotations

import sys

import click

from harmbench.console import error_line
from harmbench.errors import HarmbenchError

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
