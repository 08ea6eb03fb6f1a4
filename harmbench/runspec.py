"""Parse method run specifications such as ``nyul[n_landmarks=11]``.

Grammar: ``name[key=value,...]``; a comma-separated token without ``=`` adds another value
to the preceding key, so ``gan[lr=1,2,3]`` expands into three runs and
``m[a=1,2,b=x]`` into two. Several specs are separated by commas outside brackets.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from harmbench.errors import DataError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class RunSpec:
    """One method with fixed parameter overrides; ``name`` is the leaderboard run name."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        if not self.params:
            return self.method
        inner = ",".join(f"{k}={format_value(v)}" for k, v in sorted(self.params.items()))
        return f"{self.method}[{inner}]"


def parse_value(text: str) -> Any:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]                     # quoted: always a string ('none' stays "none")
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def format_value(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, str) and parse_value(v) != v:
        return f"'{v}'"                    # e.g. the string 'none', which unquoted would mean None
    return str(v)


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise DataError(f"unbalanced ']' in method spec {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise DataError(f"unbalanced '[' in method spec {text!r}")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_one(spec: str) -> list[RunSpec]:
    """Parse one ``name[...]`` spec into the runs of its parameter grid."""
    m = re.fullmatch(r"\s*([^\[\]]+?)\s*(?:\[(.*)\])?\s*", spec)
    if not m:
        raise DataError(f"cannot parse method spec {spec!r}; expected name or name[key=value,...]")
    name, inner = m.group(1), m.group(2)
    if not _NAME.match(name):
        raise DataError(f"invalid method name {name!r} in {spec!r}")
    if inner is None or not inner.strip():
        return [RunSpec(name)]
    grid: dict[str, list[Any]] = {}
    key = None
    for tok in inner.split(","):
        tok = tok.strip()
        if not tok:
            continue
        if "=" in tok:
            key, val = (s.strip() for s in tok.split("=", 1))
            if not key.isidentifier():
                raise DataError(f"invalid parameter name {key!r} in {spec!r}")
            if key in grid:
                raise DataError(f"parameter {key!r} given twice in {spec!r}")
            grid[key] = [parse_value(val)]
        elif key is None:
            raise DataError(f"value {tok!r} has no parameter name in {spec!r}; expected key=value")
        else:
            grid[key].append(parse_value(tok))
    keys = list(grid)
    return [RunSpec(name, dict(zip(keys, combo))) for combo in itertools.product(*(grid[k] for k in keys))]


def parse_specs(text: str) -> list[RunSpec]:
    """Parse ``a,b[k=1,2],c`` into a flat, de-duplicated list of runs (order kept).

    Raises:
        DataError: ``text`` names no method (``""``, ``","``); callers that mean "every method"
            must say so themselves rather than pass an empty list.
    """
    runs: list[RunSpec] = []
    seen: set[str] = set()
    for part in split_top_level(text):
        for r in parse_one(part):
            if r.name not in seen:
                seen.add(r.name)
                runs.append(r)
    if not runs:
        raise DataError(f"method list {text!r} names no method; "
                        "expected e.g. 'histmatch,nyul[n_landmarks=11]'")
    return runs
