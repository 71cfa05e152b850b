"""The report: claims grouped per paper on the first screen, self-contained HTML, figure hooks, and
``sgdnoise reproduce`` end to end (LaTeX/PDF, report, resuming from the store)."""

import base64
import dataclasses
import math
import re

import numpy as np
import pytest

from derivations.latex import pdflatex_available
from numerics.run import report
from numerics.verify import check as verify
from numerics.verify import Check, CheckResult, Comparison, Mutant, Row, comparison_result
from numerics.run.cli import main
from numerics.run.report import Entry, make_figures, paper_of, write_report

HOOKED = "linreg.stationary_covariance"  # a registered check, given a figures hook in one test


def _result(name, verdict="CONFIRMED", z=(0.5, -1.2)):
    rows = [Row(f"q{i} <b>", 1.0 + i, 1.0 + i + 0.01 * zi, 0.01, zi) for i, zi in enumerate(z)]
    return CheckResult(check=name, verdict=verdict, params={"eta": 0.1}, seed=3, rows=rows,
                       mutants=[Mutant("a wrong formula", True, 9.0)], tolerance="|z| <= 5",
                       runtime_s=1.5, notes=["a note"], resolving_power=0.05)


def test_paper_groups_follow_name_prefixes():
    assert paper_of("sgd.continuum_sde") == paper_of("linreg.x") and paper_of("linreg.x").startswith("Foundations")
    assert "Corlouer" in paper_of("dln.mode_sde") and "000" in paper_of("dln.mode_sde")
    assert "001" in paper_of("curv.noise_curvature") and "002" in paper_of("perceptron.t")
    assert "003" in paper_of("fluct.ivfr") and paper_of("something.else") == report.OTHER


def test_check_result_json_round_trip_keeps_non_finite_values():
    r = _result("dln.x", z=(math.inf, math.nan, 0.25))
    back = CheckResult.from_json(r.to_json())
    assert back.rows[0].z == math.inf and math.isnan(back.rows[1].z) and back.rows[2] == r.rows[2]
    assert back.to_json() == r.to_json()


def test_report_first_screen_is_a_verdict_table_per_paper(tmp_path):
    entries = [Entry("fluct.ivfr", "IVFR", _result("fluct.ivfr")),
               Entry("linreg.a", "least squares <exact>", _result("linreg.a", verdict="REFUTED", z=(7.0,))),
               Entry("dln.mode_sde", "modes", error="DivergenceError: step 12, eta 3"),
               Entry("zzz.new", "unknown prefix", _result("zzz.new"), cached=True)]
    for e in entries:
        if e.result is not None:
            e.figures, e.notes = make_figures(e.result, tmp_path / "figures")
    paths = write_report(tmp_path, entries, dict(scale="quick", seed=3, documents=[("derivations.tex", "derivations.tex")],
                                                 derivations=[("dln.mode_sde", "per-mode SDE")]))
    md = paths["md"].read_text()
    first_screen = md[:md.index("## Details")]
    assert "2 CONFIRMED, 1 REFUTED, 1 ERROR of 4 checks" in first_screen
    headings = re.findall(r"^## (.*)$", first_screen, flags=re.M)
    assert headings == [paper_of("linreg.a"), paper_of("dln.x"), paper_of("fluct.x"), report.OTHER]  # paper order
    assert "| [linreg.a](#check-linreg-a) | REFUTED |" in first_screen  # each row links to its check's section
    assert "| [zzz.new](#check-zzz-new) | CONFIRMED |" in first_screen
    assert "(stored)" in first_screen and "| [dln.mode_sde](#check-dln-mode_sde) | ERROR |" in first_screen and "±5 %" in first_screen
    assert "DivergenceError: step 12" in md and "sgdnoise check fluct.ivfr --seed 3" in md
    assert "](figures/fluct.ivfr.png)" in md and "](figures/fluct.ivfr.paper.png)" in md  # generic + paper figure

    page = paths["html"].read_text()
    assert "<b>" not in page and "&lt;exact&gt;" in page  # user-visible text is escaped
    assert not re.search(r'(src|href)="(https?:)?//', page)  # self-contained: nothing fetched from elsewhere
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 4 and all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in images)
    assert page.index('class="REFUTED"') < page.index("<h2>Details</h2>")


def test_figures_hook_adds_figures_and_a_failing_hook_only_leaves_a_note(tmp_path, monkeypatch):
    result = _result(HOOKED)
    monkeypatch.setitem(verify._REGISTRY._entries, HOOKED, dataclasses.replace(verify.get_check(HOOKED), figures=None))
    paths, notes = make_figures(result, tmp_path)  # no hook: the generic figure only
    assert [p.name for p in paths] == [f"{HOOKED}.png"] and notes == []

    def hook(result, directory):
        path = directory / "extra.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n")
        return [path]

    monkeypatch.setitem(verify._REGISTRY._entries, HOOKED, dataclasses.replace(verify.get_check(HOOKED), figures=hook))
    paths, notes = make_figures(result, tmp_path)
    assert [p.name for p in paths] == ["extra.png", f"{HOOKED}.png"] and notes == []  # the paper figure first

    def broken(result, directory):
        raise RuntimeError("no data to plot")

    monkeypatch.setitem(verify._REGISTRY._entries, HOOKED, dataclasses.replace(verify.get_check(HOOKED), figures=broken))
    paths, notes = make_figures(result, tmp_path)
    assert [p.name for p in paths] == [f"{HOOKED}.png"] and "no data to plot" in notes[0]


@pytest.mark.parametrize("predicted, measured, scale", [
    ([2.7, 1e-3, 2e-3], [2.9, 1.1e-3, 1.9e-3], "log"),  # an exponent beside variances (fluct.ivfr)
    ([1.0, 2.0], [1.1, 2.2], "linear"),                   # one decade: linear
    ([-1.0, 1e-4, 10.0], [-1.0, 1e-4, 10.0], "linear"),   # a negative value cannot go on a log axis
    ([0.0, 5.0], [0.1, 4.9], "linear"),
    ([float("nan"), 1e-4, 10.0], [1.0, 1e-4, 10.0], "log"),
])
def test_generic_figure_uses_log_axes_when_positive_rows_span_decades(predicted, measured, scale, tmp_path):
    assert report.measured_axis_scale(predicted, measured) == scale
    rows = [Row(f"q{i}", p, m, 0.1 * abs(m), 0.0) for i, (p, m) in enumerate(zip(predicted, measured))]
    result = CheckResult(check="x.y", verdict="CONFIRMED", params={}, seed=0, rows=rows, mutants=[Mutant("w", True, 9.0)],
                         tolerance="|z| <= 5")
    assert report.generic_figure(result, tmp_path).stat().st_size > 0


def _mean_check(params, seed):
    """A tiny Monte Carlo check: the mean of N(0, 1) samples against ``predicted`` (control: mean 1)."""
    x = np.random.default_rng(seed).standard_normal(params["n"])
    cmp = Comparison.make(["mean"], [params["predicted"]], [x.mean()], [x.std(ddof=1) / np.sqrt(x.size)],
                          {"mean 1": [1.0]}, z=5)
    return comparison_result(params["name"], params, seed, cmp, "|z| <= 5")


def _tiny_check(name, predicted):
    params = dict(n=4000, predicted=predicted, name=name)
    return Check(name, "sgd.continuum_sde", f"tiny test check predicting {predicted}", _mean_check, params, params)


def test_reproduce_quick_end_to_end_and_resume(tmp_path, monkeypatch, capsys):
    """``reproduce --quick -o DIR`` through the command line, restricted (``--only``) to one derivation and two
    tiny checks registered for this test, one right and one wrong; run serially so that they run in this process."""
    for name, predicted in (("tinytest.right", 0.0), ("tinytest.wrong", 0.5)):
        monkeypatch.setitem(verify._REGISTRY._entries, name, _tiny_check(name, predicted))
    out = tmp_path / "out"
    argv = ["reproduce", "--quick", "-o", str(out), "--workers", "1", "--only", "sgd.continuum_sde", "--only",
            "tinytest.right", "--only", "tinytest.wrong"]
    assert main(argv) == 1  # a check fails
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("1 CONFIRMED, 1 REFUTED of 2 checks (0 from the store)")
    assert "failing (errors, exact theories not CONFIRMED): tinytest.wrong (REFUTED)" in summary
    for name in ("report.md", "report.html", "derivations.tex", "checks.jsonl", "results.sqlite",
                 "figures/tinytest.right.png"):
        assert (out / name).is_file(), name
    assert (out / "derivations.pdf").is_file() == pdflatex_available()
    assert "sgd.continuum\\_sde" in (out / "derivations.tex").read_text()
    md = (out / "report.md").read_text()
    assert "| [tinytest.right](#check-tinytest-right) | CONFIRMED |" in md
    assert "| [tinytest.wrong](#check-tinytest-wrong) | REFUTED |" in md

    assert main(argv) == 1  # again: both results come from the store
    assert "1 CONFIRMED, 1 REFUTED of 2 checks (2 from the store)" in capsys.readouterr().out

    assert main([*argv[:-1], "tinytest.wron"]) == 2
    assert "did you mean 'tinytest.wrong'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # one executor at most
        main([*argv, "--dask-local", "2"])
    assert exit_info.value.code == 2



@pytest.mark.parametrize("rule", ["agree", "below", "above"])
@pytest.mark.parametrize("z", [-60.0, -5.5, -4.9, 0.0, 4.9, 5.5, 60.0])
def test_generic_z_chart_draws_the_rule_of_the_verdict(rule, z):
    """A bar lies inside its drawn cell exactly when the row holds, one-sided for a criterion row: a bar outside
    its cell cannot sit under a CONFIRMED title."""
    row = Row("q", 0.0, z, 1.0, z, rule)
    lo, hi = report.pass_region(row, 5.0, big=1000.0)
    assert (lo <= z <= hi) == row.holds(5.0)
