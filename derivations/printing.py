"""LaTeX of sympy objects as the derivations print them: the printing conventions, in one place.

* A symbol name holding LaTeX markup (a backslash, braces, brackets, parentheses or ``|``) *is* LaTeX and is
  printed verbatim: ``\\nabla L(w_k)`` stays ``\\nabla L(w_k)`` (sympy would read ``L(w`` as a name with the
  subscript ``k)``). Plain names (``w_1``, ``eta``, ``dW_t``) get sympy's treatment (Greek letters, ``_``/``^``).
  So a derivation writes a symbol that is not a plain identifier as proper LaTeX (``\\mathrm{Var}\\,g``).
* A sum never prints ``+ -``: a negative term is subtracted (sympy writes ``a + - b`` for matrix products).
* Differentials (``dt``, ``dW``, ``dW_i``, ``d\\tilde W``) print after their coefficient, so an SDE reads in its
  standard form ``dX = a\\,dt + b\\,dW``.
* Matrices are delimited by parentheses.

:func:`display` turns an object into a display block at the document's one font size (no scaling): a
scalar is factorised when :func:`sympy.factor` prints shorter, an equation wider than a line is broken
at its top-level + and − into ``aligned`` lines, and an explicit matrix too wide for a line is shown entry by entry.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

LINE = 72              # characters of printed math that fit a display line inside a list item
_MARKUP = re.compile(r"[\\{}()\[\]|]")
_DIFFERENTIAL = re.compile(r"^d(t|W.*|\\tilde W)$")


def _is_differential(factor) -> bool:
    return isinstance(factor, (sp.Symbol, sp.MatrixSymbol)) and bool(_DIFFERENTIAL.match(factor.name))


def _differential_rank(term) -> int:
    """0 for a term without differential, 1 for a dt term, 2 for a noise term."""
    names = {f.name for f in term.free_symbols if _is_differential(f)}
    return 0 if not names else 1 if names == {"dt"} else 2


class Printer(LatexPrinter):
    """sympy's LatexPrinter with the conventions of the module docstring."""

    def __init__(self, settings=None):
        super().__init__({"mat_delim": "(", **(settings or {})})

    def _deal_with_super_sub(self, string: str, style: str = "plain") -> str:
        return string if _MARKUP.search(string) else super()._deal_with_super_sub(string, style)

    def signed_terms(self, expr, order=None) -> list[tuple[str, str]]:
        """The terms of a sum in print order (the dt term before the dW terms), each as (sign, LaTeX without sign)."""
        out = []
        for term in sorted(self._as_ordered_terms(expr, order=order), key=_differential_rank):
            tex = self._print(term)
            if self._needs_add_brackets(term):
                tex = f"\\left({tex}\\right)"
            out.append(("-", tex[1:].lstrip()) if tex.startswith("-") else ("+", tex))
        return out

    def _print_Add(self, expr, order=None):
        return join_terms(self.signed_terms(expr, order))

    def _with_differentials_last(self, expr, default) -> str:
        factors = [g for f in expr.args for g in (sp.Mul.make_args(f) if isinstance(f, sp.Mul) else (f,))]
        diffs = [f for f in factors if _is_differential(f)]
        if not diffs:
            return default(expr)
        rest = expr.func(*[f for f in factors if not _is_differential(f)])
        tail = "\\," + " ".join(self._print(f) for f in diffs)
        if rest == 1 or rest == -1:
            return ("- " if rest == -1 else "") + tail[2:]
        coef = self._print(rest)
        return (f"\\left({coef}\\right)" if isinstance(rest, (sp.Add, sp.MatAdd)) else coef) + tail

    def _print_Mul(self, expr):
        return self._with_differentials_last(expr, super()._print_Mul)

    def _print_MatMul(self, expr):
        return self._with_differentials_last(expr, self._matmul)

    def _matmul(self, expr) -> str:
        """sympy's MatMul layout, the sign read off the leading number: sympy's own printer decides it with
        ``-expr``, whose ``doit()`` would try to evaluate every ``Integral`` among the factors."""
        args = list(expr.args)
        sign = ""
        if args[0].is_Number and args[0].is_extended_negative:
            sign, args = "- ", (args[1:] if args[0] == -1 else [-args[0], *args[1:]])
        level = PRECEDENCE["Mul"]
        return sign + " ".join(self._print(a) if isinstance(a, sp.Mul) else self.parenthesize(a, level, False)
                               for a in args)


def join_terms(terms: list[tuple[str, str]]) -> str:
    """``[("-", "a"), ("+", "b"), ("-", "c")]`` → ``- a + b - c``."""
    if not terms:
        return "0"
    head = ("- " if terms[0][0] == "-" else "") + terms[0][1]
    return " ".join([head] + [f"{s} {t}" for s, t in terms[1:]])


def latex(obj) -> str:
    """One-line LaTeX of a sympy object under the conventions of this module."""
    return Printer().doprint(obj)


def width(tex: str) -> int:
    """Rough printed width of LaTeX math in characters: a fraction is as wide as its wider part,
    a sub/superscript counts half, a command one character."""
    prev = None
    while prev != tex:
        prev = tex
        tex = re.sub(r"[_^]\{([^{}]*)\}", lambda m: "x" * ((width_flat(m[1]) + 1) // 2), tex)
        tex = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", lambda m: max(m[1], m[2], key=width_flat), tex)
        tex = re.sub(r"\{([^{}]*)\}", r"\1", tex)
    return width_flat(tex)


def width_flat(tex: str) -> int:
    """Width of brace-free LaTeX: a named operator (``\\log``) as its name, a symbol command as one character,
    a binary operator as two (its spacing)."""
    tex = re.sub(r"\\(left|right|operatorname|[,;!])|\\begin\{\w+\}|\\end\{\w+\}|&|\\\\|\s", "", tex)
    tex = re.sub(r"\\(log|exp|sin|cos|tan|atan|det|tr|min|max|Pr|ln)(?![A-Za-z])", r"\1", tex)
    return len(re.sub(r"\\[A-Za-z]+", "x", tex)) + len(re.findall(r"[-+=<>]", tex))


def tidy(obj):
    """A display form of ``obj``: scalars factorised where that prints shorter, elementwise in matrices
    and on both sides of an equation (the stored expression is not changed)."""
    if isinstance(obj, sp.Equality):
        return sp.Eq(tidy(obj.lhs), tidy(obj.rhs), evaluate=False)
    if isinstance(obj, sp.MatrixBase):
        return _common_factor_out(obj.applyfunc(tidy))
    if not isinstance(obj, sp.Expr) or obj.is_Atom or getattr(obj, "is_Matrix", False) or sp.count_ops(obj) > 150:
        return obj
    diffs = sorted((s for s in obj.free_symbols if _is_differential(s)), key=str)
    if diffs:  # an SDE: tidy the coefficient of each differential, keep the form a dt + b dW
        parts = sp.collect(sp.expand(obj, deep=False), diffs, evaluate=False)
        return sp.Add(*(tidy(c) * d for d, c in parts.items()))
    try:
        factored = sp.factor(obj)
    except (sp.PolynomialError, NotImplementedError, TypeError, ValueError):
        return obj
    return factored if width(latex(factored)) < width(latex(obj)) else obj


def _common_factor_out(matrix: sp.MatrixBase):
    """``g · (M/g)`` (unevaluated) when the entries share a non-numeric factor g, else ``matrix``."""
    entries = [e for e in matrix if e != 0]
    try:
        common = sp.factor(sp.gcd(entries)) if len(entries) > 1 else sp.S.One
    except (sp.PolynomialError, NotImplementedError, TypeError, ValueError):
        return matrix
    if common.is_number:
        return matrix
    inner = sp.ImmutableMatrix(matrix / common).applyfunc(lambda e: tidy(sp.cancel(e)))
    return sp.MatMul(common, inner, evaluate=False)


def display(obj) -> str:
    """A display block for ``obj`` (see the module docstring); nothing is scaled."""
    obj = tidy(obj)
    tex = latex(obj)
    if width(tex) <= LINE:
        return f"\\[{tex}\\]"
    return "\\[\\begin{aligned}" + " \\\\\n".join(_lines(obj)) + "\\end{aligned}\\]"


def _lines(obj) -> list[str]:
    """Lines ``lhs &= ...`` / ``&\\quad + ...`` of a wide object for an ``aligned`` environment: a sum is broken
    between its terms; a product with a wide sum as a factor is written ``coefficient \\Bigl( ... \\Bigr)``."""
    p = Printer()
    lhs, rhs = (obj.lhs, obj.rhs) if isinstance(obj, sp.Equality) else (None, obj)
    if width(p.doprint(rhs)) <= LINE:
        return [("" if lhs is None else p.doprint(lhs) + " ") + "&= " + p.doprint(rhs)]
    if isinstance(rhs, sp.MatrixBase) and width(p.doprint(rhs)) > LINE:
        return _entry_lines(p, lhs, rhs)
    head = "" if lhs is None else p.doprint(lhs) + " "
    open_, close = "", ""
    sums = [f for f in rhs.args if isinstance(f, sp.Add)] if isinstance(rhs, sp.Mul) else []
    if sums and not any(_is_differential(f) for f in rhs.args):
        inner = max(sums, key=lambda f: len(p.doprint(f)))
        coef = rhs / inner
        open_ = {1: "", -1: "- "}.get(coef, p.doprint(coef) + " ") + "\\Bigl("
        close, rhs = "\\Bigr)", inner
    terms = p.signed_terms(rhs) if isinstance(rhs, (sp.Add, sp.MatAdd)) else [("+", p.doprint(rhs))]
    lines, current = [], []
    for term in terms:
        if current and width(join_terms(current + [term])) > LINE - 8 - (width(open_) if not lines else 0):
            lines.append(current)
            current = []
        current.append(term)
    lines.append(current)
    first = f"{head}&= {open_}{join_terms(lines[0])}" if lhs is not None else f"& {open_}{join_terms(lines[0])}"
    out = [first] + ["&\\quad " + " ".join(f"{s} {t}" for s, t in line) for line in lines[1:]]
    out[-1] += close
    return out


def _entry_lines(p: Printer, lhs, matrix: sp.MatrixBase) -> list[str]:
    """A wide matrix entry by entry: ``{lhs}_{ij} = ...`` (``_i`` for a column; the entries of ``lhs`` when it is
    an explicit matrix of the same shape), each entry broken as needed."""
    column = matrix.shape[1] == 1
    same = isinstance(lhs, sp.MatrixBase) and lhs.shape == matrix.shape
    name = "" if lhs is None or same else p.doprint(lhs)
    out = []
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            index = f"{i + 1}" if column else f"{i + 1}{j + 1}"
            left = lhs[i, j] if same else sp.Symbol(f"{{{name}}}_{{{index}}}")
            out += _lines(sp.Eq(left, matrix[i, j], evaluate=False))
    return out
