"""The least-squares checks predict through the registered derivations; the library's fast solvers agree."""

import numpy as np
import pytest

from numerics.verify.predict import stationary_covariances
from numerics.models.linreg import discrete_stationary_covariance, lyapunov_covariance


@pytest.mark.parametrize("sampling", ["with_replacement", "without_replacement"])
def test_library_solvers_solve_the_registered_equations(sampling):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((20, 6)), rng.standard_normal(20)
    exact, continuum = stationary_covariances(X, y, 0.05, 3, sampling)
    np.testing.assert_allclose(discrete_stationary_covariance(X, y, 0.05, 3, sampling), exact, rtol=1e-10, atol=0)
    np.testing.assert_allclose(lyapunov_covariance(X, y, 0.05, 3, sampling), continuum, rtol=1e-10, atol=0)
