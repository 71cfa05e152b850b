"""The one registry implementation: lazy by prefix, every name listed, close matches for unknown names."""

import subprocess
import sys

import pytest

from derivations.errors import UnknownNameError
from derivations.registry import Registry


def _loaded_after(code: str) -> set[str]:
    probe = code + "; import sys; print(' '.join(m for m in sys.modules if m.startswith(('derivations.', 'numerics.checks'))))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_get_imports_only_the_module_of_the_prefix():
    loaded = _loaded_after("import derivations; derivations.get('linreg.noise_covariance')")
    assert "derivations.linreg" in loaded and not {"derivations.fluct", "derivations.curv", "derivations.dln"} & loaded
    loaded = _loaded_after("from numerics.checks import get_check; get_check('linreg.stationary_covariance')")
    assert "numerics.checks.linreg" in loaded
    assert not {"numerics.checks.fluct", "numerics.checks.curv", "numerics.checks.perceptron"} & loaded


def test_unknown_names_suggest_close_matches_and_duplicates_are_refused():
    import derivations
    from numerics.checks import get_check

    with pytest.raises(UnknownNameError, match="linreg.noise_covariance"):
        derivations.get("linreg.noise_covarience")
    with pytest.raises(UnknownNameError, match="dln.mode_sde"):
        get_check("dln.mode_sd")
    registry = Registry("thing", "derivations")
    registry.add("a.b", 1)
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("a.b", 2)
