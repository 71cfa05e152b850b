"""``sgdnoise latex`` over every registered derivation, as a fresh process (imports included)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

from .timing import table


def run(smoke: bool = False, repeats: int = 2) -> str:
    head = "### `sgdnoise latex` (all derivations, fresh process; target < 30 s)\n\n"
    if smoke:
        return head + "skipped in --smoke (it builds every derivation)\n"
    rows = []
    for i in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "numerics.run.cli", "latex", "-o", out],
                                  capture_output=True, text=True)
            rows.append([i + 1, f"{time.perf_counter() - t0:.1f}", "ok" if proc.returncode == 0 else
                         f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"])
    return head + table(["run", "seconds", "status"], rows) + "\n"
