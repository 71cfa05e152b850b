"""curv checks: the digits pipeline runs for every loss at tiny settings (the check itself, about a minute and a
half, is marked slow in the catalog); the digits check's rows and mutants judged on synthetic per-network results
(no training): the one-sided d > 0 can fail, an interval row against its nearer bound, the C ∝ H mutant."""

from types import SimpleNamespace

import numpy as np
import pytest

from numerics.checks import get_check
from numerics.checks.curv import mlp as curv
from numerics.errors import ParameterError
from numerics.models.mlp import LOSSES

TINY = dict(n_classes=3, hidden=6, eta=0.1, batch_size=50, n_epochs=3, top_fraction=0.6, n_rotations=2,
            n_resamples=200)


@pytest.mark.parametrize("loss", LOSSES)
def test_digits_run_measures_every_quantity_at_tiny_settings(loss):
    r = curv.digits_run(loss, TINY, 0)
    lam, C_ii, S_i = r["diagonals"]
    assert lam.shape == C_ii.shape == S_i.shape == (36,)
    assert np.isfinite(r["fit_c"].exponent) and r["base_rho"].shape == (2,) and 0 <= r["rho"] <= 1
    # fit_s is the fit of the registered prediction sigma_w^2/(2B) E[h^2]: the exponent of E[h^2] itself
    direct = curv.fit_gamma(lam, S_i, r["n_top"], n_resamples=200, seed=1)
    assert r["fit_s"].exponent == pytest.approx(direct.exponent, rel=1e-9)
    assert r["steps"] == 3 * (len(curv.load_digits_data(3)[0]) // 50)


def test_authors_step_matches_their_mean_over_classes_mse():
    assert curv.authors_step("ce", 0.1, 10) == 0.1
    assert curv.authors_step("mse", 0.1, 10) == curv.authors_step("softmax_mse", 0.1, 10) == pytest.approx(0.02)


def _fake_runs(gamma_c, gamma_s, d, rho=0.15):
    """A digits_run stand-in: per-network results scattered about the given means (reproducible)."""
    rng = np.random.default_rng(0)

    def run(loss, params, seed):
        e = 0.01 * rng.standard_normal(4)

        def fit(g):
            return SimpleNamespace(exponent=g, exponent_interval=(g - 0.02, g + 0.02))
        return dict(fit_c=fit(gamma_c + e[0]), fit_s=fit(gamma_s + e[1]), err_Eh2=0.4, err_H=0.4 + d + e[2],
                    rho=rho + e[3], rho_Eh2=0.1, base_rho=np.full(2, 0.68) + 0.005 * rng.standard_normal(2),
                    train_loss=1e-4, accuracy=1.0, steps=100)
    return run


@pytest.mark.parametrize("gamma_c, gamma_s, d, verdict", [
    (1.25, 1.25, 0.2, "CONFIRMED"),    # C ∝ E[h^2]: every row holds, every mutant rejected
    (1.25, 1.25, -0.2, "REFUTED"),     # C nearer H than E[h^2] beyond 5 s.e.: the one-sided d row fails
    (1.25, 1.40, 0.2, "REFUTED"),      # gamma_C differs from gamma of E[h^2]
    (1.00, 1.25, 0.0, "REFUTED"),      # C ∝ H
    (1.25, 1.25, 0.005, "INCONCLUSIVE"),  # d > 0 not established
])
def test_digits_check_judges_synthetic_networks(monkeypatch, gamma_c, gamma_s, d, verdict):
    monkeypatch.setattr(curv, "digits_run", _fake_runs(gamma_c, gamma_s, d))
    result = get_check("curv.noise_curvature")(losses=("ce", "softmax_mse"), n_seeds=8)
    assert result.verdict == verdict, result.table()
    rows = {r.quantity: r for r in result.rows}
    assert rows["d ce (C nearer E[h^2])"].rule == "above" and result.max_abs_z > 0
    c_prop_h = next(m for m in result.mutants if m.description.startswith("ce: C ∝ H"))
    assert c_prop_h.rejected == (gamma_c != 1.0)


def test_checks_refuse_bad_parameters():
    with pytest.raises(ParameterError):
        get_check("curv.rank_one_family")(q=(0.0, 1.0))
    with pytest.raises(ParameterError, match=">= 8"):
        get_check("curv.noise_curvature")(n_seeds=7)
