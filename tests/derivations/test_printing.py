"""The LaTeX printing conventions (derivations.printing)."""

import pytest
import sympy as sp

from derivations.derivation import Derivation
from derivations.errors import DerivationError
from derivations.printing import LINE, display, latex, width

eta, kappa, u, s = sp.symbols("eta kappa u s", positive=True)
dt, dW = sp.symbols("dt dW")


def test_latex_names_are_printed_verbatim():
    assert latex(sp.Symbol(r"\nabla L(w_k)")) == r"\nabla L(w_k)"
    assert latex(sp.MatrixSymbol(r"\mathbb{E}[x_1 x_2]", 2, 2)) == r"\mathbb{E}[x_1 x_2]"
    assert latex(sp.Symbol("w_1")) == "w_{1}" and latex(sp.Symbol("eta")) == r"\eta"


def test_negative_matrix_terms_are_subtracted():
    H, S = sp.MatrixSymbol("H", 2, 2), sp.MatrixSymbol("S", 2, 2)
    assert latex(eta * S - eta ** 2 * H * S * H) == r"\eta S - \eta^{2} H S H"


def test_sde_prints_in_standard_form():
    assert latex(sp.Eq(sp.Symbol("du"), dt * (s - u) + dW * sp.sqrt(eta) * u)) == r"du = \left(s - u\right)\,dt + \sqrt{\eta} u\,dW"
    assert display(sp.Eq(sp.Symbol("du"), sp.expand(dt * (s - u) ** 2 * u))) == r"\[du = u \left(s - u\right)^{2}\,dt\]"


def test_results_are_factorised_when_shorter():
    assert display(sp.expand((u - s) ** 3)) == r"\[- \left(s - u\right)^{3}\]"


def test_wide_equations_are_broken_not_scaled():
    wide = sp.Eq(sp.Symbol("y"), sum(sp.Symbol(f"a_{i}") * u ** i for i in range(40)))
    tex = display(wide)
    assert "aligned" in tex and "resizebox" not in tex
    assert all(width(line) <= LINE + 8 for line in tex.split("\\\\\n"))


def test_a_boolean_step_is_refused():
    d = Derivation(summary="", assumptions=[], steps=[], result=sp.S.One)
    with pytest.raises(DerivationError, match="evaluate=False"):
        d.step("a scalar equal to a matrix", sp.Eq(sp.Symbol("x"), sp.ZeroMatrix(2, 1)))
    d.step("held unevaluated", sp.Eq(sp.Symbol("x"), sp.ZeroMatrix(2, 1), evaluate=False))
    assert len(d.steps) == 1
