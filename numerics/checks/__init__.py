"""The registered checks, one module per registry prefix (``linreg``, ``dln``, ``fluct``, ``curv``, ``perceptron``).

Each module defines its checks with :mod:`numerics.verify` and registers them on import; ``get_check(name)``
imports only the module of the name's prefix. See ARCHITECTURE.md.
"""

from numerics.verify import check_names, get_check

__all__ = ["check_names", "get_check"]
