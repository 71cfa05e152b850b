"""The sgdnoise command: list, derive, latex (PDF), check (JSON, exit codes), bad input, safe parsing."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derivations.latex import pdflatex_available
from numerics.run.cli import main, parse_param, parse_value
from numerics.errors import ParameterError


def run(*args):
    return subprocess.run([sys.executable, "-m", "numerics.run.cli", *args], capture_output=True, text=True, timeout=600)


def test_list_names_derivations_and_checks(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "linreg.discrete_stationary_covariance" in out and "sgd.continuum_sde" in out and "checks:" in out


def test_derive_json_has_the_documented_fields(capsys):
    assert main(["derive", "linreg.stationary_covariance", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"name", "result", "latex", "symbols", "assumptions"} <= set(payload)


def test_derive_latex_and_plain(capsys):
    assert main(["derive", "sgd.continuum_sde", "--latex"]) == 0
    assert "\\section" in capsys.readouterr().out
    assert main(["derive", "sgd.continuum_sde"]) == 0
    assert "result:" in capsys.readouterr().out


def test_unknown_name_is_one_line_exit_2_with_suggestion():
    proc = run("derive", "linreg.stationary_covarianse")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "did you mean" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("check", "linreg.nope")
    assert proc.returncode == 2 and "unknown check" in proc.stderr


def test_check_json_gives_the_verdict_and_its_mutants():
    proc = run("check", "linreg.discrete_stationary_covariance", "--json", "--seed", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["verdict"] == "CONFIRMED" and all(m["rejected"] for m in payload["mutants"])
    assert 0 < payload["resolving_power"] < 0.2
    assert payload["check"] == "linreg.discrete_stationary_covariance" and payload["seed"] == 3
    assert {"quantity", "predicted", "measured", "stderr", "z"} <= set(payload["rows"][0])


def test_malformed_param_is_refused_without_running():
    proc = run("check", "linreg.stationary_covariance", "--param", "eta=__import__('os').system('echo hi')")
    assert proc.returncode == 2 and "not a valid float" in proc.stderr and "hi\n" not in proc.stdout
    proc = run("check", "linreg.stationary_covariance", "--param", "etta=0.1")
    assert proc.returncode == 2 and "unknown parameter" in proc.stderr


def test_param_out_of_range_is_a_clear_error():
    proc = run("check", "linreg.stationary_covariance", "--param", "eta=-0.1")
    assert proc.returncode == 2 and "eta" in proc.stderr and "Traceback" not in proc.stderr


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_param_parsing_never_evaluates_and_only_returns_typed_values(text):
    for default in (1, 0.5, True, "with_replacement"):
        try:
            value = parse_value("k", text, default)
        except ParameterError:
            continue
        assert type(value) is type(default)


def test_parse_param_types():
    defaults = {"n": 3, "eta": 0.1, "flag": False}
    assert parse_param("n=1e3", defaults) == ("n", 1000)
    assert parse_param("eta=2.5e-2", defaults) == ("eta", 0.025)
    assert parse_param("flag=yes", defaults) == ("flag", True)
    for bad in ("n=1.5", "eta=nan", "eta=inf", "n", "flag=maybe"):
        with pytest.raises(ParameterError):
            parse_param(bad, defaults)


@pytest.mark.skipif(not pdflatex_available(), reason="pdflatex not installed (.ci/run installs it)")
def test_latex_pdf_is_produced(tmp_path):
    assert main(["latex", "-o", str(tmp_path), "--pdf"]) == 0
    pdf = tmp_path / "derivations.pdf"
    assert pdf.exists() and pdf.read_bytes()[:4] == b"%PDF" and pdf.stat().st_size > 10_000


def test_eta_fraction_outside_unit_interval_is_refused():
    proc = run("check", "linreg.discrete_stationary_covariance", "--param", "eta_fraction=1.5")
    assert proc.returncode == 2 and "eta_fraction" in proc.stderr


def test_list_is_fast_builds_no_derivation_and_prints_plain_titles():
    """Listing reads the registries only: no derivation is built (the slow part), titles are plain text."""
    code = ("import time, sys; t = time.perf_counter(); from numerics.run.cli import main; main(['list']); "
            "import derivations.derivation as d; "
            "print('BUILT', sum(e.build.cache_info().currsize for e in d._REGISTRY._entries.values()), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "BUILT 0" in proc.stderr
    assert "Itô" in proc.stdout and "Δ" in proc.stdout
    assert "\\^" not in proc.stdout and "$" not in proc.stdout


def test_check_without_names_prints_usage_and_runs_nothing():
    proc = run("check")
    assert proc.returncode == 2 and "usage: sgdnoise check" in proc.stderr and "--all" in proc.stderr
    assert proc.stdout == ""
    proc = run("check", "linreg.stationary_covariance", "--all")
    assert proc.returncode == 2 and "not both" in proc.stderr


def test_every_option_of_every_subcommand_has_help():
    from numerics.run.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"sgdnoise {name}: option {action.option_strings or action.dest} has no help"


def test_tiny_eta_is_refused_at_once_naming_the_cap():
    proc = run("check", "linreg.stationary_covariance", "--param", "eta=1e-300")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "cap of 1e+07 steps" in proc.stderr and "SGDNOISE_MAX_STEPS" in proc.stderr


def test_huge_replica_count_is_refused_before_allocating():
    proc = run("check", "linreg.discrete_stationary_covariance", "--param", "n_replicas=1000000000")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "memory cap" in proc.stderr and "Traceback" not in proc.stderr


def test_memory_error_anywhere_is_one_line_exit_2(monkeypatch, capsys):
    from numerics.run import cli

    def exhausted(args):
        raise MemoryError

    monkeypatch.setattr(cli, "_cmd_list", exhausted)
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of memory" in err


def test_without_numba_one_line_says_the_run_will_be_slow(monkeypatch, capsys):
    from numerics.run import cli
    from numerics.engine import streams

    monkeypatch.setattr(streams, "HAVE_NUMBA", False)
    cli._warn_without_numba()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "numba is not available" in err and "slower" in err
    monkeypatch.setattr(streams, "HAVE_NUMBA", True)
    cli._warn_without_numba()
    assert capsys.readouterr().err == ""


def test_a_check_whose_extra_is_missing_is_skipped_by_all_and_refused_by_name(monkeypatch, capsys):
    import importlib.util

    from numerics.run import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    assert cli._runnable(["curv.gamma_grid", "linreg.stationary_covariance"], skip=True) == \
        ["linreg.stationary_covariance"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "skipped curv.gamma_grid" in err and "pip install -e '.[network]'" in err
    with pytest.raises(ParameterError, match="needs the 'network' extra"):
        cli._runnable(["curv.gamma_grid"], skip=False)
    cli.main(["list"])
    listed = [line for line in capsys.readouterr().out.splitlines() if "not runnable here" in line]
    assert any(line.lstrip().startswith("curv.gamma_grid ") for line in listed)
    assert all("'network' extra" in line for line in listed)
