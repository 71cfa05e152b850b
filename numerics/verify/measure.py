"""Monte Carlo measurements built on the replica engine, shared by several checks.

A measurement runs SGD on a model (:mod:`numerics.engine.sgd`, :mod:`numerics.models`) and returns an estimate with its
standard error (:mod:`numerics.stats`); checks compare such estimates with their derivations' predictions.
"""

from __future__ import annotations

import numpy as np

from numerics.engine.data import Dataset
from numerics.models.linreg import hessian, least_squares_solution
from numerics.models import LeastSquares
from numerics.engine.sgd import MomentObserver, run_sgd
from numerics.stats import Estimate, replica_mean


def measure_stationary_covariance(X, y, *, eta, batch_size, sampling, n_replicas, burn_in_relaxations,
                                  measure_relaxations, seed) -> Estimate:
    """Monte Carlo E[δδᵀ] (upper triangle) of SGD started at ŵ.

    Burn-in and measurement lengths are given in relaxation times 1/(η λ_min(H)) of the slowest mode, so
    that the initial transient (which decays like exp(−2ηλ_min k)) is negligible whatever the data. The
    estimate is the mean ± standard error over independent replicas of per-replica time averages (no
    autocorrelation model needed).
    """
    w_hat = least_squares_solution(X, y)
    n = X.shape[1]
    iu = np.triu_indices(n)
    relaxation = 1.0 / (eta * np.linalg.eigvalsh(hessian(X))[0])
    burn_in = int(np.ceil(burn_in_relaxations * relaxation))
    n_steps = max(int(np.ceil(measure_relaxations * relaxation)), 64)

    def features(w):
        d = w - w_hat
        return (d[:, :, None] * d[:, None, :])[:, iu[0], iu[1]]

    obs = MomentObserver(features, burn_in=burn_in, n_batches=16)
    run_sgd(LeastSquares(n), Dataset(X, y), eta=eta, batch_size=batch_size, n_steps=burn_in + n_steps,
            n_replicas=n_replicas, sampling=sampling, w0=w_hat, seed=seed, observers=[obs])
    return replica_mean(obs.replica_means)
