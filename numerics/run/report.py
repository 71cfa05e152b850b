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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Protocol

import numpy as np

from numerics.verify import VERDICTS, CheckResult, get_check

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


def generic_figure(result: CheckResult, directory: Path, z: float = 5.0) -> Path:
    """z of every row within the ±z band (left), measured ± stderr vs predicted (right); one PNG."""
    from matplotlib.figure import Figure  # object API: no pyplot state, no display backend needed

    rows = result.rows
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_z, ax_m = fig.subplots(1, 2)
    zs = np.array([r.z for r in rows], dtype=float)
    shown = np.clip(np.nan_to_num(zs, nan=0.0, posinf=3 * z, neginf=-3 * z), -3 * z, 3 * z)
    ax_z.bar(np.arange(len(rows)), shown, color=["tab:blue" if r.holds(z) else "tab:orange" for r in rows],
             hatch=["" if r.rule == "agree" else "//" for r in rows])
    ax_z.axhspan(-z, z, color="0.9", zorder=0)
    bounds = any(r.rule != "agree" for r in rows)
    ax_z.set(ylabel="z = (measured − predicted)/stderr",
             title=f"z per row (grey: |z| ≤ {z:g}; bars clipped at ±{3 * z:g})"
                   + ("\nhatched: criterion rows, which must lie beyond the band on their side" if bounds else ""))
    if len(rows) <= 16:
        ax_z.set_xticks(np.arange(len(rows)), [r.quantity for r in rows], rotation=60, ha="right", fontsize=7)
    else:
        ax_z.set_xlabel("row")
    rows = [r for r in rows if r.rule == "agree"]  # a criterion row's 'predicted' is a bound, not a prediction
    predicted = np.array([r.predicted for r in rows], dtype=float)
    ax_m.errorbar(predicted, [r.measured for r in rows], yerr=[r.stderr for r in rows], fmt="o", ms=3, capsize=2)
    finite = predicted[np.isfinite(predicted)]
    if finite.size:
        lo, hi = finite.min(), finite.max()
        ax_m.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = predicted")
        ax_m.legend(loc="best", fontsize=8)
    scale = measured_axis_scale(predicted, [r.measured for r in rows])
    ax_m.set(xlabel="predicted", ylabel="measured ± stderr", title="measured vs predicted", xscale=scale, yscale=scale)
    fig.suptitle(f"{result.check}: {result.verdict}")
    if scale == "linear":
        ax_m.ticklabel_format(style="sci", scilimits=(-3, 4))
    path = directory / f"{_file_stem(result.check)}.png"
    fig.savefig(path, dpi=110)
    return path


def make_figures(result: CheckResult, directory: str | Path) -> tuple[list[Path], list[str]]:
    """The generic figure plus the check's hook figures; returns (paths, notes about hooks that failed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths, notes = [generic_figure(result, directory)], []
    try:
        hook = figures_hook(result.check)
        if hook is not None:
            paths += [Path(p) for p in hook(result, directory)]
    except Exception as exc:  # a figure must not cost the report: say what went wrong instead
        notes.append(f"figures hook of {result.check} failed: {type(exc).__name__}: {exc}")
    return paths, notes


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




def _fmt(x: float) -> str:
    return f"{x:.5g}"


def _blocks(entries: list[Entry], meta: dict) -> list[tuple]:
    """The report as blocks, rendered alike to Markdown and HTML: ("h", level, text), ("p", text),
    ("table", header, rows), ("links", [(text, href)]), ("pre", text), ("img", path, caption)."""
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
    for paper in papers:
        group = [e for e in entries if paper_of(e.name) == paper]
        if not group:
            continue
        blocks.append(("h", 2, paper))
        blocks.append(("table", ["claim (check)", "verdict", "max |z|", "resolving power", "mutants rejected", "runtime"],
                       [[e.name, e.verdict,
                         f"{e.result.max_abs_z:.2f}" if e.result else "—",
                         e.result.resolving() if e.result else "—",
                         f"{sum(m.rejected for m in e.result.mutants)}/{len(e.result.mutants)}" if e.result else "—",
                         f"{e.result.runtime_s:.1f} s" + (" (stored)" if e.cached else "") if e.result else "—"]
                        for e in group]))
    blocks.append(("h", 2, "Details"))
    for e in entries:
        blocks.append(("h", 3, f"{e.name} — {e.verdict}"))
        blocks.append(("p", e.description))
        if e.result is None:
            blocks.append(("pre", e.error or "no result"))
            continue
        r = e.result
        rerun = f"sgdnoise check {e.name} --seed {r.seed}" + (" --full" if meta.get("scale") == "full" else "")
        blocks.append(("p", f"seed {r.seed}; parameters: "
                            + ", ".join(f"{k}={v}" for k, v in sorted(r.params.items())) + f"; rerun: {rerun}"))
        blocks.append(("table", ["quantity", "predicted", "measured", "stderr", "z"],
                       [[row.quantity + {"agree": "", "approx": " (approximate theory: reported, not judged)"}.get(
                           row.rule, f" (criterion: measured {row.rule} the bound)"),
                         _fmt(row.predicted), _fmt(row.measured), _fmt(row.stderr), f"{row.z:.2f}"]
                        for row in r.rows]))
        blocks.append(("p", f"tolerance: {r.tolerance}; resolving power {r.resolving()}"))
        blocks += [("p", f"mutant: {m.description} — {'rejected' if m.rejected else 'NOT rejected'} "
                         f"(max |z| = {m.max_abs_z:.1f})") for m in r.mutants]
        for note in r.notes + e.notes:
            blocks.append(("p", f"note: {note}"))
    blocks.append(("h", 2, "Figures"))
    for e in entries:
        for path in e.figures:
            blocks.append(("img", path, f"{e.name}: {path.name}"))
    if meta.get("derivations"):
        blocks.append(("h", 2, "Derivations"))
        blocks.append(("table", ["derivation", "title", "paper"],
                       [[name, title, paper_of(name)] for name, title in meta["derivations"]]))
    return blocks


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown(blocks, directory: Path) -> str:
    out = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append("#" * block[1] + " " + block[2])
        elif kind == "p":
            out.append(block[1])
        elif kind == "pre":
            out.append("```\n" + block[1] + "\n```")
        elif kind == "links":
            out.append(" · ".join(f"[{text}]({href})" for text, href in block[1]))
        elif kind == "table":
            out.append("\n".join(["| " + " | ".join(map(_md_cell, block[1])) + " |",
                                  "|" + "---|" * len(block[1])]
                                 + ["| " + " | ".join(map(_md_cell, row)) + " |" for row in block[2]]))
        elif kind == "img":
            out.append(f"![{block[2]}]({block[1].relative_to(directory).as_posix()})")
    return "\n\n".join(out) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}td.CONFIRMED{background:#d9f2d9;font-weight:bold}td.REFUTED,td.ERROR{background:#f7d4d4;font-weight:bold}td.INCONCLUSIVE{background:#fbeed0;font-weight:bold}
img{max-width:100%}pre{background:#f6f6f6;padding:.6em;overflow-x:auto}h2{border-bottom:1px solid #ddd}"""


def _html_cells(row, tag: str) -> str:
    """Table cells; verdict cells get a class (coloured by the style sheet)."""
    return "".join(f'<{tag} class="{c}">{c}</{tag}>' if c in (*VERDICTS, "ERROR")
                   else f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)


def _html(blocks) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>sgdnoise — reproduction report</title>", f"<style>{_CSS}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
        elif kind == "p":
            out.append(f"<p>{e(block[1])}</p>")
        elif kind == "pre":
            out.append(f"<pre>{e(block[1])}</pre>")
        elif kind == "links":
            out.append("<p>" + " · ".join(f'<a href="{e(href)}">{e(text)}</a>' for text, href in block[1]) + "</p>")
        elif kind == "table":
            out.append("<table><tr>" + _html_cells(block[1], "th") + "</tr>"
                       + "".join("<tr>" + _html_cells(row, "td") + "</tr>" for row in block[2]) + "</table>")
        elif kind == "img":
            data = base64.b64encode(block[1].read_bytes()).decode("ascii")
            out.append(f'<figure><img alt="{e(block[2])}" src="data:image/png;base64,{data}">'
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
