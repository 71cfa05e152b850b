"""derivations.calculus.numbers.checked_number: the one rule for values users give, used by densities and models."""

import pytest
import sympy as sp

from derivations.calculus.numbers import checked_number
from derivations.calculus.stationary import stationary_density
from derivations.errors import ParameterError

k = sp.Symbol("k", positive=True)
n = sp.Symbol("n", integer=True)


@pytest.mark.parametrize("symbol, value, message", [
    (k, "__import__('os')", "must be a number"), (k, True, "must be a number"), (k, 1j, "finite real"),
    (k, float("nan"), "finite real"), (k, -1, "declared positive"), (n, 1.5, "declared an integer")])
def test_bad_values_are_refused_in_one_line(symbol, value, message):
    with pytest.raises(ParameterError, match=message):
        checked_number(symbol, value)


def test_a_density_never_parses_a_string_value():
    x = sp.Symbol("x", real=True)
    density = stationary_density((-k * x, 1, x))
    with pytest.raises(ParameterError, match="must be a number"):
        density.pdf({"k": "2"})
    assert checked_number(k, 2) == 2 and abs(density.pdf({"k": 2})(0.0) - (2 / sp.pi.evalf()) ** 0.5) < 1e-12
