"""sgdnoise's numeric half: lambdified predictions, replica SGD, SDE ensembles, statistics and checks.

Layers (ARCHITECTURE.md), each a folder importing only downwards: :mod:`numerics.engine` (replica SGD, SDE
ensembles, seeds, run caps), :mod:`numerics.models` (model families and their numeric predictions),
:mod:`numerics.verify` (predictions from registered derivations, comparisons, verdicts),
:mod:`numerics.checks` (the registered checks), :mod:`numerics.run` (sweeps, report, command line);
:mod:`numerics.stats` and :mod:`numerics.errors` underneath all of them, :mod:`numerics.testing` for users'
test suites.

The names below are the short public surface, loaded on first use so that ``import numerics`` stays cheap.
"""

import importlib

_PUBLIC = {
    "run_sgd": "numerics.engine.sgd",
    "MomentObserver": "numerics.engine.replicas",
    "TrajectoryObserver": "numerics.engine.replicas",
    "integrate": "numerics.engine.sde",
    "compile_sde": "numerics.engine.sde",
    "LeastSquares": "numerics.models.base",
    "Check": "numerics.verify.check",
    "CheckResult": "numerics.verify.check",
    "Comparison": "numerics.verify.check",
    "get_check": "numerics.verify.check",
    "check_names": "numerics.verify.check",
    "compile_model": "numerics.verify.user_model",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'numerics' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
