"""curv.gamma_grid: one cell trains and measures at tiny settings (seconds); the grid's rows, mutants and verdict
judged on synthetic per-network γ (no training): a cell inside the band, one below it, one undecided at its edge;
the figure hook draws the grid from the result alone."""

from types import SimpleNamespace

import json

import numpy as np
import pytest

pytest.importorskip("jax")

from numerics.checks import _figures, get_check  # noqa: E402
from numerics.checks.curv import grid  # noqa: E402
from numerics.errors import ParameterError  # noqa: E402

TINY = dict(hidden=4, channels=2, eta=0.1, batch_size=20, n_steps=15, clip_norm=5.0, n_seeds=3, top_fraction=0.6,
            n_resamples=100)


@pytest.mark.parametrize("loss, architecture, dataset", [("ce", "mlp2", "digits"), ("softmax_mse", "mlp3", "digits"),
                                                         ("mse", "cnn", "digits"), ("ce", "cnn", "mnist1d")])
def test_a_cell_trains_independent_networks_and_fits_gamma(loss, architecture, dataset):
    params = dict(TINY, loss=loss, architecture=architecture, dataset=dataset, data_seed=0, n_train=60)
    res = grid.cell_task(params, 0)
    gammas = res["gamma"]
    assert len(gammas) == 3 and np.all(np.isfinite(gammas)) and len(set(gammas)) == 3  # independent networks
    assert all(0 <= a <= 1 for a in res["accuracy"] + res["train_accuracy"]) and min(res["train_loss"]) > 0
    assert all(set(w) == {str(f) for f in grid.WINDOWS} and np.all(np.isfinite(list(w.values())))
               for w in res["gamma_window"])
    assert json.loads(json.dumps(res)) == res  # plain numbers, as a sweep stores them
    assert grid.cell_task(params, 0)["gamma"] == gammas


EVERY_CELL = dict(losses=("ce", "softmax_mse", "mse"), architectures=grid.ARCHITECTURES)  # the full grid's 18 cells


def _fake_cells(gamma_of_cell, fitted=lambda loss, arch, data: 1.0):
    """A cell_task stand-in: n_seeds networks whose γ scatter (sd 0.01) about ``gamma_of_cell(loss, arch, data)``,
    each fitting the fraction ``fitted(loss, arch, data)`` of its training set."""
    rng = np.random.default_rng(0)

    def task(params, seed):
        cell = (params["loss"], params["architecture"], params["dataset"])
        g = gamma_of_cell(*cell) + 0.01 * rng.standard_normal(params["n_seeds"])
        n = params["n_seeds"]
        return dict(gamma=g.tolist(), gamma_interval=[[v - 0.05, v + 0.05] for v in g], gamma_Eh2=[1.2] * n,
                    gamma_window=[{str(f): v for f in grid.WINDOWS} for v in g], train_loss=[0.1] * n,
                    train_accuracy=[fitted(*cell)] * n, accuracy=[0.9] * n, wall_s=0.0)
    return task


@pytest.mark.parametrize("gamma_of_cell, verdict", [
    (lambda loss, arch, data: 1.5, "CONFIRMED"),                             # every cell inside, both mutants out
    (lambda loss, arch, data: 0.8 if loss == "softmax_mse" else 1.5, "REFUTED"),   # one loss below the band
    (lambda loss, arch, data: 0.8 if loss == "mse" else 1.5, "CONFIRMED"),   # linear MSE: beside the claim
    (lambda loss, arch, data: 1.005 if arch == "mlp3" else 1.5, "INCONCLUSIVE"),   # at the edge: gamma = 1 kept
])
def test_the_grid_judges_every_cell(monkeypatch, tmp_path, gamma_of_cell, verdict):
    monkeypatch.setattr(grid, "_load", lambda name, n_train, seed: SimpleNamespace(description=name))
    monkeypatch.setattr(grid, "cell_task", _fake_cells(gamma_of_cell))
    result = get_check("curv.gamma_grid")(n_seeds=8, **EVERY_CELL)
    assert result.verdict == verdict, result.table()
    assert len(result.rows) == 18 and all(r.rule == ("beside" if r.quantity.startswith("gamma_C mse") else "above")
                                          or r.rule == "below" for r in result.rows)
    assert len(result.mutants) == 24 and not any(" mse " in m.description for m in result.mutants)
    edge = [m for m in result.mutants if not m.rejected]
    assert all("gamma = 1" in m.description and "mlp3" in m.description for m in edge) and \
        bool(edge) == (verdict == "INCONCLUSIVE")
    (path,) = _figures.gamma_grid(result, tmp_path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_cell_of_untrained_networks_is_reported_not_judged(monkeypatch):
    """γ far below the band in cells whose networks fit 60 % of their training sets: the rows are 'unmet', their
    mutants not rejected, and the verdict INCONCLUSIVE, not REFUTED (the claim is about trained networks)."""
    untrained = lambda loss, arch, data: data == "mnist1d"  # noqa: E731
    monkeypatch.setattr(grid, "_load", lambda name, n_train, seed: SimpleNamespace(description=name))
    monkeypatch.setattr(grid, "cell_task", _fake_cells(lambda *cell: 0.5 if untrained(*cell) else 1.5,
                                                       lambda *cell: 0.6 if untrained(*cell) else 1.0))
    result = get_check("curv.gamma_grid")(n_seeds=8, **EVERY_CELL)
    assert result.verdict == "INCONCLUSIVE", result.table()
    unmet = [r for r in result.rows if r.rule == "unmet"]
    assert len(unmet) == 6 and all("mnist1d" in r.quantity and r.status() == "undecided" for r in unmet)
    assert all(m.rejected == ("digits" in m.description) for m in result.mutants)
    assert sum("a network fits less than 99%" in n for n in result.notes) == 9
    assert "precondition not met" in result.table()


def test_the_grid_refuses_bad_parameters():
    with pytest.raises(ParameterError, match=">= 8"):
        get_check("curv.gamma_grid")(n_seeds=7)
    with pytest.raises(ParameterError, match="loss"):
        get_check("curv.gamma_grid")(losses=("hinge",))
    with pytest.raises(ParameterError, match="min_train_accuracy"):
        get_check("curv.gamma_grid")(min_train_accuracy=99)
    with pytest.raises(ParameterError, match="architecture"):
        grid.cell_task(dict(TINY, loss="ce", architecture="resnet", dataset="digits", data_seed=0, n_train=60), 0)
    with pytest.raises(ParameterError, match="unknown"):
        grid.cell_task(dict(TINY, loss="ce", architecture="mlp2", dataset="digits", data_seed=0, n_train=60, x=1), 0)
