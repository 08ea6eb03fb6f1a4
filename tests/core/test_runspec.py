from __future__ import annotations

import pytest

from harmbench.errors import DataError
from harmbench.runspec import RunSpec, parse_one, parse_specs


def test_single_param():
    (r,) = parse_one("nyul[n_landmarks=11]")
    assert r == RunSpec("nyul", {"n_landmarks": 11})
    assert r.name == "nyul[n_landmarks=11]"


def test_grid_expands():
    runs = parse_one("oml-cyclegan[lambda_oml=0,1,5,10,15]")
    assert [r.params["lambda_oml"] for r in runs] == [0, 1, 5, 10, 15]
    assert runs[2].name == "oml-cyclegan[lambda_oml=5]"


def test_multi_param_grid_and_types():
    runs = parse_one("m[a=1,2,b=x,flag=true,f=0.5]")
    assert len(runs) == 2
    assert runs[0].params == {"a": 1, "b": "x", "flag": True, "f": 0.5}


def test_parse_specs_top_level_commas():
    runs = parse_specs("identity, histmatch,nyul[n_landmarks=5,7],identity")
    assert [r.name for r in runs] == ["identity", "histmatch", "nyul[n_landmarks=5]", "nyul[n_landmarks=7]"]


@pytest.mark.parametrize("bad", ["nyul[n=1", "nyul]", "Bad Name", "nyul[=3]", "nyul[3]", "m[a=1,a=2]"])
def test_bad_specs(bad):
    with pytest.raises(DataError):
        parse_specs(bad)


def test_quoted_values_stay_strings_and_names_round_trip():
    (spec,) = parse_specs("m[d_norm='none',k=\"3\"]")
    assert spec.params == {"d_norm": "none", "k": "3"}
    assert parse_specs(spec.name)[0].params == spec.params        # the run name re-parses to the same run
    assert parse_specs("m[d_norm=none]")[0].params == {"d_norm": None}
