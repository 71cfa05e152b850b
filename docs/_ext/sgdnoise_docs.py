"""Sphinx extension of the sgdnoise documentation: pages generated at build time, so they never drift.

At ``builder-inited`` (before Sphinx looks for source files) it writes, into the source directory:

* ``papers/<prefix>.rst`` — one page per registry prefix (``sgd``, ``linreg``, ``dln``, ``fluct``, ``curv``,
  ``perceptron``, and any prefix added later) with every derivation of ``derivations.names()``, built with
  ``derivations.get(name)``: title, summary, assumptions, the steps with their LaTeX as ``math`` directives,
  the result, extras, the checks that test it and its references; ``papers/index.rst`` lists them;
* ``api/numerics.rst`` — the lazy public surface ``numerics.__all__``;
* ``gallery/*.py`` — copies of ``notebooks/*.py`` (jupytext percent format), read and executed by myst-nb
  (``nb_custom_formats`` in ``conf.py`` points at :func:`read_percent_notebook`);
* ``_generated/readme_*.md`` — sections of ``README.md`` (set-up commands, verdict rules and tables);
* ``_static/mathjax/`` — MathJax 3 (``tex-chtml-full.js`` and its fonts) from the ``django-static-mathjax``
  wheel when it is installed, so that math renders offline; otherwise Sphinx's default CDN MathJax is used.

Files are rewritten only when their content changes (incremental builds stay incremental).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GENERATED = ("papers", "gallery", "_generated", "api/numerics.rst", "api/generated", "_static/mathjax")

# a page per prefix, in reading order; a prefix not listed here still gets a page (after these)
PREFIX_ORDER = ("sgd", "linreg", "dln", "curv", "perceptron", "fluct")


# --------------------------------------------------------------------------- text helpers
def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _rst_escape(text: str) -> str:
    return re.sub(r"([\\*`|_<>\[\]])", r"\\\1", text)


def _latex_prose_to_rst(text: str) -> str:
    """LaTeX prose with inline ``$math$`` → one line of reStructuredText: math as ``:math:``, ``\\texttt`` as
    literals, the rest (accents, dashes, quotes) as plain Unicode (pylatexenc)."""
    from derivations import plain_text

    out = []
    for i, part in enumerate(text.split("$")):
        if i % 2:  # inline math; escaped spaces let it touch words ("$n$th")
            if part.strip():
                out.append(f"\\ :math:`{part.strip()}`\\ ")
            continue
        pieces = re.split(r"\\texttt\{((?:[^{}]|\{[^{}]*\})*)\}", part)
        for j, piece in enumerate(pieces):
            if j % 2:
                literal = piece.replace("\\_", "_").replace("\\", "")
                out.append(f"\\ ``{literal}``\\ ")
            elif piece:
                lead = " " if piece[:1].isspace() else ""
                trail = " " if piece[-1:].isspace() else ""
                converted = plain_text(piece) if re.search(r"[\\{}~`']|--", piece) else piece.strip()
                out.append(lead + _rst_escape(converted) + trail if converted else lead + trail)
    line = "".join(out).replace("\n", " ")
    # an escaped space is needed only where the math or literal touches a word: drop it next to a real space
    line = re.sub(r"\\ (?=\s)", "", line)
    line = re.sub(r"(?<=\s)\\ ", "", line)
    line = re.sub(r"^\\ |(?<!\\)\\ $", "", line.strip())
    return re.sub(r"  +", " ", line).strip()


def _latex(obj) -> str:
    try:  # the derivations' own printing conventions, where the package has them
        from derivations.printing import latex
    except ImportError:  # pragma: no cover - older derivations
        import sympy as sp

        return sp.latex(obj, mat_delim="(")
    return latex(obj)


def _math_block(latex: str, indent: str = "") -> list[str]:
    return [f"{indent}.. math::", "", f"{indent}   {latex.strip()}", ""]


def _heading(text: str, char: str) -> list[str]:
    return [text, char * max(len(text), 3), ""]


# --------------------------------------------------------------------------- per-prefix pages
def _prefixes(names: list[str]) -> list[str]:
    found = sorted({n.split(".", 1)[0] for n in names})
    return [p for p in PREFIX_ORDER if p in found] + [p for p in found if p not in PREFIX_ORDER]


def _paper_heading(prefix: str) -> str:
    try:
        from numerics.run.report import paper_of
    except ImportError:  # pragma: no cover
        return prefix
    return paper_of(prefix + ".x")


def _checks_by_derivation() -> dict[str, list[tuple[str, bool]]]:
    try:
        from numerics import check_names, get_check
    except ImportError:  # pragma: no cover
        return {}
    out: dict[str, list[tuple[str, bool]]] = {}
    for name in check_names():
        check = get_check(name)
        out.setdefault(check.derivation, []).append((name, check.exact))
    return out


def derivation_rst(name: str, checks: list[tuple[str, bool]] = ()) -> list[str]:
    """The reStructuredText section of one registered derivation."""
    import derivations

    d = derivations.get(name)
    lines = [f".. _derivation-{name}:", ""]
    lines += _heading(_rst_escape(d.plain_title), "-")
    lines += [f"``{name}`` — ``derivations.get(\"{name}\")``; ``sgdnoise derive {name} --latex`` prints its LaTeX.", ""]
    if checks:
        listed = ", ".join(f"``sgdnoise check {c}``" + ("" if exact else " (approximate claim)") for c, exact in checks)
        lines += [f"Checked by Monte Carlo: {listed} (:doc:`/verdicts`).", ""]
    lines += [_latex_prose_to_rst(d.summary), ""]
    if d.assumptions:
        lines += ["**Assumptions**", ""]
        lines += [f"- {_latex_prose_to_rst(a)}" for a in d.assumptions] + [""]
    lines += ["**Derivation**", ""]
    for i, step in enumerate(d.steps, 1):
        lines += [f"{i}. {_latex_prose_to_rst(step.justification) or '(step)'}", ""]
        lines += _math_block(step.latex(), indent="   ")
    lines += ["**Result**", ""] + _math_block(_latex(d.result))
    if d.parameters:
        params = ", ".join(f":math:`{_latex(p)}`" for p in d.parameters)
        lines += [f"Parameters of ``lambdify()`` (in order): {params}.", ""]
    if d.extras:
        lines += ["**Extras** (``Derivation.extras``)", "", ".. list-table::", "   :widths: 1 4", ""]
        for key, value in d.extras.items():
            lines += [f"   * - ``{key}``", f"     - :math:`{_latex(value)}`"]
        lines += [""]
    if d.references:
        from derivations import plain_text

        lines += ["**References**", ""]
        for r in d.references:
            arxiv = f", `arXiv:{r.eprint} <https://arxiv.org/abs/{r.eprint}>`__" if r.eprint else ""
            lines += [f"- {_rst_escape(plain_text(r.authors))}, *{_rst_escape(plain_text(r.title))}*, "
                      f"{_rst_escape(plain_text(r.venue))} ({r.year}){arxiv}."]
        lines += [""]
    return lines


def prefix_page(prefix: str, names: list[str], checks: dict) -> str:
    heading = _paper_heading(prefix)
    short, _, subject = heading.partition(": ")
    lines = [f".. _paper-{prefix}:", "", ".. Generated by docs/_ext/sgdnoise_docs.py from the registry; do not edit.", ""]
    lines += _heading(f"{prefix}: {_rst_escape(short)}", "=")
    if subject:
        lines += [f"*{_rst_escape(subject)}*", ""]
    lines += [f"The derivations registered under the prefix ``{prefix}`` (module ``derivations.{prefix}``), rendered "
              "from the registry when these pages are built. Each is ``derivations.get(NAME)``; the checks that "
              "test them live in ``numerics.checks." + prefix + "``.", ""]
    lines += [f"- :ref:`derivation-{n}`" for n in names] + [""]
    for n in names:
        lines += derivation_rst(n, checks.get(n, []))
    return "\n".join(lines).rstrip() + "\n"


def write_papers(srcdir: Path) -> list[str]:
    import derivations

    names = derivations.names()
    checks = _checks_by_derivation()
    prefixes = _prefixes(names)
    for prefix in prefixes:
        _write(srcdir / "papers" / f"{prefix}.rst",
               prefix_page(prefix, [n for n in names if n.split(".", 1)[0] == prefix], checks))
    index = [".. Generated by docs/_ext/sgdnoise_docs.py; do not edit.", ""]
    index += _heading("Derivations by paper", "=")
    index += ["One page per registry prefix, generated from ``derivations.names()`` and ``derivations.get(name)`` "
              "at build time: the same steps, assumptions and results that ``sgdnoise derive NAME`` prints and "
              "``sgdnoise latex`` typesets, and that the checks lambdify.", "",
              ".. toctree::", "   :maxdepth: 1", ""]
    index += [f"   {p}" for p in prefixes] + [""]
    _write(srcdir / "papers" / "index.rst", "\n".join(index))
    # pages of prefixes that no longer exist would be orphans (a warning): remove them
    for stale in (srcdir / "papers").glob("*.rst"):
        if stale.stem not in prefixes and stale.stem != "index":
            stale.unlink()
    return prefixes


# --------------------------------------------------------------------------- API: numerics' lazy surface
def write_numerics_api(srcdir: Path) -> None:
    import inspect

    import numerics

    lines = [".. Generated by docs/_ext/sgdnoise_docs.py from numerics.__all__; do not edit.", ""]
    lines += _heading("numerics", "=")
    lines += [".. automodule:: numerics", "   :no-members:", "",
              "The short public surface, loaded on first use (``from numerics import run_sgd, ...``); each name "
              "lives in the module given in brackets.", "",
              ".. currentmodule:: numerics", "", ".. autosummary::", ""]
    lines += [f"   {name}" for name in numerics.__all__] + [""]
    for name in numerics.__all__:
        obj = getattr(numerics, name)
        lines += _heading(f"{name}  ({obj.__module__})", "-")
        if inspect.isclass(obj):
            lines += [f".. autoclass:: numerics.{name}", "   :members:", ""]
        else:
            lines += [f".. autofunction:: numerics.{name}", ""]
    _write(srcdir / "api" / "numerics.rst", "\n".join(lines))


# --------------------------------------------------------------------------- README sections
_LINK = re.compile(r"\[([^\]]+)\]\((?!https?://|#)([^)]+)\)")


def readme_section(heading: str, readme: Path = ROOT / "README.md", include_heading: bool = False) -> str:
    """The body of the README section whose heading is ``heading`` (any level), up to the next heading of the same
    or a higher level; sub-headings are dropped to plain bold lines, links to repository files become literals."""
    text = readme.read_text(encoding="utf-8")
    lines, out, level, fence = text.splitlines(), [], None, False
    for line in lines:
        if line.lstrip().startswith("```"):
            fence = not fence
        m = None if fence and not line.lstrip().startswith("```") else re.match(r"^(#+)\s+(.*)$", line)
        if level is None:
            if m and m.group(2).strip() == heading:
                level = len(m.group(1))
            continue
        if m and not line.lstrip().startswith("```"):
            if len(m.group(1)) <= level:
                break
            out.append(f"**{m.group(2).strip()}**")
            continue
        out.append(line)
    if level is None:
        raise RuntimeError(f"README.md has no section {heading!r} (docs/_ext/sgdnoise_docs.py includes it)")
    # the site enables MyST's $math$: a README dollar sign outside code is text
    out = [line if line.lstrip().startswith(("```", "    ")) or _in_fence(out, k) else
           "".join(p if j % 2 else p.replace("$", "\\$") for j, p in enumerate(re.split(r"(`[^`]*`)", line)))
           for k, line in enumerate(out)]
    body = _LINK.sub(lambda m: f"`{m.group(2)}`" if m.group(1).strip("`") == m.group(2) else f"{m.group(1)} (`{m.group(2)}`)",
                     "\n".join(out).strip())
    return body + "\n"


def _in_fence(lines: list[str], index: int) -> bool:
    return sum(1 for line in lines[:index] if line.lstrip().startswith("```")) % 2 == 1


def readme_setup_block(readme: Path = ROOT / "README.md") -> str:
    """The README's first fenced code block: the two set-up commands."""
    m = re.search(r"^```[^\n]*\n.*?^```\s*$", readme.read_text(encoding="utf-8"), re.S | re.M)
    if not m:
        raise RuntimeError("README.md has no code block with the set-up commands")
    return m.group(0) + "\n"


def write_readme_parts(srcdir: Path) -> None:
    _write(srcdir / "_generated" / "readme_setup.md", readme_setup_block())
    _write(srcdir / "_generated" / "readme_reproducing.md", readme_section("Reproducing"))
    _write(srcdir / "_generated" / "readme_reading_a_check.md", readme_section("Reading a check"))


# --------------------------------------------------------------------------- notebooks
def write_gallery(srcdir: Path) -> list[str]:
    notebooks = sorted((ROOT / "notebooks").glob("*.py"))
    for nb in notebooks:
        _write(srcdir / "gallery" / nb.name, nb.read_text(encoding="utf-8"))
    for stale in (srcdir / "gallery").glob("*.py"):
        if not (ROOT / "notebooks" / stale.name).exists():
            stale.unlink()
    return [nb.stem for nb in notebooks]


def read_percent_notebook(text: str, **kwargs):
    """myst-nb reader of ``notebooks/*.py`` (jupytext percent format), with the running interpreter's kernel."""
    import jupytext

    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


# --------------------------------------------------------------------------- offline MathJax
def copy_mathjax(srcdir: Path) -> str | None:
    """Copy MathJax 3 from the django-static-mathjax wheel (no dependencies; MathJax only) into _static;
    return the ``mathjax_path`` to use, or None (Sphinx's CDN default) when it is not installed."""
    try:
        import mathjax
    except ImportError:
        return None
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / "tex-chtml-full.js").exists():
        return None
    target = srcdir / "_static" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    if not (target / "tex-chtml-full.js").exists():
        shutil.copy2(es5 / "tex-chtml-full.js", target / "tex-chtml-full.js")
    fonts = target / "output" / "chtml" / "fonts" / "woff-v2"
    if not fonts.exists():
        shutil.copytree(es5 / "output" / "chtml" / "fonts" / "woff-v2", fonts)
    return "mathjax/tex-chtml-full.js"


# --------------------------------------------------------------------------- docstrings
_CODE = re.compile(r"(``.*?``|`[^`]*`)")


def escape_bars(app, what, name, obj, options, lines) -> None:
    """``autodoc-process-docstring``: the docstrings write absolute values and norms as ``|z|``, which
    reStructuredText reads as substitution references; escape ``|`` outside code and roles (table lines kept)."""
    for i, line in enumerate(lines):
        if "|" not in line or line.lstrip()[:1] in ("|", "+"):
            continue
        parts = _CODE.split(line)
        lines[i] = "".join(p if k % 2 else p.replace("|", "\\|") for k, p in enumerate(parts))


# --------------------------------------------------------------------------- Sphinx hooks
def generate(srcdir: Path) -> None:
    """Write every generated page into ``srcdir`` (also usable without Sphinx: tests call it)."""
    write_papers(srcdir)
    write_numerics_api(srcdir)
    write_readme_parts(srcdir)
    write_gallery(srcdir)


def _builder_inited(app) -> None:
    srcdir = Path(app.srcdir)
    generate(srcdir)
    # the notebooks' figures go under the build directory (they default to a temporary directory)
    figures = Path(app.outdir).parent / "notebook-figures"
    os.environ.setdefault("SGDNOISE_FIGURES", str(figures))


def setup(app):
    app.connect("builder-inited", _builder_inited)
    app.connect("autodoc-process-docstring", escape_bars)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
