"""Declared parameter constraints, checked once at planning time (scikit-learn's ``_parameter_constraints``).

A method class declares, for each ``__init__`` parameter, a list of accepted forms::

    _parameter_constraints = {
        "n_landmarks": [Interval(int, 2, None)],
        "mask": [Options({"head", "brain"}), None],
        "lr": [Interval(float, 0, None, closed="neither"), None],   # None: from the preset
    }

A value is valid when it satisfies *any* entry. Entries are a :class:`Interval`, an
:class:`Options` set, a Python type (``int``, ``float``, ``bool``, ``str``) or ``None``
(the value ``None``). ``bool`` never counts as an ``int`` or ``float`` and an ``int`` counts as a
``float``. Constraints are merged along the class hierarchy, so a subclass only declares what it
adds or narrows. :meth:`harmbench.method.BaseMethod.check_params` applies them;
:func:`violating_value` gives the conformance kit a value each declaration must refuse.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from harmbench.errors import DataError


def _is_number(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is int:
        return isinstance(value, int)
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


@dataclass(frozen=True)
class Interval:
    """Numbers of ``kind`` (``int`` or ``float``) between ``low`` and ``high`` (None: unbounded)."""

    kind: type
    low: float | None
    high: float | None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def is_satisfied_by(self, value: Any) -> bool:
        if not _is_number(value, self.kind):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        left_ok = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        right_ok = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        return left_ok and right_ok

    def __str__(self) -> str:
        name = "an int" if self.kind is int else "a float"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        lb = "[" if self.closed in ("both", "left") and self.low is not None else "("
        rb = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        return f"{name} in {lb}{lo}, {hi}{rb}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (compared with ``==``; strings are case-sensitive)."""

    values: frozenset

    def __init__(self, values: Iterable[Any]) -> None:
        object.__setattr__(self, "values", frozenset(values))

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool):  # True == 1: a bool matches only a bool option ...
            return any(v is value for v in self.values)
        try:
            hit = value in self.values
        except TypeError:  # unhashable value
            return False
        # ... and a number never matches a bool option (1 in {True} holds in Python)
        return hit and not any(isinstance(v, bool) and v == value for v in self.values)

    def __str__(self) -> str:
        return "one of {" + ", ".join(repr(v) for v in sorted(self.values, key=repr)) + "}"


Constraint = Interval | Options | type | None


def _satisfies(value: Any, c: Constraint) -> bool:
    if c is None:
        return value is None
    if isinstance(c, type):
        return _is_number(value, c) if c in (int, float, bool) else isinstance(value, c)
    return c.is_satisfied_by(value)


def _describe(c: Constraint) -> str:
    if c is None:
        return "None"
    if isinstance(c, type):
        return {int: "an int", float: "a float", bool: "a bool", str: "a str"}.get(c, f"a {c.__name__}")
    return str(c)


def check_value(owner: str, name: str, value: Any, constraints: list[Constraint]) -> None:
    """Raise a one-line :class:`DataError` unless ``value`` satisfies one of ``constraints``."""
    if any(_satisfies(value, c) for c in constraints):
        return
    expected = " or ".join(_describe(c) for c in constraints)
    raise DataError(f"{owner}: parameter {name!r} must be {expected}; got {value!r}")


def validate_params(owner: str, params: Mapping[str, Any], constraints: Mapping[str, list[Constraint]]) -> None:
    """Check every parameter that has declared constraints (others are accepted as they are)."""
    for name, value in params.items():
        if name in constraints:
            check_value(owner, name, value, constraints[name])


def merged_constraints(cls: type) -> dict[str, list[Constraint]]:
    """``_parameter_constraints`` of ``cls`` and its bases; a subclass entry replaces its base's."""
    out: dict[str, list[Constraint]] = {}
    for klass in reversed(cls.__mro__):
        out.update(vars(klass).get("_parameter_constraints", {}) or {})
    return out


#: Returned by :func:`violating_value` when every candidate satisfies the constraints.
NO_VIOLATION = object()


def _candidates(c: Constraint) -> list[Any]:
    """Values just outside ``c`` (a bound minus / plus one, an open bound itself, a non-option)."""
    if isinstance(c, Interval):
        out: list[Any] = []
        for bound, step, included in ((c.low, -1, c.closed in ("both", "left")),
                                      (c.high, 1, c.closed in ("both", "right"))):
            if bound is not None:
                out.append(c.kind(bound + step) if c.kind is int else float(bound + step))
                if not included:
                    out.append(c.kind(bound))
        return out + ([0.5] if c.kind is int else [])
    if isinstance(c, Options):
        return ["not-" + "-".join(sorted(str(v) for v in c.values))]
    return []


def violating_value(constraints: list[Constraint]) -> Any:
    """A value that satisfies none of ``constraints``, or :data:`NO_VIOLATION` if none is found.

    Candidates come from the constraints themselves first (``Interval(int, 3, None)`` gives ``2``,
    ``Options({"head", "none"})`` a string that is neither), then generic ones (``None``, a
    string, a negative int, a fraction, an object of no declared type).
    """
    generic: list[Any] = [None, "harmbench-invalid", -1, 0.5, object()]
    for value in [v for c in constraints for v in _candidates(c)] + generic:
        if not any(_satisfies(value, c) for c in constraints):
            return value
    return NO_VIOLATION
