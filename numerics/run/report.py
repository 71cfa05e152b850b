"""The report of ``sgdnoise reproduce``: ``report.md`` and a self-contained ``report.html`` (figures embedded as
base64 PNG), with PNG figures under ``figures/``.

The first screen is a pass/fail table of every claim (check), grouped by paper through the prefix of the
check's name (:data:`PAPERS`): ``sgd``/``linreg`` → foundations, ``dln`` → seed 000, ``curv`` → seed 001,
``perceptron`` → seed 002, ``fluct`` → seed 003; anything else → "other". Then the details of each check
(predicted vs measured rows with z-scores, tolerance, negative control, notes, the command that reruns it),
the figures and the derivations.

Figures hook protocol. Every check gets a generic figure (z-score of each row within the ±z band, and
measured vs predicted with error bars). A check may add its own figures with a hook
``figures(result: CheckResult, directory: Path) -> Iterable[Path]`` that writes PNG files into ``directory``
and returns their paths; the check declares it (``Check(..., figures=hook)``) and the report asks the check.
A hook sees only the CheckResult (it may come from the result store,
without a rerun). A check without a hook just has the generic figure; a hook that raises is reported in the
report as a note and does not stop it.
"""

from __future__ import annotations

import base64
import html
import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Protocol

import numpy as np

from numerics.verify import UNJUDGED, VERDICTS, CheckResult, get_check

__all__ = ["PAPERS", "paper_of", "FiguresHook", "figures_hook", "Entry", "make_figures",
           "write_report"]

# (name prefixes, paper heading)
PAPERS: list[tuple[tuple[str, ...], str]] = [
    (("sgd", "linreg"), "Foundations: SGD as an Itô SDE; least squares"),
    (("dln",), "Seed 000 — Corlouer, Semler, Strang, Gietelink Oldenziel (2026): SGD in the saddle-to-saddle "
               "regime of deep linear networks"),
    (("curv",), "Seed 001 — Zhang, Yang, Tu (2026): SGD noise covariance vs curvature"),
    (("perceptron",), "Seed 002 — Sclocchi, Geiger, Wyart (2023); Sclocchi, Wyart (2024): SGD noise regimes, "
                      "the perceptron"),
    (("fluct",), "Seed 003 — Gross, Raulf, Räth (2024): weight fluctuations and the inverse variance–flatness "
                 "relation"),
]
OTHER = "Other checks"


def paper_of(name: str) -> str:
    """The paper heading of a check or derivation name, from the prefix before its first dot."""
    prefix = name.split(".", 1)[0]
    return next((title for prefixes, title in PAPERS if prefix in prefixes), OTHER)


# --------------------------------------------------------------------------- figures
class FiguresHook(Protocol):
    def __call__(self, result: CheckResult, directory: Path) -> Iterable[Path]:
        """Write PNG figures of ``result`` into ``directory``; return their paths."""


def figures_hook(check_name: str) -> FiguresHook | None:
    """The figures hook the registered check declares, or None."""
    return get_check(check_name).figures


def _file_stem(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def measured_axis_scale(predicted, measured, decades: float = 2.0) -> str:
    """"log" when every finite value is positive and they span more than ``decades`` decades (rows of one check
    may mix an exponent ~1 with variances ~1e-3, which a linear axis piles up at 0), else "linear"."""
    values = np.concatenate([np.ravel(np.asarray(predicted, dtype=float)), np.ravel(np.asarray(measured, dtype=float))])
    values = values[np.isfinite(values)]
    if values.size == 0 or values.min() <= 0:
        return "linear"
    return "log" if np.log10(values.max() / values.min()) > decades else "linear"


_STATUS_COLOURS = {"holds": "tab:blue", "rejected": "tab:red", "undecided": "tab:orange", "beside": "0.6"}


def pass_region(row, z: float = 5.0, big: float = math.inf) -> tuple[float, float]:
    """Where the row's z must lie for the row to hold, as the generic figure draws it: [−z, z] for a row that
    claims agreement (and an approximate theory's row, drawn but not judged), [−big, −z] below a bound,
    [z, big] above one, none for a row that is not judged (``unmet``, ``beside``)."""
    return {"below": (-big, -z), "above": (z, big), "unmet": (0.0, 0.0), "beside": (0.0, 0.0)}.get(row.rule, (-z, z))


def generic_figure(result: CheckResult, directory: Path, z: float = 5.0) -> Path:
    """The z of every row against the rule the verdict used (left) and measured ± stderr vs predicted (right).

    Left: a green cell per row marks where its z must lie — |z| ≤ ``z`` for a row that claims agreement,
    beyond ``z`` on its side for a criterion row (one-sided: z < −z for "below", z > z for "above"); bars are
    blue where the row holds, red where the data reject it, orange where it is undecided (a bound not
    established, or an approximate theory's row, which is reported and not judged). A symmetric-log axis
    (linear inside ±z) shows every z without clipping, so a bar outside its cell can never sit under a
    CONFIRMED title."""
    from matplotlib.figure import Figure  # object API: no pyplot state, no display backend needed
    from matplotlib.patches import Patch, Rectangle

    rows = result.rows
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    ax_z, ax_m = fig.subplots(1, 2)
    zs = np.array([r.z for r in rows], dtype=float)
    big = 10.0 ** np.ceil(np.log10(max(10 * z, 1.2 * float(np.max(np.abs(zs[np.isfinite(zs)]), initial=0.0)))))
    shown = np.clip(np.nan_to_num(zs, nan=0.0, posinf=big, neginf=-big), -big, big)
    for i, r in enumerate(rows):
        lo, hi = pass_region(r, z, big)
        ax_z.add_patch(Rectangle((i - 0.48, lo), 0.96, hi - lo, color="#d5efd5", zorder=0, lw=0))
    ax_z.bar(np.arange(len(rows)), shown, color=[_STATUS_COLOURS[r.status(z)] for r in rows],
             hatch=["" if r.rule in ("agree", "approx") else "//" for r in rows], zorder=2)
    for i in np.flatnonzero(~np.isfinite(zs)):
        ax_z.annotate("no z" if np.isnan(zs[i]) else "∞", (i, shown[i]), ha="center", fontsize=7)
    for sign in (-1, 1):
        ax_z.axhline(sign * z, color="0.4", lw=0.8, ls="--", zorder=1)
    ax_z.set_yscale("symlog", linthresh=z, linscale=1.0)
    ax_z.set_ylim(-big, big)
    ticks = [t for t in (-1000, -100, -10, -z, 0, z, 10, 100, 1000) if abs(t) <= big]
    ax_z.set_yticks(sorted(set(ticks)), [f"{t:g}" for t in sorted(set(ticks))])
    ax_z.minorticks_off()
    ax_z.set_xlim(-0.6, len(rows) - 0.4)
    kinds = sorted({r.rule for r in rows})
    handles = [Patch(color="#d5efd5", label=f"where z must lie (|z| ≤ {z:g}"
                     + ("; criterion rows: beyond ±" + f"{z:g} on their side" if set(kinds) - {"agree", "approx"} else "")
                     + ")")]
    labels = {"holds": "row holds", "rejected": "rejected by the data",
              "undecided": "undecided (bound not established, approximate theory or precondition not met: not judged)",
              "beside": "beside the claim (outside its scope): reported, not judged"}
    handles += [Patch(color=c, label=labels[s]) for s, c in _STATUS_COLOURS.items() if any(r.status(z) == s for r in rows)]
    fig.legend(handles=handles, fontsize=7, loc="outside lower left", ncol=len(handles), frameon=False)
    ax_z.set(ylabel="z = (measured − predicted)/stderr", title="z per row against the verdict's rule"
             + ("\nhatched: one-sided criterion rows (a bound)" if set(kinds) - {"agree", "approx"} else ""))
    if len(rows) <= 16:
        ax_z.set_xticks(np.arange(len(rows)), [textwrap.shorten(r.quantity, 48, placeholder="…") for r in rows],
                        rotation=60, ha="right", fontsize=7)
    else:
        ax_z.set_xlabel("row")
    rows = [r for r in rows if r.rule in ("agree", "approx")]  # a criterion row's 'predicted' is a bound
    predicted = np.array([r.predicted for r in rows], dtype=float)
    measured = np.array([r.measured for r in rows], dtype=float)
    stderr = np.array([r.stderr for r in rows], dtype=float)
    ax_m.errorbar(predicted, measured, yerr=np.where(np.isfinite(stderr), stderr, 0.0), fmt="o", ms=3, capsize=2,
                  label="measured ± stderr")
    finite = np.concatenate([predicted[np.isfinite(predicted)], measured[np.isfinite(measured)]])
    if finite.size:
        lo, hi = finite.min(), finite.max()
        ax_m.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = predicted")
    if rows:
        ax_m.legend(loc="best", fontsize=8)
    scale = measured_axis_scale(predicted, measured)
    ax_m.set(xlabel="predicted", ylabel="measured", title="measured vs predicted (rows that claim agreement)",
             xscale=scale, yscale=scale)
    fig.suptitle(f"{result.check}: {result.verdict}")
    if scale == "linear":
        ax_m.ticklabel_format(style="sci", scilimits=(-3, 4))
    if not rows:  # criterion rows only: their 'predicted' is a bound, drawn on the left
        ax_m.text(0.5, 0.5, "no row claims agreement:\ncriterion rows only (left)", ha="center", va="center",
                  transform=ax_m.transAxes, color="0.4")
        ax_m.set_xticks([])
        ax_m.set_yticks([])
    path = directory / f"{_file_stem(result.check)}.png"
    fig.savefig(path, dpi=110)
    return path


def make_figures(result: CheckResult, directory: str | Path) -> tuple[list[Path], list[str]]:
    """The check's hook figures (its paper figures) then the generic figure; returns (paths, notes about hooks
    that failed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths, notes = [], []
    try:
        hook = figures_hook(result.check)
        if hook is not None:
            paths += [Path(p) for p in hook(result, directory)]
    except Exception as exc:  # a figure must not cost the report: say what went wrong instead
        notes.append(f"figures hook of {result.check} failed: {type(exc).__name__}: {exc}")
    return paths + [generic_figure(result, directory)], notes


# --------------------------------------------------------------------------- report
@dataclass
class Entry:
    """One check in the report: its result, or the error that stopped it."""

    name: str
    description: str
    result: CheckResult | None = None
    error: str | None = None
    cached: bool = False
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """CONFIRMED, REFUTED, INCONCLUSIVE (the result's) or ERROR (no result)."""
        return "ERROR" if self.result is None else self.result.verdict


def verdict_counts(entries: list[Entry]) -> str:
    """E.g. "12 CONFIRMED, 2 REFUTED, 2 INCONCLUSIVE of 16 checks"."""
    counts = {v: sum(e.verdict == v for e in entries) for v in (*VERDICTS, "ERROR")}
    return ", ".join(f"{n} {v}" for v, n in counts.items() if n) + f" of {len(entries)} checks"




_NAN_PATTERNS = [  # how the report says a number is missing, in notes written by the checks
    (re.compile(r"[+-]?\bnan\s*(\+-|±)\s*[+-]?\bnan\b", re.I), "not estimable (no value: the estimator found none in the data)"),
    (re.compile(r"(\+-|±)\s*[+-]?\bnan\b", re.I), "± (no standard error: too few values to estimate one)"),
    (re.compile(r"z = [+-]?\bnan\b", re.I), "z not computable"),
    (re.compile(r"[+-]?\bnan\b", re.I), "n/a"),
]


def say_missing(text: str) -> str:
    """``text`` with every 'nan' replaced by words that say why the number is missing."""
    for pattern, words in _NAN_PATTERNS:
        text = pattern.sub(words, text)
    return text


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    return "∞" if x == math.inf else "−∞" if x == -math.inf else f"{x:.5g}"


def _stderr_cell(row) -> str:
    if math.isfinite(row.stderr):
        return _fmt(row.stderr)
    if math.isfinite(row.z):
        return "none (a test: z from its p-value)"
    return "not estimable"


def anchor(name: str) -> str:
    """The HTML id of a check's section."""
    return "check-" + _file_stem(name).replace(".", "-")


_CONDENSE = 220  # notes longer than this are folded (HTML <details>)
_FOLD_ROWS = 16  # row tables longer than this are folded (HTML <details>), so that the figures follow closely


def _compares(result: CheckResult) -> bool:
    """Whether some row compares a prediction (max |z| means something; criterion rows' z measure how far a bound
    is cleared instead)."""
    return any(r.rule in ("agree", "approx") for r in result.rows)


def _blocks(entries: list[Entry], meta: dict) -> list[tuple]:
    """The report as blocks, rendered alike to Markdown and HTML: ("h", level, text[, anchor]), ("p", text),
    ("table", header, rows) — a cell may be ("a", text, href) —, ("links", [(text, href)]), ("pre", text),
    ("toc", [(text, href, verdict)]), ("notes", [text]), ("img", path, caption)."""
    blocks = [("h", 1, "sgdnoise — reproduction report"),
              ("p", f"{verdict_counts(entries)}. CONFIRMED: every row agrees within |z| <= 5 of its standard error (no "
                    "floor) and every mutant — a plausible wrong prediction — is rejected on the same data; REFUTED: "
                    "the data reject the prediction; INCONCLUSIVE: neither (a mutant survives, a bound is not "
                    "established, or the theory is approximate without its computed correction). Resolving power: "
                    "the smallest relative change of the predicted effect that the data reject."),
              ("p", f"scale {meta.get('scale')}, seed {meta.get('seed')}, sgdnoise {meta.get('version')}, "
                    f"executor: {meta.get('executor')}, {meta.get('n_cached', 0)} of {len(entries)} results from the "
                    f"store {meta.get('store', '')}, total {meta.get('runtime_s', 0):.0f} s.")]
    if meta.get("documents"):
        blocks.append(("links", meta["documents"]))
    papers = [title for _, title in PAPERS] + [OTHER]
    grouped = [(paper, [e for e in entries if paper_of(e.name) == paper]) for paper in papers]
    grouped = [(paper, group) for paper, group in grouped if group]
    toc = []
    for paper, group in grouped:
        toc.append((paper, None, None))
        toc += [(e.name, "#" + anchor(e.name), e.verdict) for e in group]
    if meta.get("derivations"):
        toc.append(("Derivations", "#derivations", None))
    blocks.append(("toc", toc))
    for paper, group in grouped:
        blocks.append(("h", 2, paper))
        blocks.append(("table", ["claim (check)", "verdict", "max |z|", "resolving power", "mutants rejected", "runtime"],
                       [[("a", e.name, "#" + anchor(e.name)), e.verdict,
                         f"{e.result.max_abs_z:.2f}" if e.result and _compares(e.result) else "—",
                         e.result.resolving() if e.result else "—",
                         f"{sum(m.rejected for m in e.result.mutants)}/{len(e.result.mutants)}" if e.result else "—",
                         f"{e.result.runtime_s:.1f} s" + (" (stored)" if e.cached else "") if e.result else "—"]
                        for e in group]))
    blocks.append(("h", 2, "Details"))
    for paper, group in grouped:
        for e in group:
            blocks += _check_blocks(e, meta)
    if meta.get("derivations"):
        blocks.append(("h", 2, "Derivations", "derivations"))
        blocks.append(("table", ["derivation", "title", "result", "paper"],
                       [[name, _plain(title), _math_cell(name), paper_of(name).split(":")[0]]
                        for name, title in meta["derivations"]]))
    return blocks


_MATHML_LIMIT = 6000  # characters of MathML beyond which a result is shown as plain text


def _math_cell(name: str) -> tuple:
    """("math", presentation MathML or None, plain text) of the registered derivation's result: rendered
    natively by the browser (no script, no network); plain text in Markdown and where MathML fails."""
    try:
        import derivations
        from sympy.printing.mathml import mathml

        result = derivations.get(name).result
    except Exception as exc:  # an unknown name or a derivation that fails: the table still renders
        return ("math", None, f"(result not available: {type(exc).__name__})")
    plain = str(result)
    try:
        markup = mathml(result, printer="presentation")
    except Exception:
        return ("math", None, plain)
    # a symbol named by LaTeX (e.g. \\mathbb{E}) is not MathML: such a result is shown as plain text
    return ("math", markup if len(markup) <= _MATHML_LIMIT and "\\" not in markup else None, plain)


def _plain(title: str) -> str:
    """A derivation title without its LaTeX ($...$ as Unicode text)."""
    try:
        import derivations

        return derivations.plain_text(title)
    except Exception:
        return title


def _check_blocks(e: Entry, meta: dict) -> list[tuple]:
    """One check's section: description, parameters, rows, mutants, its figures, then its notes (folded)."""
    blocks = [("h", 3, f"{e.name} — {e.verdict}", anchor(e.name)), ("p", e.description)]
    if e.result is None:
        return blocks + [("pre", e.error or "no result")]
    r = e.result
    rerun = f"sgdnoise check {e.name} --seed {r.seed}" + (" --full" if meta.get("scale") == "full" else "")
    blocks.append(("p", f"seed {r.seed}; parameters: " + ", ".join(f"{k}={v}" for k, v in sorted(r.params.items()))
                        + f"; rerun: {rerun}"))
    worst = max(r.rows, key=lambda row: abs(row.z) if math.isfinite(row.z) else -1.0, default=None)
    fold = (f"{len(r.rows)} rows (largest |z| {abs(worst.z):.2f}: {worst.quantity}) — show the table"
            if len(r.rows) > _FOLD_ROWS and worst is not None else None)
    blocks.append(("table", ["quantity", "predicted", "measured", "stderr", "z"],
                   [[row.quantity + {"agree": "", **{k: f" ({t})" for k, t in UNJUDGED.items()}}.get(
                       row.rule, f" (criterion: measured {row.rule} the bound)"),
                     _fmt(row.predicted), _fmt(row.measured), _stderr_cell(row),
                     f"{row.z:.2f}" if math.isfinite(row.z) else _fmt(row.z)]
                    for row in r.rows], fold))
    blocks.append(("p", f"tolerance: {r.tolerance}; resolving power {r.resolving()}"
                        + ("" if r.resolving_power is not None else
                           " (none: no row can be scaled, or the prediction itself is rejected)")))
    blocks += [("p", f"mutant: {m.description} — {'rejected' if m.rejected else 'NOT rejected'} ({m.distance()})")
               for m in r.mutants]
    for path in e.figures:
        if path.name == f"{_file_stem(e.name)}.png":
            blocks.append(("img", path, f"{e.name}: z of every row against the verdict's rule; measured vs predicted "
                                        f"({path.name})", "generic"))
        else:
            blocks.append(("img", path, f"{e.name}: {path.name}"))
    notes = [say_missing(n) for n in r.notes + e.notes]
    if notes:
        blocks.append(("notes", notes))
    return blocks


def _md_cell(text) -> str:
    if isinstance(text, tuple):
        text = f"`{text[2]}`" if text[0] == "math" else f"[{text[1]}]({text[2]})"
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown(blocks, directory: Path) -> str:
    out = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append("#" * block[1] + " " + block[2] + (f' <a id="{block[3]}"></a>' if len(block) > 3 else ""))
        elif kind == "p":
            out.append(block[1])
        elif kind == "pre":
            out.append("```\n" + block[1] + "\n```")
        elif kind == "links":
            out.append(" · ".join(f"[{text}]({href})" for text, href in block[1]))
        elif kind == "toc":
            out.append("**Contents**\n\n" + "\n".join(f"- {text}" if href is None else f"  - [{text}]({href}) — {verdict}"
                                 for text, href, verdict in block[1]))
        elif kind == "notes":
            out.append("\n".join(f"- note: {n}" for n in block[1]))
        elif kind == "table":
            out.append("\n".join(["| " + " | ".join(map(_md_cell, block[1])) + " |",
                                  "|" + "---|" * len(block[1])]
                                 + ["| " + " | ".join(map(_md_cell, row)) + " |" for row in block[2]]))
        elif kind == "img":
            out.append(f"![{block[2]}]({block[1].relative_to(directory).as_posix()})")
    return "\n\n".join(out) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:1.5em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}td.CONFIRMED,span.CONFIRMED{background:#d9f2d9;font-weight:bold}
td.REFUTED,td.ERROR,span.REFUTED,span.ERROR{background:#f7d4d4;font-weight:bold}
td.INCONCLUSIVE,span.INCONCLUSIVE{background:#fbeed0;font-weight:bold}span.v{padding:0 .3em;font-size:.85em}
img{max-width:100%}img.generic{max-width:78%}figure{margin:.5em 0 1em}figcaption{font-size:.8em;color:#666}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto}h2{border-bottom:1px solid #ddd}
h3{margin-top:2.2em;border-top:3px solid #eee;padding-top:.6em}nav{font-size:.92em;background:#fafafa;border:1px solid #eee;padding:.2em .8em}nav p{margin:.35em 0}
details{margin:.3em 0}details summary{cursor:pointer;color:#335}ul.notes li{margin:.2em 0}
a.top{font-size:.8em;margin-left:.6em}math{font-size:1.25em}"""


def _html_cells(row, tag: str) -> str:
    """Table cells; verdict cells get a class (coloured by the style sheet); ("a", text, href) cells link."""
    out = []
    for c in row:
        if isinstance(c, tuple) and c[0] == "math":
            out.append(f'<{tag}><math display="inline">{c[1]}</math></{tag}>' if c[1] is not None
                       else f"<{tag}><code>{html.escape(c[2])}</code></{tag}>")
        elif isinstance(c, tuple):
            out.append(f'<{tag}><a href="{html.escape(c[2])}">{html.escape(c[1])}</a></{tag}>')
        elif c in (*VERDICTS, "ERROR"):
            out.append(f'<{tag} class="{c}">{c}</{tag}>')
        else:
            out.append(f"<{tag}>{html.escape(str(c))}</{tag}>")
    return "".join(out)


def _html_note(text: str) -> str:
    e = html.escape
    if len(text) <= _CONDENSE:
        return f"<li>{e(text)}</li>"
    cut = text.rfind(" ", 0, _CONDENSE - 40)
    head = text[:cut if cut > 0 else _CONDENSE - 40]
    return f"<li><details><summary>{e(head)} …</summary>{e(text)}</details></li>"


def _html(blocks) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>sgdnoise — reproduction report</title>", f"<style>{_CSS}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            ident = f' id="{e(block[3])}"' if len(block) > 3 else ""
            top = ' <a class="top" href="#contents">↑ contents</a>' if block[1] == 3 else ""
            out.append(f"<h{block[1]}{ident}>{e(block[2])}{top}</h{block[1]}>")
        elif kind == "p":
            out.append(f"<p>{e(block[1])}</p>")
        elif kind == "pre":
            out.append(f"<pre>{e(block[1])}</pre>")
        elif kind == "links":
            out.append("<p>" + " · ".join(f'<a href="{e(href)}">{e(text)}</a>' for text, href in block[1]) + "</p>")
        elif kind == "toc":
            parts, line = [], None
            for text, href, verdict in block[1]:
                if href is None:
                    line = [f"<strong>{e(text.split(':')[0])}</strong>:"]
                    parts.append(line)
                elif verdict is None:  # a section of its own (the derivations)
                    parts.append([f'<a href="{e(href)}">{e(text)}</a>'])
                    line = None
                else:
                    line.append(f'<a href="{e(href)}">{e(text)}</a>'
                                + (f' <span class="v {verdict}">{verdict}</span>' if verdict else "")
                                + ("" if verdict is None else " ·"))
            out.append('<nav id="contents"><p><strong>Contents</strong></p>'
                       + "".join("<p>" + " ".join(p).rstrip(" ·") + "</p>" for p in parts) + "</nav>")
        elif kind == "notes":
            out.append('<ul class="notes">' + "".join(_html_note("note: " + n) for n in block[1]) + "</ul>")
        elif kind == "table":
            table = ("<table><tr>" + _html_cells(block[1], "th") + "</tr>"
                     + "".join("<tr>" + _html_cells(row, "td") + "</tr>" for row in block[2]) + "</table>")
            fold = block[3] if len(block) > 3 else None
            out.append(table if fold is None else f"<details><summary>{e(fold)}</summary>{table}</details>")
        elif kind == "img":
            data = base64.b64encode(block[1].read_bytes()).decode("ascii")
            generic = ' class="generic"' if len(block) > 3 and block[3] == "generic" else ""
            out.append(f'<figure><img{generic} alt="{e(block[2])}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{e(block[2])}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(directory: str | Path, entries: list[Entry], meta: dict) -> dict[str, Path]:
    """Write ``report.md`` and the self-contained ``report.html`` into ``directory``.

    ``meta`` (all optional): scale, seed, version, executor, store, n_cached, runtime_s, documents (list of
    (text, relative link)), derivations (list of (name, title)). Figures must lie under ``directory``.
    """
    directory = Path(directory)
    blocks = _blocks(entries, meta)
    md, page = directory / "report.md", directory / "report.html"
    md.write_text(_markdown(blocks, directory), encoding="utf-8")
    page.write_text(_html(blocks), encoding="utf-8")
    return {"md": md, "html": page}
