"""The conformance kit every method plugin runs (like scikit-learn's ``check_estimator``).

Usage in a plugin's tests::

    from harmbench.testing import check_method

    def test_conformance(tmp_path):
        check_method(lambda: MyMethod(strength=0.5), tmp_path)

``harmbench check-plugin NAME`` runs the same checks from the command line.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harmbench.data.cohort import Cohort
from harmbench.errors import DataError, NotFittedError
from harmbench.method import BaseMethod
from harmbench.params import NO_VIOLATION, merged_constraints, validate_params, violating_value
from harmbench.volume import Volume

MethodFactory = Callable[[], BaseMethod]
#: The check that fits; the checks after it in :func:`_checks` need its fitted method.
FIT_CHECK = "fit returns self"


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one conformance check."""

    name: str
    passed: bool
    message: str = ""


def _transform(m: BaseMethod, fu: Volume, bl: Volume) -> Volume:
    ref = bl if m.capabilities.needs_reference else None
    return m.transform(fu, reference=ref)


def _checks(factory: MethodFactory, cohort: Cohort, workdir: Path):
    """(name, callable) pairs in run order; each callable raises AssertionError on failure.

    The checks before :data:`FIT_CHECK` need no data: the parameter contract (keyword-only
    ``__init__``, declared constraints that name real parameters, defaults and presets inside
    them, ``check_params`` refusing a value outside them), cloning, ``NotFittedError``.
    """
    state: dict = {}
    case = cohort.split("test-A")[0]
    bl, fu = case.volume("BL"), case.volume("FU")

    def params_keyword_only():
        m = factory()
        assert isinstance(m, BaseMethod), f"factory returned {type(m).__name__}, not a BaseMethod"
        assert m.name and m.name == m.name.lower() and " " not in m.name, f"bad registry name {m.name!r}"
        sig = inspect.signature(type(m).__init__)
        for p in list(sig.parameters.values())[1:]:
            assert p.kind is p.KEYWORD_ONLY, f"__init__ parameter {p.name!r} is not keyword-only"
        params = m.get_params()
        assert set(params) == {p for p in sig.parameters if p != "self"}, "get_params() != __init__ signature"

    def constraints_name_parameters():
        cls = type(factory())
        unknown = sorted(set(merged_constraints(cls)) - set(cls.param_defaults()))
        assert not unknown, f"_parameter_constraints names {unknown}, which are not __init__ parameters"

    def defaults_and_presets_satisfy_constraints():
        cls = type(factory())
        constraints = merged_constraints(cls)
        sources = {"default": cls.param_defaults()}
        sources.update({f"preset {name!r}": values for name, values in (cls.presets or {}).items()})
        for what, values in sources.items():
            try:
                validate_params(f"{cls.name} {what}", values, constraints)
            except DataError as exc:
                raise AssertionError(str(exc)) from None

    def check_params_refuses_violations():
        cls = type(factory())
        names = set(cls.param_defaults())  # constraints on other names fail the check above
        for name, constraints in sorted(merged_constraints(cls).items()):
            bad = violating_value(constraints) if name in names else NO_VIOLATION
            if bad is NO_VIOLATION:
                continue
            m = factory().set_params(**{name: bad})
            try:
                m.check_params()
            except DataError as exc:
                text = str(exc)
                assert name in text and "\n" not in text, (
                    f"check_params refused {name}={bad!r} without naming {name!r} on one line: {text!r}")
                continue
            raise AssertionError(f"check_params accepted {name}={bad!r}, which its constraints "
                                 f"{[str(c) for c in constraints]} exclude")

    def clone_works():
        m = factory()
        c = m.clone()
        assert c is not m and c.get_params() == m.get_params(), "clone() changed parameters"
        assert not c.is_fitted(), "clone() of an unfitted method reports fitted"

    def not_fitted_error():
        m = factory()
        if not m.capabilities.needs_training:
            return
        try:
            _transform(m, fu, bl)
        except NotFittedError:
            return
        raise AssertionError("transform() before fit() did not raise NotFittedError")

    def fit_returns_self():
        m = factory()
        out = m.fit(cohort)
        assert out is m, "fit() must return self"
        state["fitted"] = m

    def transform_contract():
        m = state["fitted"]
        fu_copy, bl_copy = fu.data.copy(), bl.data.copy()
        out = _transform(m, fu, bl)
        assert isinstance(out, Volume), f"transform returned {type(out).__name__}"
        assert out.shape == fu.shape, f"shape {out.shape} != input {fu.shape}"
        assert np.allclose(out.affine, fu.affine), "affine changed"
        assert out.data.dtype == np.float32, f"dtype {out.data.dtype} != float32"
        assert np.isfinite(out.data).all(), "output has NaN/Inf"
        assert np.array_equal(fu.data, fu_copy), "transform mutated its FU input"
        assert np.array_equal(bl.data, bl_copy), "transform mutated its reference input"
        state["out"] = out

    def reference_required():
        m = state["fitted"]
        if not m.capabilities.needs_reference:
            return
        try:
            m.transform(fu)
        except DataError:
            return
        raise AssertionError("needs_reference method accepted transform() without reference")

    def deterministic():
        m = state["fitted"]
        if not m.capabilities.deterministic:
            return
        again = factory().fit(cohort)
        a, b = state["out"].data, _transform(again, fu, bl).data
        assert np.allclose(a, b, atol=1e-5), f"two fits with equal params differ (max {np.abs(a - b).max():.3g})"

    def save_load_roundtrip():
        m = state["fitted"]
        d = workdir / "model"
        m.save(d)
        loaded = type(m).load(d)
        assert loaded.get_params() == m.get_params(), "loaded params differ"
        a, b = state["out"].data, _transform(loaded, fu, bl).data
        assert np.allclose(a, b, atol=1e-6), f"save/load changed output (max {np.abs(a - b).max():.3g})"
        assert not any(p.suffix in (".pkl", ".pickle") for p in d.iterdir()), "pickle files in artifact"

    def inverse_contract():
        m = state["fitted"]
        if not m.capabilities.has_inverse:
            return
        out = m.inverse_transform(bl)
        assert out.shape == bl.shape and np.isfinite(out.data).all(), "inverse_transform broke shape/finiteness"

    return [
        ("parameters are keyword-only and match get_params", params_keyword_only),
        ("parameter constraints name __init__ parameters", constraints_name_parameters),
        ("defaults and presets satisfy the parameter constraints", defaults_and_presets_satisfy_constraints),
        ("check_params refuses an out-of-constraint value with a one-line DataError",
         check_params_refuses_violations),
        ("clone gives an unfitted copy", clone_works),
        ("transform before fit raises NotFittedError", not_fitted_error),
        (FIT_CHECK, fit_returns_self),
        ("transform keeps shape/affine/dtype, finite, no input mutation", transform_contract),
        ("reference is required when declared", reference_required),
        ("deterministic under equal parameters", deterministic),
        ("save/load round-trip gives identical output, no pickle", save_load_roundtrip),
        ("inverse_transform contract", inverse_contract),
    ]


def run_checks(factory: MethodFactory, workdir: str | Path | None = None,
               manifest: str | Path | None = None) -> list[CheckResult]:
    """Run every check; never raises for a failing check (returns the results)."""
    with tempfile.TemporaryDirectory(prefix="harmbench-check-") as tmp:
        base = Path(workdir) if workdir is not None else Path(tmp)
        if manifest is None:
            from harmbench.testing.toy import write_toy_cohort

            manifest = write_toy_cohort(base / "toy")
        cohort = Cohort.from_manifest(manifest)
        results = []
        fit_failed = False
        for name, fn in _checks(factory, cohort, base):
            if fit_failed:  # every check after fit uses the fitted method
                results.append(CheckResult(name, False, "skipped: fit failed"))
                continue
            try:
                fn()
                results.append(CheckResult(name, True))
            except Exception as exc:  # a failed assertion, a HarmbenchError or a crash
                results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"))
                fit_failed = name == FIT_CHECK
        return results


def check_method(factory: MethodFactory, workdir: str | Path | None = None,
                 manifest: str | Path | None = None) -> list[CheckResult]:
    """Run the conformance kit and raise ``AssertionError`` listing every failed check.

    Args:
        factory: zero-argument callable returning a fresh, unfitted method (a class works
            when its defaults are cheap; pass a lambda with a tiny config for deep models).
        workdir: scratch folder (e.g. pytest's ``tmp_path``); a temp dir if None.
        manifest: prepared manifest to fit/transform on; the built-in phantom cohort if None.
    """
    results = run_checks(factory, workdir, manifest)
    bad = [r for r in results if not r.passed]
    if bad:
        raise AssertionError("; ".join(f"{r.name}: {r.message}" for r in bad))
    return results
