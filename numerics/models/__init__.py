"""Models for the replica SGD engine: the :class:`Model` protocol and the least-squares model (re-exported from
:mod:`.base`), and one module per model family (``linreg``, ``deep_linear``, ``two_layer``, ``mlp``,
``perceptron``) with its numeric predictions and analysis (``noise_curvature``, ``perceptron_phases``); the
package ``network`` is the JAX engine for a user's own network (not imported here: it needs the ``network``
extra)."""

from numerics.models.base import LeastSquares, Model

__all__ = ["LeastSquares", "Model"]
