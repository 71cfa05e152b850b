"""Catalog battery over the LaTeX of every registered derivation (the PDF itself: tests/numerics/test_cli.py).

Every step holds an equation (never a boolean sympy evaluated an ``Eq`` to) and renders; the full document
has none of the defects paper-ready output must not have.
"""

import re

import pytest
import sympy as sp

import derivations
from derivations import latex
from derivations.printing import latex as to_latex

DEFECTS = {
    "a step evaluated to a boolean": r"\\text\{(False|True)\}",
    "scaled math": r"resizebox",
    "a subscript that swallows a closing bracket": r"_\{[^}]*[\])][^}]*\}",
    "an unmerged sign pair": r"\+\s*\\?-",
}


@pytest.fixture(scope="module")
def document() -> str:
    return latex.document()


@pytest.mark.parametrize("name", derivations.names())
def test_every_step_is_an_equation_and_renders(name):
    d = derivations.get(name)
    for step in d.steps:
        assert not isinstance(step.equation, (bool, sp.logic.boolalg.BooleanAtom)), step.justification
        assert to_latex(step.equation).strip()
    assert not isinstance(d.result, sp.logic.boolalg.BooleanAtom)


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_document_has_no_defect(document, defect):
    found = [document[max(0, m.start() - 60):m.end() + 20] for m in re.finditer(DEFECTS[defect], document)]
    assert not found, f"{defect}: {found[:3]}"
