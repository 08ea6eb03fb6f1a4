"""The conformance kit's parameter checks catch each kind of broken declaration."""

from __future__ import annotations

import pytest

from harmbench.method import BaseMethod, Capabilities
from harmbench.params import Interval, Options
from harmbench.testing import run_checks
from harmbench.testing.conformance import FIT_CHECK

NAMES = "parameter constraints name __init__ parameters"
DEFAULTS = "defaults and presets satisfy the parameter constraints"
REFUSES = "check_params refuses an out-of-constraint value with a one-line DataError"


class Scale(BaseMethod):
    """Multiplies FU by ``factor`` (a well-declared, training-free toy method)."""

    name = "scale"
    capabilities = Capabilities(needs_training=False)
    presets = {"double": {"factor": 2.0}}
    _parameter_constraints = {"factor": [Interval(float, 0, None, closed="neither")],
                              "mode": [Options({"mul"})]}

    def __init__(self, *, factor: float = 1.0, mode: str = "mul") -> None:
        self.factor = factor
        self.mode = mode

    def _transform(self, fu, *, reference):
        return fu.with_data(fu.data * self.factor)


class NamesAStranger(Scale):
    _parameter_constraints = {"gain": [float]}


class BadDefault(Scale):
    def __init__(self, *, factor: float = 0.0, mode: str = "mul") -> None:
        super().__init__(factor=factor, mode=mode)


class BadPreset(Scale):
    presets = {"broken": {"factor": -2.0}}


class ForgetsSuper(Scale):
    def check_params(self) -> None:
        """Overrides without calling super(): the declared constraints are never applied."""


class MultiLine(Scale):
    def check_params(self) -> None:
        from harmbench.errors import DataError

        if self.factor <= 0:
            raise DataError("scale:\nfactor must be positive")


def _outcome(cls, manifest, tmp_path) -> dict[str, str | None]:
    """check name -> None when it passed, else its message."""
    return {r.name: None if r.passed else r.message for r in run_checks(cls, tmp_path, manifest)}


def test_a_well_declared_method_passes(toy_manifest, tmp_path):
    results = _outcome(Scale, toy_manifest, tmp_path)
    assert {k: v for k, v in results.items() if v is not None} == {}


@pytest.mark.parametrize("cls, check, needle", [
    (NamesAStranger, NAMES, "names ['gain'], which are not __init__ parameters"),
    (BadDefault, DEFAULTS, "scale default: parameter 'factor' must be a float in (0, inf); got 0.0"),
    (BadPreset, DEFAULTS, "scale preset 'broken': parameter 'factor' must be a float in (0, inf); got -2.0"),
    (ForgetsSuper, REFUSES, "check_params accepted factor=-1.0"),
    (MultiLine, REFUSES, "without naming 'factor' on one line"),
])
def test_each_broken_declaration_fails_its_check(cls, check, needle, toy_manifest, tmp_path):
    results = _outcome(cls, toy_manifest, tmp_path)
    assert results[check] is not None and needle in results[check], results[check]
    others = {k: v for k, v in results.items() if v is not None and k != check}
    if cls is BadDefault:  # the default also fails fit (and every check that needs a fit), and
        # check_params then names 'factor' whichever parameter the kit set out of bounds
        assert "'factor' must be a float in (0, inf); got 0.0" in others.pop(FIT_CHECK)
        assert "refused mode='not-mul' without naming 'mode'" in others.pop(REFUSES)
        assert set(others.values()) == {"skipped: fit failed"}
    else:
        assert others == {}
