"""Checks of seed 003 (``fluct.*``) on one- and two-layer linear networks: single-layer detailed balance
(``fluct.single_layer``) and the two-layer stationary covariances (``fluct.two_layer``).

All runs use the replica engine; stationary moments are per-replica time averages after a burn-in with
standard errors over independent replicas. Conventions as in ARCHITECTURE.md (Itô, t = ηk, L = mean over
samples, ℓ = ½‖f − y‖²).
"""

from __future__ import annotations

import numpy as np

from derivations.conventions import Z_THRESHOLD as Z
from numerics.verify import Check, CheckResult, Comparison, comparison_result, register_check
from numerics.checks import _figures
from numerics.engine.data import gaussian_teacher
from numerics.models.linreg import hessian, least_squares_solution, minibatch_scale, noise_covariance
from numerics.verify.measure import measure_stationary_covariance
from numerics.verify.predict import evaluate, solve_linear_matrix_equation, stationary_covariances
from numerics.models.noise_curvature import best_multiple_error, commutator_measure
from numerics.errors import ParameterError
from numerics.models import LeastSquares
from numerics.engine.rng import as_generator
from numerics.engine.replicas import SecondMomentObserver
from numerics.engine.sgd import Observer, run_sgd
from numerics.stats import Estimate, extrapolate_to_zero, replica_mean
from numerics.models.two_layer import TwoLayerLinear, linearised_covariance, noise_balanced_state, teacher_data


# --------------------------------------------------------------------------- single layer helpers
def leverage_noise_covariance(X, noise_std: float) -> np.ndarray:
    """Label-noise average of C(ŵ): E_ε C = σ²[H − (1/P) Σ_p h_p x_p x_pᵀ], h_p = x_pᵀ(XᵀX)⁻¹x_p
    (the registered ``fluct.single_layer``, evaluated at the data's H and leverage sum)."""
    X = np.asarray(X, dtype=float)
    h = np.einsum("pi,ij,pj->p", X, np.linalg.inv(X.T @ X), X)
    return evaluate("fluct.single_layer", {"sigma": noise_std, "H": hessian(X),
                                           r"\frac{1}{P}\sum_p h_p x_p x_p^T": (X * h[:, None]).T @ X / X.shape[0]})


class CurrentObserver(Observer):
    """Per-replica time average of the antisymmetric lag-one moment δ_{k+1}δ_kᵀ − δ_kδ_{k+1}ᵀ (entries i < j)
    after ``burn_in``, δ = w − ``center``. In a stationary state it is −η[H, S] for least-squares SGD: it
    vanishes iff the dynamics is time-reversible (detailed balance)."""

    def __init__(self, center, burn_in: int):
        self.center, self.burn_in = np.asarray(center, dtype=float), burn_in

    def allocate(self, n_replicas, n_params, n_steps):
        self._iu = np.triu_indices(n_params, 1)
        self._sums = np.zeros((n_replicas, self._iu[0].size))
        self._count = n_steps - self.burn_in

    def update(self, step, w, replicas):
        d = w - self.center
        if step > self.burn_in:
            lag = d[:, :, None] * self._prev[:, None, :]
            self._sums[replicas] += (lag - lag.transpose(0, 2, 1))[:, self._iu[0], self._iu[1]]
        self._prev = d

    @property
    def replica_means(self) -> np.ndarray:
        return self._sums / self._count


def combine_labelled(name: str, params: dict, seed: int, parts: list[tuple[Comparison, str]], tolerance: str,
                     notes: list[str]) -> CheckResult:
    """One result from labelled comparisons: each part's mutants must be rejected by that part's own data."""
    cmp = Comparison.combine([c for c, _ in parts], labels=[label for _, label in parts])
    return comparison_result(name, params, seed, cmp, tolerance, notes)


# --------------------------------------------------------------------------- check (1): single layer
def _run_single_layer(params: dict, seed: int) -> CheckResult:
    N, sigma = params["n_features"], params["noise_std"]
    rng = as_generator(seed)
    parts, notes = [], []
    # (a) label-noise average of C at several P/N: the leverage formula vs its large-P form σ²(1 − N/P)H
    names, pred, meas, err, wrong = [], [], [], [], []
    for ratio in params["ratios"]:
        P = int(round(ratio * N))
        if P <= N:  # at P <= N the residuals vanish: C = 0 exactly, a comparison of round-off
            raise ParameterError(f"P/N = {ratio:g} gives P = {P} <= N = {N}: the leverage formula needs P > N")
        X = rng.standard_normal((P, N))
        teacher = rng.standard_normal(N) / np.sqrt(N)
        draws = np.array([noise_covariance(X, X @ teacher + sigma * rng.standard_normal(P))
                          for _ in range(params["n_label_draws"])])
        est = replica_mean(draws)
        H, EC = hessian(X), leverage_noise_covariance(X, sigma)
        iu = np.triu_indices(N)
        names += [f"P/N={P / N:.2f} EC[{i},{j}]" for i, j in zip(*iu)]
        pred.append(EC[iu]); meas.append(est.value[iu]); err.append(est.stderr[iu])
        wrong.append((sigma ** 2 * (1 - N / P) * H)[iu])
        notes.append(f"P/N = {P / N:.2f}: ||[H,C]||/(|H||C|) predicted {commutator_measure(H, EC):.4f}, measured "
                     f"{commutator_measure(H, est.value):.4f}; ||C - cH||/|C| predicted {best_multiple_error(EC, H):.4f}, "
                     f"measured {best_multiple_error(est.value, H):.4f}")
    parts.append((Comparison.make(names, np.concatenate(pred), np.concatenate(meas), np.concatenate(err),
                                  {"large-P form C = sigma^2 (1 - N/P) H": np.concatenate(wrong)}, z=Z), "E C"))
    # (b) Monte Carlo at a weakly underparameterized P/N: Σ (exact discrete vs continuum) and the current
    P = int(round(params["mc_ratio"] * N))
    ds = gaussian_teacher(N, sigma, seed=seed).dataset(P, seed=seed + 1)
    X, y = ds.X, ds.y
    eta, B = params["eta"], params["batch_size"]
    exact, continuum = stationary_covariances(X, y, eta, B, "with_replacement")
    iu = np.triu_indices(N)
    est = measure_stationary_covariance(X, y, eta=eta, batch_size=B, sampling="with_replacement",
                                        n_replicas=params["n_replicas"], burn_in_relaxations=params["burn_in_relaxations"],
                                        measure_relaxations=params["measure_relaxations"], seed=seed + 10)
    parts.append((Comparison.make([f"S[{i},{j}]" for i, j in zip(*iu)], exact[iu], est.value, est.stderr,
                                  {"continuum Lyapunov Sigma (O(eta) off)": continuum[iu]}, z=Z), "Sigma"))
    w_hat, H = least_squares_solution(X, y), hessian(X)
    relaxation = 1.0 / (eta * np.linalg.eigvalsh(H)[0])  # slowest mode, in steps
    burn = int(np.ceil(params["burn_in_relaxations"] * relaxation))
    current = CurrentObserver(w_hat, burn)
    run_sgd(LeastSquares(N), ds, eta=eta, batch_size=B, n_steps=burn + int(np.ceil(params["measure_relaxations"] * relaxation)),
            n_replicas=params["n_replicas"], w0=w_hat, seed=seed + 20, observers=[current])
    cur = replica_mean(current.replica_means)
    predicted_current = -eta * (H @ exact - exact @ H)
    ju = np.triu_indices(N, 1)
    parts.append((Comparison.make([f"J[{i},{j}]" for i, j in zip(*ju)], predicted_current[ju], cur.value, cur.stderr,
                                  {"detailed balance: zero probability current": np.zeros(ju[0].size)}, z=Z), "current"))
    notes.append(f"MC at P/N = {P / N:.2f}: ||[H,C]||/(|H||C|) = {commutator_measure(H, noise_covariance(X, y)):.3f}, "
                 f"eta*lambda_max = {eta * np.linalg.eigvalsh(H)[-1]:.3f}; J = E[d_(k+1) d_k^T - d_k d_(k+1)^T] = -eta [H, S]")
    return combine_labelled("fluct.single_layer", params, seed, parts,
                            f"|z| <= {Z:g} (exact theories, stderr over independent label draws / replicas)", notes)


register_check(Check(
    name="fluct.single_layer",
    derivation="fluct.single_layer",
    description="single layer: leverage formula for E C vs P/N, exact stationary Sigma and the SGD probability current",
    run=_run_single_layer,
    figures=_figures.covariance_parity,
    quick=dict(n_features=4, ratios=(1.25, 2.0, 5.0, 20.0), noise_std=0.5, n_label_draws=2000, mc_ratio=1.5,
               eta=0.1, batch_size=1, n_replicas=1024, burn_in_relaxations=5.0, measure_relaxations=20.0),
    full=dict(n_features=8, ratios=(1.125, 1.25, 1.5, 2.0, 5.0, 10.0, 20.0), noise_std=0.5, n_label_draws=20000,
              mc_ratio=1.25, eta=0.05, batch_size=1, n_replicas=8192, burn_in_relaxations=6.0, measure_relaxations=100.0),
))


# --------------------------------------------------------------------------- check (2): two layer
def _two_layer_setup(params: dict, seed: int):
    n = params["width"]
    sv = np.geomspace(params["sv_min"], params["sv_max"], n)
    ds = teacher_data(n, n, params["n_samples"], params["noise_std"], singular_values=sv, seed=seed)
    model = TwoLayerLinear(n, n, n)
    return ds, model, noise_balanced_state(model, ds.X, ds.y)


def burn_in_steps(lin, eta: float, relaxations: float) -> int:
    """Steps for ``relaxations`` relaxation times of the slowest non-zero mode of H_θ at learning rate ``eta``."""
    lam = np.linalg.eigvalsh(lin.hessian)
    return int(np.ceil(relaxations / (eta * lam[lam > 1e-10 * lam[-1]][0])))


def _two_layer_covariance(model, ds, theta, lin, eta, B, params, seed, basis) -> tuple[Estimate, float]:
    """Monte Carlo E[δδᵀ] of SGD at the noise-balanced state θ projected onto span(``basis``) = range(H_θ), upper
    triangle, over independent replicas; and the share of tr E[δδᵀ] outside that range.

    Why projected: SGD keeps the exact hidden-rotation symmetry W₁ → QW₁, W₂ → W₂Qᵀ, along which each replica
    random-walks with no restoring force (the law-of-balance drift restores only the directions that change
    W₁W₁ᵀ − W₂ᵀW₂). That gauge drift has no stationary value, grows with the run length (∝ η² × steps) and is not
    polynomial in η, so it would bias the η → 0 extrapolation; the derivation's Σ_θ is defined on range(Jᵀ)."""
    burn = burn_in_steps(lin, eta, params["relaxations"])
    obs = SecondMomentObserver(theta, burn_in=burn, every=params["every"], n_batches=8)
    run_sgd(model, ds, eta=eta, batch_size=B, n_steps=burn + params["n_steps"], n_replicas=params["n_replicas"],
            w0=theta, seed=seed, observers=[obs])
    second = obs.second_moments()
    P = basis @ basis.T
    projected = P @ second @ P
    outside = 1.0 - np.trace(projected.mean(axis=0)) / np.trace(second.mean(axis=0))
    iu = np.triu_indices(model.n_params)
    return replica_mean(projected[:, iu[0], iu[1]]), float(outside)


def _run_two_layer(params: dict, seed: int) -> CheckResult:
    """The linearised Lyapunov Σ against SGD extrapolated to η → 0: Σ(η)/η on range(H_θ) (see
    :func:`_two_layer_covariance`) at η·(1, …, n_etas), a weighted polynomial in η (Richardson), whose intercept
    removes the O(η) discrete-time and O(δ²) ∝ O(η) nonlinear corrections of the linearised continuum theory."""
    ds, model, theta = _two_layer_setup(params, seed)
    eta, B = params["eta"], params["batch_size"]
    etas = eta * np.arange(1, params["n_etas"] + 1)
    lin = linearised_covariance(model, ds.X, ds.y, theta, eta, B)
    frozen = linearised_covariance(model, ds.X, ds.y, theta, eta, B, coupled=False)
    # the prediction: the registered linearised Lyapunov equation of fluct.two_layer on the range of J^T (= of H)
    lam, V = np.linalg.eigh(lin.hessian)
    basis = V[:, lam > 1e-10 * lam[-1]]
    predicted = solve_linear_matrix_equation(
        "fluct.two_layer", r"\Sigma_\theta",
        {r"H_\theta": lin.hessian, r"C_\theta": lin.noise, "T": eta * minibatch_scale(B, "with_replacement", ds.n_samples)},
        equation="linearised_lyapunov", basis=basis) / eta
    n = model.n_params
    iu = np.triu_indices(n)
    est, outside = zip(*(_two_layer_covariance(model, ds, theta, lin, e, B, params, seed + 10 + k, basis)
                         for k, e in enumerate(etas)))
    limit, chi2 = extrapolate_to_zero(etas, [Estimate(m.value / e, m.stderr / e) for m, e in zip(est, etas)],
                                      params["degree"])
    f = model.n_first
    layer = np.where(iu[1] < f, "W1", np.where(iu[0] >= f, "W2", "W1W2"))
    names = [f"{lay} eta->0 S[{i},{j}]/eta" for lay, i, j in zip(layer, *iu)]
    lam_max = np.linalg.eigvalsh(lin.hessian)[-1]
    mutants = {"no inter-layer coupling (each layer's Lyapunov equation with the other frozen)": frozen.full[iu] / eta,
               "linearised Sigma x 0.9": 0.9 * predicted[iu], "linearised Sigma x 1.1": 1.1 * predicted[iu]}
    cmp = Comparison.make(names, predicted[iu], limit.value, limit.stderr, mutants, z=Z)
    W1, W2 = model.unpack(theta)
    at_eta = max(abs(r) for r in np.ravel((est[0].value - eta * predicted[iu]) / est[0].stderr))
    notes = [f"late-time state: noise-balanced factorisation; singular values W1 {np.round(np.linalg.svd(W1, compute_uv=False), 3)}, "
             f"W2 {np.round(np.linalg.svd(W2, compute_uv=False), 3)}",
             f"eta = {', '.join(f'{e:g}' for e in etas)}; eta * lambda_max(H_theta) = {eta * lam_max:.3f} at the smallest; "
             f"at that eta alone, without extrapolation, max |z| = {at_eta:.1f}; chi2 of the fit per entry "
             f"(dof {len(etas) - params['degree'] - 1}): max {np.max(chi2):.2g}",
             f"measured E[dd^T] projected onto range(H_theta) ({basis.shape[1]} of {n} directions; the rest is the exact "
             "hidden-rotation symmetry, along which replicas drift freely): share of tr E[dd^T] outside it "
             + ", ".join(f"{100 * o:.2g} %" for o in outside) + " at eta = " + ", ".join(f"{e:g}" for e in etas)]
    return comparison_result("fluct.two_layer", params, seed, cmp,
                             f"|z| <= {Z:g}, no floor: Sigma(eta)/eta extrapolated to eta -> 0 (Richardson, polynomial of "
                             f"degree {params['degree']} through {len(etas)} learning rates; stderr over independent "
                             "replicas, propagated)", notes)


register_check(Check(
    name="fluct.two_layer",
    derivation="fluct.two_layer",
    description="two-layer linear net: per-layer and cross-layer stationary covariances vs the linearised theory",
    run=_run_two_layer,
    figures=_figures.covariance_parity,
    quick=dict(width=3, n_samples=60, noise_std=0.3, sv_min=0.4, sv_max=1.5, eta=0.01, n_etas=3, degree=1, batch_size=4,
               n_replicas=1024, relaxations=6.0, n_steps=1000, every=5),
    full=dict(width=4, n_samples=100, noise_std=0.3, sv_min=0.25, sv_max=1.5, eta=0.005, n_etas=3, degree=1, batch_size=4,
              n_replicas=4096, relaxations=8.0, n_steps=8000, every=5),
))
