"""The statistical suite is not flaky: every registered check under 20 seeds (slow).

Run with ``python -m pytest -m slow tests/test_seed_robustness.py -s``; it prints, per check, its verdict under
each seed. Target: every exact-theory check CONFIRMED under every seed (every mutant rejected); a verdict of a
paper's approximate claim that flips between seeds is printed as a finding.
"""

from collections import Counter

import pytest

from numerics.checks import check_names, get_check

SEEDS = range(100, 120)


def _limits(names):
    """20 quick runs of a check (the default per-test limit is for one) within an hour; the network checks, minutes
    per quick run on 2 cores, within three. One timeout mark per case: a function-level mark would win over it."""
    return [pytest.param(n, marks=pytest.mark.timeout(10800 if get_check(n).extra else 3600)) for n in names]


@pytest.mark.slow
@pytest.mark.parametrize("name", _limits(check_names()))
def test_check_verdict_under_20_seeds(name):
    check = get_check(name)
    verdicts = {seed: check(seed=seed).verdict for seed in SEEDS}
    counts = Counter(verdicts.values())
    print(f"{name}: " + ", ".join(f"{v} {n}/20" for v, n in counts.items())
          + ("" if len(counts) == 1 else "  (flips between seeds: " + ", ".join(f"{s}: {v}" for s, v in verdicts.items()) + ")"))
    if check.exact:
        assert counts == Counter({"CONFIRMED": len(SEEDS)}), verdicts
