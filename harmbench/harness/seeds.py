"""Training seeds as a dimension of an evaluation.

A method *learns* when its class declares a ``seed`` or ``random_state`` parameter: it is fitted
once per seed of the evaluation, and the seed reaches it through that parameter. A method that
declares neither (identity, histogram matching, Nyúl, ComBat) is deterministic and runs once.

Seed derivation is the identity: ``--seeds N`` means seeds ``0 .. N-1`` (so seed 0 is what a
one-seed run always used), ``--seeds 0,4,7`` those seeds. The method derives its own streams
(initialisation, batches, latent codes) from the seed it receives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harmbench.errors import OptionError

#: the parameters through which a method receives its training seed
SEED_PARAMS = ("seed", "random_state")
#: seeds of the default benchmark: every learned method is fitted three times
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2)


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"3"`` -> ``(0, 1, 2)``; ``"0,4,7"`` (any text with a comma) -> ``(0, 4, 7)``.

    Raises:
        OptionError: not a positive count, or not a list of distinct non-negative integers.
    """
    t = text.strip()
    if "," not in t:
        try:
            n = int(t)
        except ValueError:
            raise OptionError(f"--seeds {text!r} is neither a number of seeds nor a comma-separated list "
                              "of seeds; expected e.g. 3 or 0,4,7") from None
        if n < 1:
            raise OptionError(f"--seeds {text!r} asks for no seed; expected a count >= 1 "
                              "or a list such as 0,4,7")
        return tuple(range(n))
    items = [s.strip() for s in t.split(",") if s.strip()]
    try:
        seeds = tuple(int(s) for s in items)
    except ValueError:
        raise OptionError(f"--seeds {text!r} holds a value that is not an integer; "
                          "expected e.g. 0,4,7") from None
    return check_seeds(seeds)


def check_seeds(seeds: Iterable[int]) -> tuple[int, ...]:
    """``seeds`` as a tuple, checked: at least one, integers >= 0, no duplicates.

    Raises:
        OptionError: naming the offending value.
    """
    out = tuple(seeds)
    if not out:
        raise OptionError("no seeds given; expected at least one (e.g. --seeds 3 or --seeds 0,4,7)")
    for s in out:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise OptionError(f"seed {s!r} is not a non-negative integer")
    dup = sorted({s for s in out if out.count(s) > 1})
    if dup:
        raise OptionError(f"seed(s) {', '.join(map(str, dup))} given twice in {', '.join(map(str, out))}; "
                          "each seed is fitted once")
    return out


def seed_params(defaults: Mapping[str, Any]) -> tuple[str, ...]:
    """The seed parameters a method declares (``defaults``: its ``param_defaults()``).

    Empty for a method that does not learn.
    """
    return tuple(n for n in SEED_PARAMS if n in defaults)


def seeded_params(defaults: Mapping[str, Any], params: Mapping[str, Any],
                  seeds: tuple[int, ...]) -> list[tuple[dict[str, Any], int | None]]:
    """The fits of one run spec: ``(parameters, seed)`` per fit.

    Args:
        defaults: the method's ``param_defaults()``.
        params: the spec's parameters (preset and device already injected).
        seeds: the evaluation's seeds.

    Returns:
        One ``(params, None)`` for a method that does not learn; one ``(params, s)`` for a spec
        that fixes its seed itself (``pix2pix[seed=5]`` -> ``s`` = 5); else one per seed of
        ``seeds``, the seed set in every seed parameter the method declares.
    """
    names = seed_params(defaults)
    if not names:
        return [(dict(params), None)]
    given = [n for n in names if n in params]
    if given:
        fixed = params[given[0]]
        return [({**{n: fixed for n in names}, **params}, fixed)]
    return [({**params, **{n: s for n in names}}, s) for s in seeds]
