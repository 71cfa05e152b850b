"""perceptron.network_phases: one training point at tiny settings (networks trained to zero hinge loss, reproducible,
independent, a step cap leaves networks untrained); the check's rows, mutants and verdict judged on synthetic
training points (no training): a weight change that grows with T and with P (a > 0), one whose T_c does not move
with P, one whose T_c grows with P; the figure hook draws from the result alone."""

import numpy as np
import pytest

pytest.importorskip("jax")

from numerics.checks import _figures, get_check  # noqa: E402
from numerics.checks.perceptron import network  # noqa: E402
from numerics.errors import ParameterError  # noqa: E402

TINY = dict(n_train=48, n_test=100, data_seed=0, hidden=16, depth=1, alpha=100.0, temperature=0.01, batch_size=4,
            n_seeds=3, max_steps=5000)


def test_a_point_trains_independent_networks_to_zero_hinge_loss_reproducibly():
    res = network.train_point(TINY, 0)
    assert res["fitted"] == [True] * 3 and not res["diverged"]
    change, error, t_star = (np.array(res[k]) for k in ("relative_change", "test_error", "t_star"))
    assert np.all((change > 0) & (change < 1)) and len(set(change)) == 3   # own initialisation and minibatches
    assert np.all((error >= 0) & (error <= 0.5)) and np.all(t_star > 0)
    # t* = eta x steps, eta = T B: a whole number of steps
    np.testing.assert_allclose(t_star / (0.01 * 4), np.round(t_star / (0.01 * 4)), atol=1e-9)
    assert network.train_point(TINY, 0)["relative_change"] == res["relative_change"]
    assert network.train_point(TINY, 1)["relative_change"] != res["relative_change"]


def test_a_network_at_the_step_cap_is_not_trained():
    res = network.train_point(dict(TINY, max_steps=2), 0)
    assert res["fitted"] == [False] * 3 and np.all(np.isnan(res["relative_change"]))


def test_the_task_refuses_bad_parameters():
    with pytest.raises(ParameterError, match="unknown"):
        network.train_point(dict(TINY, eta=0.1), 0)
    with pytest.raises(ParameterError, match="n_seeds"):
        network.train_point(dict(TINY, n_seeds=1), 0)
    with pytest.raises(ParameterError, match="n_seeds must be >= 8"):
        get_check("perceptron.network_phases")(n_seeds=7)
    with pytest.raises(ParameterError, match="decade"):
        get_check("perceptron.network_phases")(sizes=(64, 128, 256))
    check = get_check("perceptron.network_phases")
    for bad, match in [(dict(temperatures=(0.1, 0.01)), "increasing"), (dict(alphas=()), "alphas"),
                       (dict(depth=0), "depth"), (dict(sizes=(64, 640, 1600)), "sizes must lie"),
                       (dict(target=0.0), "target"), (dict(T0=-1.0), "T0"), (dict(n_draws=2), "n_draws")]:
        with pytest.raises(ParameterError, match=match):  # refused before any training
            check(**bad)


def _fake_point(gamma, flat_at=None):
    """A train_point stand-in: relative change 0.2 (T/0.02) (P/256)^gamma per network (independent of T at
    α = ``flat_at``), a tenth of it without noise (gradient descent, B = P, at the same step η = T·B), 3 % scatter
    drawn by the task seed (common random numbers across T, as the real task), every network trained."""

    def train_point(params, seed):
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        noise = 1 + 0.03 * rng.standard_normal(params["n_seeds"])
        delta = 0.0 if params["alpha"] == flat_at else 1.0
        gd = params["batch_size"] == params["n_train"]
        eta = params["temperature"] * params["batch_size"]
        change = 0.2 * (eta / 4 / 0.02) ** delta * (params["n_train"] / 256) ** gamma * noise * (0.1 if gd else 1)
        return dict(relative_change=change.tolist(), test_error=(0.1 + 0.01 * noise).tolist(),
                    t_star=(10 * noise).tolist(), fitted=[True] * params["n_seeds"], diverged=False, wall_s=0.0)

    return train_point


SMALL = dict(alphas=(0.1, 1000.0), temperatures=(0.005, 0.01, 0.02), sizes=(64, 128, 256, 512, 1024))


@pytest.mark.parametrize("gamma, verdict", [
    (0.3, "CONFIRMED"),      # T_c ∝ P^(-0.3): a > 0 established, a = 0 rejected
    (0.0, "INCONCLUSIVE"),   # T_c independent of P: a = 0 kept
    (-0.3, "REFUTED"),       # T_c grows with P: a > 0 contradicted
])
def test_the_verdict_judges_the_T_c_exponent(monkeypatch, tmp_path, gamma, verdict):
    monkeypatch.setattr(network, "train_point", _fake_point(gamma))
    result = get_check("perceptron.network_phases")(**SMALL)
    assert result.verdict == verdict, result.table()
    lazy, exponent = result.rows
    assert lazy.rule == exponent.rule == "above" and lazy.holds()
    assert exponent.measured == pytest.approx(gamma, abs=0.03)  # a = gamma/delta with delta = 1
    # no effect of T, GD as SGD, a = 0 (kept only when flat), the perceptron's a = 1 and a = 1/2
    assert [m.rejected for m in result.mutants] == [True, True, verdict != "INCONCLUSIVE", True, True]
    assert any("a = 1/(1+chi) = 1 (chi=0)" in n for n in result.notes)  # the perceptron's exponent, beside
    (path,) = _figures.network_phases(result, tmp_path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_lazy_network_whose_weights_ignore_T_is_not_confirmed(monkeypatch):
    monkeypatch.setattr(network, "train_point", _fake_point(0.3, flat_at=1000.0))
    result = get_check("perceptron.network_phases")(**dict(SMALL, alpha_c=100.0))
    assert result.verdict != "CONFIRMED" and not result.rows[0].holds(), result.table()
    assert not result.mutants[0].rejected
