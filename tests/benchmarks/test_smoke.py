"""``python -m benchmarks --smoke`` runs every section (peers that are not installed are skipped with a note).
Speed itself is measured by the benchmarks, never asserted here: a wall-clock bound failed on a loaded CI
machine (37 s with a cold numba cache); the subprocess timeout only guards against a hang."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_smoke_run_prints_every_section_and_peer():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for heading in ("### small", "### medium", "### exact discrete stationary covariance", "### SDE ensemble",
                    "sgdnoise latex", "### replica-steps/s vs R", "### 1 vs 2 workers", "### network engine"):
        assert heading in out, heading
    from benchmarks.peers import PEERS

    for peer in PEERS:
        assert f"peer: {peer.NAME}" in out
        if peer.MISSING:
            assert peer.MISSING in out
