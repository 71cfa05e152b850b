"""The paper figures and the report's layout on real results: the results of ``sgdnoise reproduce --quick``
(seed 0; ``data/quick_results.jsonl``) drawn by every registered check's figures hook, without re-running
anything; the HTML has a contents list with an anchor per check, each check's figures inside its own section,
no 'nan', nothing fetched from the network."""

import json
import re
import time
from pathlib import Path

import pytest

from numerics.checks.perceptron import hinge as perceptron
from numerics.run import report
from numerics.run.report import Entry, make_figures, write_report
from numerics.verify import CheckResult, check_names, get_check

DATA = Path(__file__).parent / "data" / "quick_results.jsonl"
RESULTS = {r.check: r for r in (CheckResult.from_json(json.loads(line)) for line in DATA.read_text().splitlines())}


@pytest.fixture
def no_phase_diagram(monkeypatch):
    """perceptron.crossover_batch_size adds a (B, eta) phase diagram that trains a grid (tens of seconds): not
    drawn here."""
    monkeypatch.setattr(perceptron, "_B_eta_figure", lambda result, directory: [])


def test_every_registered_check_declares_a_paper_figure():
    assert [n for n in check_names() if get_check(n).figures is None] == []


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_paper_figure_from_a_stored_result(name, tmp_path, no_phase_diagram):
    start = time.perf_counter()
    paths, notes = make_figures(RESULTS[name], tmp_path)
    assert notes == []  # the hook did not fail
    assert len(paths) >= 2 and all(p.is_file() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    assert paths[-1].name == f"{name}.png"  # the generic figure last, the paper figure(s) first
    assert time.perf_counter() - start < 15  # cheap: no re-simulation (derivations are compiled on first use)


def test_every_stored_check_is_still_registered():
    assert set(RESULTS) <= set(check_names())


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    entries = []
    for name, result in RESULTS.items():
        entry = Entry(name, get_check(name).description, result, cached=True)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(perceptron, "_B_eta_figure", lambda result, directory: [])
            entry.figures, entry.notes = make_figures(result, out / "figures")
        entries.append(entry)
    entries.append(Entry("dln.x_error", "a check that raised", error="DivergenceError: step 12"))
    paths = write_report(out, entries, dict(scale="quick", seed=0, derivations=[("dln.mode_sde", "per-mode SDE")]))
    return paths, entries


def _sections(html: str) -> dict[str, str]:
    """The HTML of every check's section (from its heading to the next check's or the derivations)."""
    heads = list(re.finditer(r'<h3 id="([^"]+)"', html))
    ends = [h.start() for h in heads[1:]] + [html.index('id="derivations"')]
    return {h[1]: html[h.start():end] for h, end in zip(heads, ends)}


def test_contents_link_every_check_and_each_section_holds_its_own_figures(page):
    (paths, entries) = page
    html = paths["html"].read_text()
    contents = html[html.index('<nav id="contents">'):html.index("</nav>")]
    sections = _sections(html)
    for e in entries:
        ident = report.anchor(e.name)
        assert f'href="#{ident}"' in contents, e.name
        assert ident in sections, e.name
        if e.result is None:
            continue
        assert e.figures and all(p.is_file() for p in e.figures)
        section = sections[ident]
        assert section.count("<img") == len(e.figures) >= 2  # its figures sit in its own section
        assert all(p.name in section for p in e.figures)
    first_screen = html[:html.index("<h2>Details</h2>")]
    assert all(f'<a href="#{report.anchor(e.name)}">' in first_screen for e in entries)  # summary rows link


def test_no_nan_and_nothing_fetched_from_the_network(page):
    paths, _ = page
    html = paths["html"].read_text()
    text = re.sub(r'src="data:image/png;base64,[^"]+"', "", html)  # base64 may spell 'nan' by chance
    assert not re.search(r"\bnan\b", text, flags=re.I)
    assert not re.search(r"\bnan\b", paths["md"].read_text(), flags=re.I)
    assert "not estimable" in text  # a missing number says why (dln peaks that the estimator could not find)
    assert not re.search(r"<(script|link|img|iframe)[^>]*(src|href)=\"(https?:)?//", html, flags=re.I)
    assert "<script" not in html.lower()
    assert "<details>" in html  # long notes and long row tables are folded


def test_say_missing_explains_nan():
    text = report.say_missing("peak u*/s = nan +- nan vs 0.3333, z = +nan; 0.3212 +- nan; NaN")
    assert not re.search(r"\bnan\b", text, flags=re.I)
    assert "not estimable" in text and "no standard error" in text and "z not computable" in text
