"""Named derivations: ordered steps, assumptions, a result, LaTeX, lambdify, a registry.

A :class:`Derivation` is the unit the package publishes: every claim becomes one,
``derivations.get(name)`` builds it (lazily, cached per process), ``latex()``
renders it, ``lambdify()`` turns its result into a numpy function.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from .errors import DerivationError
from .printing import display, latex as _latex
from .registry import Registry


@dataclass(frozen=True)
class Reference:
    """A bibliographic reference emitted into the LaTeX of every derivation that uses it."""

    key: str
    authors: str
    title: str
    venue: str
    year: int
    eprint: str = ""

    def bibitem(self) -> str:
        arxiv = f", \\texttt{{arXiv:{self.eprint}}}" if self.eprint else ""
        return f"\\bibitem{{{self.key}}} {self.authors}, \\emph{{{self.title}}}, {self.venue} ({self.year}){arxiv}."


@dataclass(frozen=True)
class Step:
    """One step: an equation (or expression) and the one-line justification that produces it.

    The equation is held unevaluated (``sp.Eq(lhs, rhs, evaluate=False)`` where sympy would decide it): a step
    that sympy has evaluated to ``True``/``False`` says nothing and is refused by :meth:`Derivation.step`.
    """

    justification: str
    equation: sp.Basic

    def latex(self) -> str:
        return _latex(self.equation)


@dataclass(kw_only=True)
class Derivation:
    """An ordered derivation with its assumptions, its result and the parameters of the result.

    ``result`` is a sympy object (expression, ``Eq`` or matrix); ``parameters`` are the
    symbols ``lambdify`` takes, in order. ``title`` is LaTeX (``plain_title`` is its text form).
    A registered builder leaves ``name`` and ``title`` to :func:`register`, which declares them.
    """

    name: str = ""
    title: str = ""
    summary: str
    assumptions: list[str]
    steps: list[Step]
    result: sp.Basic
    parameters: tuple[sp.Basic, ...] = ()
    references: tuple[Reference, ...] = ()
    extras: dict[str, sp.Basic] = field(default_factory=dict)

    def step(self, justification: str, equation: sp.Basic) -> sp.Basic:
        """Append a step and return its equation (so derivations read top to bottom).

        Raises :class:`~derivations.errors.DerivationError` when ``equation`` is a boolean: sympy evaluated
        the ``Eq`` (build it with ``evaluate=False``)."""
        if isinstance(equation, (bool, sp.logic.boolalg.BooleanAtom)):
            raise DerivationError(f"step {justification!r}: the equation evaluated to {equation}; "
                                 "build it unevaluated, sp.Eq(lhs, rhs, evaluate=False)")
        self.steps.append(Step(justification, equation))
        return equation

    @property
    def plain_title(self) -> str:
        """The title as plain Unicode text, for terminals."""
        return plain_text(self.title)

    @property
    def result_expression(self) -> sp.Basic:
        """The right-hand side when the result is an equation, else the result itself."""
        return self.result.rhs if isinstance(self.result, sp.Equality) else self.result

    def lambdify(self, parameters: Sequence[sp.Basic] | None = None, expression: sp.Basic | None = None) -> Callable:
        """numpy function of ``parameters`` (default: ``self.parameters``) evaluating the result (``cse=True``, cached)."""
        params = tuple(self.parameters if parameters is None else parameters)
        expr = self.result_expression if expression is None else expression
        return _cached_lambdify(params, expr)

    def latex(self) -> str:
        """A LaTeX section (no preamble): summary, assumptions, numbered steps, boxed result, citations."""
        lines = [f"\\section{{{_escape_text(self.title)}}}", f"\\label{{sec:{self.name}}}",
                 f"\\noindent\\textbf{{Name:}} \\texttt{{{_escape(self.name)}}}\\par", _escape_text(self.summary)]
        if self.references:
            lines.append("References: " + ", ".join(f"\\cite{{{r.key}}}" for r in self.references) + ".")
        if self.assumptions:
            lines.append("\\paragraph{Assumptions.}\\begin{itemize}")
            lines += [f"  \\item {_escape_text(a)}" for a in self.assumptions]
            lines.append("\\end{itemize}")
        lines.append("\\paragraph{Derivation.}\\begin{enumerate}")
        for s in self.steps:
            lines.append(f"  \\item {_escape_text(s.justification)}{display(s.equation)}")
        lines.append("\\end{enumerate}")
        lines.append(f"\\paragraph{{Result.}}{display(self.result)}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        """The JSON form of ``sgdnoise derive NAME --json``."""
        free = sorted(self.result.free_symbols, key=str) if hasattr(self.result, "free_symbols") else []
        return {
            "name": self.name,
            "title": self.title,
            "result": str(self.result),
            "latex": _latex(self.result),
            "symbols": {str(s): _assumption_text(s) for s in free},
            "assumptions": list(self.assumptions),
            "steps": [{"justification": s.justification, "equation": str(s.equation), "latex": s.latex()} for s in self.steps],
            "references": [r.key for r in self.references],
        }


def plain_text(latex: str) -> str:
    """LaTeX prose (accents, inline math) as plain Unicode text: ``It\\^o`` → Itô, ``$\\Delta$`` → Δ."""
    from pylatexenc.latex2text import LatexNodes2Text  # imported on use: only terminals need it

    return LatexNodes2Text().latex_to_text(latex).strip()


def _assumption_text(sym: sp.Basic) -> str:
    keys = ("positive", "nonnegative", "real", "integer")
    return ", ".join(k for k in keys if getattr(sym, f"is_{k}", None)) or "complex"


def _escape(text: str) -> str:
    """Escape LaTeX's special characters in prose (characters already escaped are left alone)."""
    return re.sub(r"(?<!\\)([_&%#])", r"\\\1", text)


def _escape_text(text: str) -> str:
    """Escape prose but keep inline math ``$...$`` untouched."""
    parts = text.split("$")
    return "$".join(p if i % 2 else _escape(p) for i, p in enumerate(parts))


@functools.lru_cache(maxsize=256)
def _cached_lambdify(params: tuple, expr: sp.Basic) -> Callable:
    # lambdify replaces arguments whose names are not identifiers by scalar dummies, which a matrix
    # expression refuses; give such matrix symbols plain names (same shape) first
    renamed = {m: sp.MatrixSymbol(f"_matrix{i}", *m.shape) for i, m in enumerate(
        a for a in params if isinstance(a, sp.MatrixSymbol) and not a.name.isidentifier())}
    if renamed:
        params, expr = tuple(renamed.get(a, a) for a in params), expr.xreplace(renamed)
    if expr.has(sp.Trace):  # the default printer has no numpy form of a matrix expression's trace
        return sp.lambdify(params, expr, modules=["numpy", "math"], cse=True, printer=_NumPyPrinter)
    return sp.lambdify(params, expr, modules="numpy", cse=True)


class _NumPyPrinter(NumPyPrinter):
    """numpy code for matrix expressions, plus the trace of a matrix expression (numpy.trace)."""

    def _print_Trace(self, expr):
        return f"{self._module_format('numpy.trace')}({self._print(expr.arg)})"


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class _Entry:
    name: str
    title: str
    build: Callable[[], Derivation]
    example: dict


_REGISTRY: Registry[_Entry] = Registry("derivation", "derivations")


def register(name: str, *, title: str, example: dict | None = None) -> Callable[[Callable[[], Derivation]], Callable[[], Derivation]]:
    """Decorator registering a zero-argument builder under ``name`` with its (LaTeX) ``title`` and a documented
    test point ``example`` (a value for every free symbol of the result, by name; matrices as nested lists),
    at which the result evaluates to finite numbers (``tests/test_catalog.py``).

    The builder runs on the first :func:`get` (once per process); ``names()`` and ``title(name)`` do not
    run it, so listing the registry builds no sympy expression. ``name`` = "prefix.rest" lives in the
    module ``derivations.prefix`` (the registry imports it on demand).
    """

    def deco(builder: Callable[[], Derivation]) -> Callable[[], Derivation]:
        _REGISTRY.add(name, _Entry(name, title, functools.cache(builder), dict(example or {})))
        return builder

    return deco


def names() -> list[str]:
    """Registered derivation names, sorted."""
    return _REGISTRY.names()


def title(name: str) -> str:
    """The LaTeX title of a registered derivation, without building it."""
    return _REGISTRY.get(name).title


def example(name: str) -> dict:
    """The documented test point of a registered derivation (symbol name → value)."""
    return dict(_REGISTRY.get(name).example)


def get(name: str) -> Derivation:
    """Build (once per process) and return the named derivation."""
    entry = _REGISTRY.get(name)
    derivation = entry.build()
    if derivation.name not in ("", name) or derivation.title not in ("", entry.title):
        raise AssertionError(f"builder for {name!r} names its derivation {derivation.name!r}")
    derivation.name, derivation.title = name, entry.title
    return derivation


def all_derivations(selected: Iterable[str] | None = None) -> list[Derivation]:
    return [get(n) for n in (selected or names())]
