"""Run-size caps (numerics.engine.limits) and progress bars (numerics.engine.progress) of the engines."""

import numpy as np
import pytest

from numerics.engine import limits, progress
from numerics.engine.data import Dataset
from numerics.models import LeastSquares
from numerics.engine.sde import compile_sde, integrate
from numerics.engine.sgd import MomentObserver, run_sgd


def _data():
    rng = np.random.default_rng(0)
    return Dataset(rng.standard_normal((8, 2)), rng.standard_normal(8))


def test_step_cap_is_stated_and_raised_by_the_environment(monkeypatch):
    with pytest.raises(limits.RunTooLargeError, match=r"cap of 1e\+07 steps.*SGDNOISE_MAX_STEPS=20000000"):
        run_sgd(LeastSquares(2), _data(), eta=0.01, batch_size=2, n_steps=20_000_000)
    monkeypatch.setenv("SGDNOISE_MAX_STEPS", "100")
    assert limits.max_steps() == 100
    with pytest.raises(limits.RunTooLargeError, match="cap of 100 steps"):
        run_sgd(LeastSquares(2), _data(), eta=0.01, batch_size=2, n_steps=101)
    run_sgd(LeastSquares(2), _data(), eta=0.01, batch_size=2, n_steps=100)


def test_memory_cap_counts_observers_before_running(monkeypatch):
    monkeypatch.setenv("SGDNOISE_MAX_MEMORY_GB", "0.001")  # 1 MiB
    run_sgd(LeastSquares(2), _data(), eta=0.01, batch_size=2, n_steps=100, n_replicas=1000)
    # 16 batches x 10_000 replicas x 3 features x 8 bytes = 3.7 MiB of observer sums
    obs = MomentObserver(lambda w: np.column_stack([w, w[:, :1]]), n_batches=16)
    with pytest.raises(limits.RunTooLargeError, match="memory cap"):
        run_sgd(LeastSquares(2), _data(), eta=0.01, batch_size=2, n_steps=100, n_replicas=10_000, observers=[obs])


def test_sde_ensemble_is_capped_too(monkeypatch):
    import sympy as sp

    from derivations import ItoSDE

    x = sp.Symbol("x", real=True)
    sde = compile_sde(ItoSDE([x], [-x], [[1]]), {})
    with pytest.raises(limits.RunTooLargeError, match="SDE ensemble"):
        integrate(sde, 0.0, 1.0, n_steps=10 ** 8, n_paths=10)
    with pytest.raises(limits.RunTooLargeError, match="memory cap"):
        integrate(sde, 0.0, 1.0, n_steps=10, n_paths=10 ** 12)


@pytest.mark.parametrize("value", ["abc", "-1", "0"])
def test_bad_environment_values_are_clear_errors(monkeypatch, value):
    monkeypatch.setenv("SGDNOISE_MAX_STEPS", value)
    with pytest.raises(limits.ParameterError, match="SGDNOISE_MAX_STEPS"):
        limits.max_steps()


def test_progress_bar_with_eta_once_a_run_outlasts_the_delay(monkeypatch, capsys):
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    run_sgd(LeastSquares(2), _data(), eta=0.01, batch_size=2, n_steps=200, progress=True)
    err = capsys.readouterr().err
    assert "SGD eta=0.01" in err and "<" in err  # tqdm's [elapsed<remaining]
    run_sgd(LeastSquares(2), _data(), eta=0.01, batch_size=2, n_steps=200)  # library default: quiet
    assert capsys.readouterr().err == ""
    progress.enable()
    try:
        run_sgd(LeastSquares(2), _data(), eta=0.01, batch_size=2, n_steps=200)
    finally:
        progress.enable(False)
    assert "SGD eta=0.01" in capsys.readouterr().err


def _square(params, seed):
    return params["x"] ** 2


def test_sweeps_and_mlp_training_show_progress_when_enabled(monkeypatch, capsys):
    from numerics.models.mlp import MLP, train_sgd
    from numerics.run.sweeps import sweep

    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    progress.enable()
    try:
        assert sweep("demo.sweep", _square, [{"x": 2}, {"x": 3}]) == [4, 9]
        rng = np.random.default_rng(0)
        train_sgd(MLP([3, 4, 2]), rng.standard_normal((8, 3)), rng.integers(0, 2, 8), eta=0.1, batch_size=4, n_epochs=3, seed=0)
    finally:
        progress.enable(False)
    err = capsys.readouterr().err
    assert "demo.sweep" in err and "task" in err and "MLP SGD" in err and "epoch" in err
