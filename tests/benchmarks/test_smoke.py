"""``python -m benchmarks --smoke`` runs every section (peers that are not installed are skipped with a note)
and finishes in < 30 s. Speed itself is measured by the benchmarks, never asserted here."""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_smoke_run_prints_every_section_and_peer():
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for heading in ("### small", "### medium", "### exact discrete stationary covariance", "### SDE ensemble",
                    "sgdnoise latex", "### replica-steps/s vs R", "### 1 vs 2 workers"):
        assert heading in out, heading
    from benchmarks.peers import PEERS

    for peer in PEERS:
        assert f"peer: {peer.NAME}" in out
        if peer.MISSING:
            assert peer.MISSING in out
    assert elapsed < 30, f"smoke run took {elapsed:.1f} s"
