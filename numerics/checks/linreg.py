"""Checks of the least-squares derivations against direct Monte Carlo SGD."""

from __future__ import annotations

import numpy as np

from derivations.conventions import Z_THRESHOLD as Z
from numerics.verify import Check, Comparison, comparison_result, register_check
from numerics.engine.data import gaussian_teacher
from numerics.errors import ParameterError
from numerics.models.linreg import hessian, max_stable_eta, minibatch_scale, noise_covariance
from numerics.verify.measure import measure_stationary_covariance
from numerics.verify.predict import stationary_covariances


def _upper(n: int):
    return np.triu_indices(n)


def _names(prefix: str, n: int) -> list[str]:
    iu = _upper(n)
    return [f"{prefix}S[{i},{j}]" for i, j in zip(*iu)]


def _data(params, seed):
    teacher = gaussian_teacher(params["n_features"], params["noise_std"], seed=seed)
    return teacher.dataset(params["n_samples"], seed=seed + 1)


def _run_discrete(params: dict, seed: int):
    ds = _data(params, seed)
    X, y = ds.X, ds.y
    n = X.shape[1]
    iu = _upper(n)
    names, pred, meas, err, wrong = [], [], [], [], []
    # η as a fraction of the data's own stability bound: near the bound the stationary law of SGD has
    # heavy (power-law) tails, its fourth moment diverges and no standard error can be trusted.
    if not 0 < params["eta_fraction"] < 1:
        raise ParameterError(f"eta_fraction must lie in (0, 1) (a fraction of the stability bound), got {params['eta_fraction']}")
    eta = params["eta_fraction"] * max_stable_eta(X, params["batch_size"], "with_replacement")
    for k, sampling in enumerate(("with_replacement", "without_replacement")):
        exact, continuum = stationary_covariances(X, y, eta, params["batch_size"], sampling)
        est = measure_stationary_covariance(X, y, eta=eta, batch_size=params["batch_size"], sampling=sampling,
                                            n_replicas=params["n_replicas"], burn_in_relaxations=params["burn_in_relaxations"],
                                            measure_relaxations=params["measure_relaxations"], seed=seed + 10 + k)
        tag = "wr " if sampling == "with_replacement" else "wor "
        names += _names(tag, n)
        pred.append(exact[iu]); meas.append(est.value); err.append(est.stderr); wrong.append(continuum[iu])
    cmp = Comparison.make(names, np.concatenate(pred), np.concatenate(meas), np.concatenate(err), np.concatenate(wrong),
                          "continuum Lyapunov covariance (drops the O(eta) discrete-time terms)", z=Z)
    notes = [f"eta = {eta:.4g}, eta * lambda_max(H) = {eta * np.linalg.eigvalsh(hessian(X))[-1]:.3f}; "
             "wr = with replacement, wor = without replacement"]
    return comparison_result("linreg.discrete_stationary_covariance", params, seed, cmp,
                             f"|z| <= {Z:g} (exact theory: no relative floor); stderr over independent replicas", notes)


register_check(Check(
    name="linreg.discrete_stationary_covariance",
    derivation="linreg.discrete_stationary_covariance",
    description="exact discrete stationary covariance of SGD on least squares vs Monte Carlo (with/without replacement)",
    run=_run_discrete,
    quick=dict(n_features=3, n_samples=10, noise_std=0.5, eta_fraction=0.4, batch_size=2, n_replicas=2048,
               burn_in_relaxations=10.0, measure_relaxations=40.0),
    full=dict(n_features=6, n_samples=20, noise_std=0.5, eta_fraction=0.4, batch_size=2, n_replicas=16384,
              burn_in_relaxations=15.0, measure_relaxations=400.0),
))


def _run_continuum(params: dict, seed: int):
    ds = _data(params, seed)
    X, y = ds.X, ds.y
    n = X.shape[1]
    iu = _upper(n)
    eta, B, sampling = params["eta"], params["batch_size"], "with_replacement"
    H = hessian(X)
    lam_max = np.linalg.eigvalsh(H)[-1]
    continuum = stationary_covariances(X, y, eta, B, sampling)[1]
    # The classic wrong assumption C ∝ H (with the constant matched in trace) gives an isotropic Σ.
    C_star = noise_covariance(X, y)
    c = np.trace(C_star) / np.trace(H)
    kappa = minibatch_scale(B, sampling, X.shape[0])
    isotropic = eta * kappa * c / 2 * np.eye(n)
    est = measure_stationary_covariance(X, y, eta=eta, batch_size=B, sampling=sampling, n_replicas=params["n_replicas"],
                                        burn_in_relaxations=params["burn_in_relaxations"],
                                        measure_relaxations=params["measure_relaxations"], seed=seed + 10)
    # Size of the leading O(η) correction (exact for isotropic online data, where it is
    # η(λ + κ(tr H + λ))/2 relative: discreteness plus the state dependence of the noise), times floor_factor.
    floor = params["floor_factor"] * eta * (lam_max + kappa * (np.trace(H) + lam_max)) / 2
    cmp = Comparison.make(_names("", n), continuum[iu], est.value, est.stderr, isotropic[iu],
                          "noise proportional to the Hessian, C = cH (isotropic Sigma)", z=Z, rel_floor=floor)
    return comparison_result(
        "linreg.stationary_covariance", params, seed, cmp,
        f"|z| <= {Z:g}, or within a relative floor {floor:.3g} of max|Sigma| = {params['floor_factor']:g} x the leading "
        "O(eta) correction eta(lambda_max + kappa(tr H + lambda_max))/2 of the continuum limit")


register_check(Check(
    name="linreg.stationary_covariance",
    derivation="linreg.stationary_covariance",
    description="continuum (Lyapunov) stationary covariance vs Monte Carlo SGD at small learning rate",
    run=_run_continuum,
    quick=dict(n_features=3, n_samples=12, noise_std=0.5, eta=0.02, batch_size=1, n_replicas=2048,
               burn_in_relaxations=10.0, measure_relaxations=10.0, floor_factor=2.0),
    full=dict(n_features=5, n_samples=12, noise_std=0.5, eta=0.01, batch_size=1, n_replicas=8192,
              burn_in_relaxations=15.0, measure_relaxations=100.0, floor_factor=2.0),
))
