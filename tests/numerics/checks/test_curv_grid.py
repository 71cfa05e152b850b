"""curv.gamma_grid: one cell trains and measures at tiny settings (seconds); the grid's rows, mutants and verdict
judged on synthetic per-network γ (no training): a cell inside the band, one below it, one undecided at its edge;
the figure hook draws the grid from the result alone."""

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("jax")

from numerics.checks import _figures, get_check  # noqa: E402
from numerics.checks.curv import grid  # noqa: E402
from numerics.data import digits  # noqa: E402
from numerics.errors import ParameterError  # noqa: E402

TINY = dict(hidden=4, channels=2, eta=0.1, batch_size=20, n_steps=15, clip_norm=5.0, n_seeds=3, top_fraction=0.6,
            n_resamples=100, min_train_accuracy=0.99)


@pytest.mark.parametrize("loss, architecture, dataset", [("ce", "mlp2", "digits"), ("softmax_mse", "mlp3", "digits"),
                                                         ("mse", "cnn", "digits"), ("ce", "cnn", "mnist1d")])
def test_a_cell_trains_independent_networks_and_fits_gamma(loss, architecture, dataset):
    split = grid._load(dataset, 60, 0)
    runs = grid.cell_runs(loss, architecture, dataset, split, TINY, 0)
    assert len(runs) == 3
    gammas = [r["gamma"].exponent for r in runs]
    assert np.all(np.isfinite(gammas)) and len(set(gammas)) == 3  # independent initialisations and minibatches
    assert all(0 <= r["accuracy"] <= 1 and 0 <= r["train_accuracy"] <= 1 and r["train_loss"] > 0 for r in runs)
    assert all(set(r["gamma_window"]) == set(grid.WINDOWS) and np.all(np.isfinite(list(r["gamma_window"].values())))
               for r in runs)
    again = grid.cell_runs(loss, architecture, dataset, split, TINY, 0)
    assert [r["gamma"].exponent for r in again] == gammas


EVERY_CELL = dict(losses=("ce", "softmax_mse", "mse"), architectures=grid.ARCHITECTURES)  # the full grid's 18 cells


def _fake_cells(gamma_of_cell, fitted=lambda loss, arch, data: 1.0):
    """A cell_runs stand-in: n_seeds networks whose γ scatter (sd 0.01) about ``gamma_of_cell(loss, arch, data)``,
    each fitting the fraction ``fitted(loss, arch, data)`` of its training set."""
    rng = np.random.default_rng(0)

    def runs(loss, architecture, dataset, split, params, seed):
        g = gamma_of_cell(loss, architecture, dataset)
        fit = lambda v: SimpleNamespace(exponent=v, exponent_interval=(v - 0.05, v + 0.05))  # noqa: E731
        return [dict(gamma=fit(g + 0.01 * e), gamma_Eh2=fit(1.2), gamma_window={f: g for f in grid.WINDOWS},
                     train_loss=0.1,
                     train_accuracy=fitted(loss, architecture, dataset), accuracy=0.9)
                for e in rng.standard_normal(params["n_seeds"])]
    return runs


@pytest.mark.parametrize("gamma_of_cell, verdict", [
    (lambda loss, arch, data: 1.5, "CONFIRMED"),                             # every cell inside, both mutants out
    (lambda loss, arch, data: 0.8 if loss == "softmax_mse" else 1.5, "REFUTED"),   # one loss below the band
    (lambda loss, arch, data: 0.8 if loss == "mse" else 1.5, "CONFIRMED"),   # linear MSE: beside the claim
    (lambda loss, arch, data: 1.005 if arch == "mlp3" else 1.5, "INCONCLUSIVE"),   # at the edge: gamma = 1 kept
])
def test_the_grid_judges_every_cell(monkeypatch, tmp_path, gamma_of_cell, verdict):
    monkeypatch.setattr(grid, "_load", lambda name, n_train, seed: SimpleNamespace(description=name))
    monkeypatch.setattr(grid, "cell_runs", _fake_cells(gamma_of_cell))
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
    monkeypatch.setattr(grid, "cell_runs", _fake_cells(lambda *cell: 0.5 if untrained(*cell) else 1.5,
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
        grid.cell_runs("ce", "resnet", "digits", digits(60, 30, n_classes=3), TINY, 0)
