"""Verification: predictions from registered derivations, Monte Carlo measurements, comparisons and verdicts.

:mod:`.check` holds :class:`Check`, :class:`Comparison`, :class:`CheckResult` and the check registry (re-exported
here); :mod:`.predict` lambdifies registered derivations; :mod:`.measure` holds measurements shared by checks;
:mod:`.user_model` runs a user's own sympy loss through the same path.
"""

from numerics.verify.check import (
    Check, CheckResult, Comparison, Mutant, Row, UNJUDGED, VERDICTS, check_names, comparison_result, dumps, get_check,
    register_check, resolving_power,
)

__all__ = ["Check", "CheckResult", "Comparison", "Mutant", "Row", "UNJUDGED", "VERDICTS", "check_names", "comparison_result",
           "dumps", "get_check", "register_check", "resolving_power"]
