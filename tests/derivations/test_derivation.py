"""The Derivation object and its registry: steps, LaTeX, JSON, lambdify, names."""

import json

import pytest
import sympy as sp

import derivations
from derivations.derivation import Derivation, Reference
from derivations.errors import UnknownNameError

EXPECTED = {"sgd.continuum_sde", "linreg.noise_covariance", "linreg.stationary_covariance",
            "linreg.discrete_stationary_covariance"}


def test_registry_holds_the_public_names():
    assert EXPECTED <= set(derivations.names())


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean 'linreg.noise_covariance'"):
        derivations.get("linreg.noise_covarience")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_derivation_renders_and_serialises(name):
    d = derivations.get(name)
    assert d is derivations.get(name)  # built once per process
    tex = d.latex()
    assert tex.startswith("\\section{") and "\\paragraph{Result.}" in tex and "\\cite{" in tex
    assert tex.count("\\item") >= len(d.steps)
    payload = json.loads(json.dumps(d.to_json()))
    assert payload["name"] == name and payload["result"] and payload["latex"]
    assert set(payload) >= {"name", "result", "latex", "symbols", "assumptions"}


def test_lambdify_is_cached_and_numeric():
    x, a = sp.symbols("x a", positive=True)
    d = Derivation(name="demo", title="Demo", summary="", assumptions=[], steps=[],
                   result=sp.Eq(sp.Symbol("y"), a * sp.exp(-x)), parameters=(x, a),
                   references=(Reference("k", "A", "T", "V", 2000),))
    f = d.lambdify()
    assert f is d.lambdify()
    assert abs(f(0.0, 2.0) - 2.0) < 1e-15
    assert "\\bibitem{k}" in Reference("k", "A", "T", "V", 2000).bibitem()
