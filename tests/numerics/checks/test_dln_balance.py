"""The registered check dln.law_of_balance and the exact one-step identity Δ' = Δ(1 − η² m̂²)."""

import numpy as np

import derivations
from derivations.dln.balance import balance_model, s, sigma
from numerics.checks import get_check
from numerics.verify.user_model import compile_model


def test_one_step_identity_holds_to_rounding():
    d = derivations.get("dln.law_of_balance")
    engine, data = compile_model(balance_model(), {s: 1.0, sigma: 0.7})
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 2))
    X, y = data.sample(rng, (64, 3))
    eta = 0.3
    w_next = w - eta * engine.minibatch_gradient(w, X, y)
    m_hat = ((w[:, 0] * w[:, 1])[:, None] * X[..., 0] - y) * X[..., 0]
    identity = d.lambdify((*d.parameters[:3], d.extras["m_hat"]), d.extras["one_step_identity"])
    np.testing.assert_allclose(w_next[:, 0] ** 2 - w_next[:, 1] ** 2,
                               identity(w[:, 0], w[:, 1], eta, m_hat.mean(axis=1)), rtol=1e-10, atol=1e-12)


def test_law_of_balance_check_passes_and_rejects_conservation():
    result = get_check("dln.law_of_balance")(seed=0, n_replicas=1000, n_steps=200, burn_in=80)
    assert result.verdict == "CONFIRMED", result.table()
    conserved = next(m for m in result.mutants if m.description.startswith("Delta conserved"))
    assert conserved.rejected and conserved.max_abs_z > 20
    assert any(r.quantity.startswith("Ito ratio eta->0") for r in result.rows)  # extrapolated, no floor
