"""Every notebook (jupytext percent-format ``notebooks/*.py``) runs top to bottom as a plain script, at its fast
settings, with a non-interactive matplotlib backend and its figures written to a temporary directory."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks/*.py yet")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_as_a_script(notebook, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "SGDNOISE_FIGURES": str(tmp_path / "figures")}
    proc = subprocess.run([sys.executable, str(notebook)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"{notebook.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
