"""fluct.ivfr_network: the trained networks and the check at tiny settings (seconds), reproducible; a window that
starts at initialisation (the loss still falling) fails the stationarity gate and leaves ψ unjudged; the verdict
and the mutants judged on synthetic measurements (no training): inverse, equilibrium and undecided ψ on a stationary
window, and each half of the gate failing; the figure hook draws from the result alone."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("jax")

from numerics.checks import _figures, get_check  # noqa: E402
from numerics.checks.fluct import network  # noqa: E402
from numerics.errors import ParameterError  # noqa: E402
from numerics.stats import Estimate, replica_mean  # noqa: E402
from numerics.verify import CheckResult  # noqa: E402

TINY = dict(dataset="teacher", n_train=200, hidden=4, loss="mse", eta=0.1, batch_size=10, n_replicas=8, burn_in=300,
            window=600, record_every=20, n_directions=4, max_drift_fraction=0.2, n_bootstrap=100)


def test_training_is_reproducible_and_the_networks_independent():
    split = network._load("teacher", 200, 0)
    params = dict(TINY, n_replicas=3)
    net, run = network.train_windows(split, params, 0)
    assert run.trajectory.shape == (3, 31, net.n_params) and run.steps[-1] == 600
    assert not np.allclose(run.trajectory[0], run.trajectory[1])
    _, again = network.train_windows(split, params, 0)
    np.testing.assert_array_equal(again.trajectory, run.trajectory)


def test_a_window_from_initialisation_fails_the_gate_and_psi_is_not_judged(tmp_path):
    result = get_check("fluct.ivfr_network")(**dict(TINY, burn_in=0))
    (row,) = result.rows
    assert result.verdict == "INCONCLUSIVE" and row.rule == "unmet", result.table()
    gate = next(n for n in result.notes if n.startswith("stationarity gate"))
    assert "FAILED" in gate
    text = json.dumps(result.to_json())
    assert json.dumps(CheckResult.from_json(json.loads(text)).to_json()) == text
    (path,) = _figures.ivfr_network(result, tmp_path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_check_is_reproducible_at_tiny_settings():
    check = get_check("fluct.ivfr_network")
    a, b = check(**TINY), check(**TINY)
    assert [(r.measured, r.stderr) for r in a.rows] == [(r.measured, r.stderr) for r in b.rows]
    assert a.notes[1:4] == b.notes[1:4] and len(a.mutants) == 2


def _fake(monkeypatch, psi_values, loss_change, drift):
    """The check on synthetic measurements: ``n_replicas`` networks with per-network ψ ``psi_values``, the loss
    change between the window's halves ``loss_change`` and the drift fractions ``drift``."""
    from numerics.models import network as engine

    R = len(psi_values)
    split = SimpleNamespace(X=np.zeros((4, 2)), y=np.zeros(4, int), X_test=np.zeros((4, 2)), y_test=np.zeros(4, int),
                            description="synthetic")
    net = SimpleNamespace(n_params=6, samples=lambda X, y: None, accuracy=lambda w, samples: 1.0)
    run = SimpleNamespace(trajectory=np.zeros((R, 3, 6)), replica=lambda r: None)
    monkeypatch.setattr(network, "_load", lambda name, n_train, seed: split)
    monkeypatch.setattr(network, "train_windows", lambda split, params, seed: (net, run))
    F = np.geomspace(1, 2, 4)

    def variance_flatness(net, run, X, y, **kwargs):
        psi = np.asarray(psi_values, dtype=float)
        return SimpleNamespace(psi_replicas=psi, loss_trend=replica_mean(np.asarray(loss_change, dtype=float)),
                               drift=np.asarray(drift, dtype=float), variances=np.outer(np.ones(R), F ** -2.0),
                               flatness=np.outer(np.ones(R), F), loss0=np.full(R, 0.1), psi_interval=(0.0, 1.0),
                               relation="synthetic", window=(1, 2), n_samples=2, psi=Estimate(psi.mean(), 0.1))

    monkeypatch.setattr(engine, "variance_flatness", variance_flatness)


SCATTER = np.linspace(-1, 1, 8)  # the networks' spread about the mean; 0.3 * SCATTER: sd 0.21, stderr of the mean 0.074


@pytest.mark.parametrize("psi, loss_change, drift, verdict, rule, equilibrium_rejected", [
    (3.0 + 0.3 * SCATTER, 0.01 * SCATTER, 0.05, "CONFIRMED", "above", True),        # inverse, far from -2 and 0
    (-2.0 + 0.3 * SCATTER, 0.01 * SCATTER, 0.05, "REFUTED", "above", False),        # the equilibrium sign
    (0.3 + 0.3 * SCATTER, 0.01 * SCATTER, 0.05, "INCONCLUSIVE", "above", True),     # undecided sign
    (-2.9 + 0.3 * SCATTER, -1.0 + 0.01 * SCATTER, 0.05, "INCONCLUSIVE", "unmet", True),   # the loss still falls
    (-2.9 + 0.3 * SCATTER, 0.01 * SCATTER, 0.7, "INCONCLUSIVE", "unmet", True),     # a wandering top direction
])
def test_the_verdict_needs_a_stationary_window_and_an_inverse_relation(monkeypatch, tmp_path, psi, loss_change, drift,
                                                                       verdict, rule, equilibrium_rejected):
    _fake(monkeypatch, psi, loss_change, np.full(8, drift))
    result = get_check("fluct.ivfr_network")(**TINY)
    (row,) = result.rows
    assert result.verdict == verdict and row.rule == rule, result.table()
    equilibrium = next(m for m in result.mutants if m.description.startswith("equilibrium"))
    assert equilibrium.rejected == equilibrium_rejected and "psi = -2" in equilibrium.description
    assert row.measured == pytest.approx(np.mean(psi)) and row.stderr == pytest.approx(replica_mean(psi).stderr)
    (path,) = _figures.ivfr_network(result, tmp_path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_check_refuses_bad_parameters():
    check = get_check("fluct.ivfr_network")
    with pytest.raises(ParameterError, match=">= 8"):
        check(**dict(TINY, n_replicas=7))
    with pytest.raises(ParameterError, match="max_drift_fraction"):
        check(**dict(TINY, max_drift_fraction=1.5))
    with pytest.raises(ParameterError, match="dataset"):
        network._load("cifar", 100, 0)
