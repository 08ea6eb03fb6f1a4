"""Declared parameter constraints (harmbench/params.py) and their use by the built-in methods."""

from __future__ import annotations

import math

import pytest

from harmbench import registry
from harmbench.errors import DataError
from harmbench.params import (
    NO_VIOLATION,
    Interval,
    Options,
    check_value,
    merged_constraints,
    validate_params,
    violating_value,
)


@pytest.mark.parametrize("closed, low_ok, high_ok", [
    ("both", True, True), ("left", True, False), ("right", False, True), ("neither", False, False),
])
def test_interval_closedness(closed, low_ok, high_ok):
    iv = Interval(float, 0, 100, closed=closed)
    assert iv.is_satisfied_by(0) is low_ok and iv.is_satisfied_by(0.0) is low_ok
    assert iv.is_satisfied_by(100.0) is high_ok
    assert iv.is_satisfied_by(50.5)
    assert not iv.is_satisfied_by(-1e-9) and not iv.is_satisfied_by(100.000001)


def test_interval_kinds_and_unbounded_sides():
    ints = Interval(int, 3, None)
    assert ints.is_satisfied_by(3) and ints.is_satisfied_by(10**12)
    assert not ints.is_satisfied_by(2) and not ints.is_satisfied_by(3.0)  # a float is not an int
    floats = Interval(float, None, 1.0)
    assert floats.is_satisfied_by(-1e300) and floats.is_satisfied_by(1)  # an int counts as a float
    assert not any(floats.is_satisfied_by(v) for v in (math.nan, -math.inf, "0.5", None))
    assert str(ints) == "an int in [3, inf)"
    assert str(Interval(float, 0, 100, closed="left")) == "a float in [0, 100)"


def test_bool_is_never_a_number():
    for c in (Interval(int, 0, 1), Interval(float, 0, 1), int, float):
        check_value("m", "n", 1, [c])
        with pytest.raises(DataError, match="got True"):
            check_value("m", "n", True, [c])
    check_value("m", "flag", False, [bool])
    with pytest.raises(DataError, match="'flag' must be a bool; got 0"):
        check_value("m", "flag", 0, [bool])


def test_options_compare_by_value_but_bools_by_identity():
    opts = Options({"head", "none", 1})
    assert opts.is_satisfied_by("head") and opts.is_satisfied_by(1)
    assert not opts.is_satisfied_by("Head")      # case-sensitive
    assert not opts.is_satisfied_by(True)        # True == 1, but a bool is not the option 1
    assert not opts.is_satisfied_by(["head"])    # unhashable: refused, not a TypeError
    assert Options({True}).is_satisfied_by(True) and not Options({True}).is_satisfied_by(1)
    assert str(Options({"none", "head"})) == "one of {'head', 'none'}"


def test_none_is_a_constraint_of_its_own():
    validate_params("m", {"lr": None, "n": 2}, {"lr": [Interval(float, 0, None), None]})
    with pytest.raises(DataError, match=r"'lr' must be a float in \[0, inf\) or None; got -1"):
        validate_params("m", {"lr": -1}, {"lr": [Interval(float, 0, None), None]})
    with pytest.raises(DataError, match="'lr' must be a float in"):
        validate_params("m", {"lr": None}, {"lr": [Interval(float, 0, None)]})


def test_message_is_one_line_naming_owner_parameter_expectation_and_value():
    with pytest.raises(DataError) as info:
        validate_params("histmatch", {"mask": "x\ny"}, {"mask": [Options({"head", "none"})]})
    assert str(info.value) == "histmatch: parameter 'mask' must be one of {'head', 'none'}; got 'x\\ny'"


def test_unconstrained_parameters_pass_as_they_are():
    validate_params("m", {"anything": object(), "n": 5}, {"n": [int]})


def test_constraints_merge_along_the_mro():
    class Base:
        _parameter_constraints = {"a": [int], "b": [str]}

    class Mixin:
        _parameter_constraints = {"c": [bool]}

    class Child(Base, Mixin):
        _parameter_constraints = {"b": [Options({"x"})], "d": [None]}

    class Grandchild(Child):  # declares nothing: inherits everything
        pass

    merged = merged_constraints(Grandchild)
    assert merged == {"a": [int], "b": [Options({"x"})], "c": [bool], "d": [None]}
    assert merged_constraints(Base) == {"a": [int], "b": [str]}  # the base is not changed


@pytest.mark.parametrize("constraints, expected", [
    ([Interval(int, 3, None)], 2),
    ([Interval(float, 0, 100, closed="neither")], -1.0),
    ([Interval(float, None, 1, closed="neither")], 2.0),
    ([Interval(int, 3, None), None], 2),
    ([Options({"head", "none"})], "not-head-none"),
    ([bool], None),
    ([tuple, list], None),
])
def test_violating_value_is_picked_from_the_constraints(constraints, expected):
    bad = violating_value(constraints)
    assert bad == expected and type(bad) is type(expected)
    with pytest.raises(DataError):
        check_value("m", "p", bad, constraints)


def test_violating_value_of_an_open_bound_is_the_bound_itself_when_nothing_else_fails():
    # -1 and 101 are allowed by the second interval; 0 (the open bound) is allowed by neither
    constraints = [Interval(float, 0, 100, closed="right"), Interval(float, -5, -0.5),
                   Interval(float, 100, 200)]
    assert violating_value(constraints) == 0.0


def test_no_violation_when_everything_is_accepted():
    assert violating_value([object]) is NO_VIOLATION


@pytest.mark.parametrize("spec, needle", [
    ("histmatch[mask=x]", "histmatch: parameter 'mask' must be one of {'head', 'none'}; got 'x'"),
    ("nyul[n_landmarks=2]", "nyul: parameter 'n_landmarks' must be an int in [3, inf); got 2"),
    ("nyul[n_landmarks=true]", "got True"),
    ("nyul[i_max=100.5]", "'i_max' must be a float in (0, 100]; got 100.5"),
    ("nyul[i_min=60,i_max=40]", "nyul: need i_min < i_max; got i_min=60, i_max=40"),
    ("nyul[session=T1]", "'session' must be one of {'BL', 'FU', 'FU2'}; got 'T1'"),
    ("combat[mask=brain]", "'mask' must be one of {'head', 'none'}; got 'brain'"),
    ("combat[eb=1]", "'eb' must be a bool; got 1"),
    ("combat[covariates=3]", "'covariates' must be a tuple or a list or a str; got 3"),
])
def test_builtin_methods_refuse_bad_values_when_built(spec, needle):
    with pytest.raises(DataError) as info:
        registry.build_run(spec)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_combat_checks_the_contents_of_its_sequences():
    with pytest.raises(DataError, match=r"percentiles must be >= 2 increasing values in \(0, 100\)"):
        registry.build_method("combat", {"percentiles": (5, 5)})
    with pytest.raises(DataError, match=r"got \[1, 'x'\]"):
        registry.build_method("combat", {"percentiles": [1, "x"]})
    with pytest.raises(DataError, match=r"covariates must be manifest column names; got \[3\]"):
        registry.build_method("combat", {"covariates": ("age", 3)})
    m = registry.build_method("combat", {"percentiles": [10, 50, 90], "covariates": ["age"], "eb": False})
    assert m.get_params()["percentiles"] == [10, 50, 90]


def test_build_run_gives_preset_and_device_only_to_methods_that_take_them():
    m = registry.build_run("nyul[n_landmarks=5]", preset="quick", device="cpu")
    assert m.get_params() == {"n_landmarks": 5, "i_min": 1.0, "i_max": 99.0, "session": "BL"}
    with pytest.raises(DataError, match="expands to 2 runs"):
        registry.build_run("nyul[n_landmarks=5,7]")


def test_training_free_method_checks_parameters_at_transform_when_built_without_planning(toy_manifest):
    from harmbench.data.cohort import Cohort

    case = Cohort.from_manifest(toy_manifest).split("test-A")[0]
    fu, bl = case.volume("FU"), case.volume("BL")
    m = registry.build_method("histmatch", {"mask": "brain"}, check=False)
    with pytest.raises(DataError, match="'mask' must be one of"):
        m.transform(fu, reference=bl)
