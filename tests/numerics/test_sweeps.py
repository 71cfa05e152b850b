"""Sweeps: bitwise-identical results on every executor, resuming after SIGINT/SIGTERM or a killed worker,
a foreign or corrupted store refused and left untouched, ``sgdnoise store info|clear``."""

import hashlib
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from numerics.run.cli import main
from numerics.engine.data import gaussian_teacher
from numerics.errors import ParameterError, SgdNoiseError
from numerics.models import LeastSquares
from numerics.engine.sgd import MomentObserver, run_sgd
from numerics.run.sweeps import (
    CheckFunction, DaskExecutor, ProcessExecutor, ResultStore, SerialExecutor, Task, canonical_json, make_executor,
    run_tasks, sweep, task_seed,
)

def sgd_task(params, seed):
    """A small pure task of (params, seed): replica SGD on least squares with its own data; final weights and
    per-replica moments (real numerics, randomness from the seed only)."""
    data = gaussian_teacher(params["n_features"], 0.5, seed=seed).dataset(params["n_samples"], seed=seed + 1)
    observer = MomentObserver(burn_in=20)
    run = run_sgd(LeastSquares(params["n_features"]), data, eta=params["eta"], batch_size=2, n_steps=60, n_replicas=32,
                  sampling=params["sampling"], seed=seed + 2, observers=[observer])
    return {"final": run.final, "replica_means": observer.replica_means}


GRID = [dict(n_features=3, n_samples=8, eta=eta, sampling=sampling)
        for eta in (0.1, 0.2) for sampling in ("with_replacement", "without_replacement")]


def _run_small_sweep(executor):
    with executor:
        return sweep("test.sgd", sgd_task, GRID, seed=11, executor=executor)


def _hex_floats(value):
    """Every float of a JSON value as float.hex, to compare bit for bit."""
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, dict):
        return {k: _hex_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hex_floats(v) for v in value]
    return value


@pytest.fixture(scope="module")
def serial_results():
    return _run_small_sweep(SerialExecutor())


def test_results_are_those_of_a_direct_call_bit_for_bit(serial_results):
    for i, (params, value) in enumerate(zip(GRID, serial_results)):
        direct = json.loads(canonical_json(sgd_task(params, task_seed(11, i))))
        assert _hex_floats(value) == _hex_floats(direct)
    assert len({canonical_json(v) for v in serial_results}) == len(GRID)


def test_two_local_workers_give_bitwise_identical_results(serial_results):
    assert _hex_floats(_run_small_sweep(ProcessExecutor(2))) == _hex_floats(serial_results)


def test_dask_local_cluster_gives_bitwise_identical_results(serial_results):
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("dask.distributed is not installed (optional extra: pip install 'sgdnoise[dask]')")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # dask workers cannot import this test module
    assert _hex_floats(_run_small_sweep(DaskExecutor(local_workers=2))) == _hex_floats(serial_results)


def test_dask_executor_without_distributed_is_a_clear_error():
    if importlib.util.find_spec("distributed") is not None:
        pytest.skip("dask.distributed is installed")
    with pytest.raises(SgdNoiseError, match=r"sgdnoise\[dask\]"):
        make_executor(dask_local=2)


def test_task_seeds_are_distinct_and_their_streams_uncorrelated():
    seeds = [task_seed(5, i) for i in range(50)]
    assert len(set(seeds)) == 50 and task_seed(5, 3) == seeds[3] and task_seed(6, 3) != seeds[3]
    n = 20_000
    a, b = (np.random.default_rng(s).standard_normal(n) for s in seeds[:2])
    r = np.corrcoef(a, b)[0, 1]
    assert abs(r) <= 5 / np.sqrt(n)  # |z| <= 5 for the sample correlation of independent streams (p ~ 6e-7)


def test_executor_options_are_validated():
    assert isinstance(make_executor(workers=1), SerialExecutor)
    assert isinstance(make_executor(), ProcessExecutor)
    with pytest.raises(ParameterError, match="at most one"):
        make_executor(workers=2, dask_local=2)
    with pytest.raises(ParameterError, match="workers"):
        ProcessExecutor(0)
    with pytest.raises(ParameterError, match="same"):
        run_tasks([Task("a", CheckFunction("x"), {}, 1)] * 2)


# --------------------------------------------------------------------------- resuming
SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import numpy as np
    from numerics.run.sweeps import ResultStore, SweepInterrupted, make_executor, sweep

    def task(params, seed):
        with open(os.environ["SWEEP_LOG"], "a") as log:      # one line per execution
            log.write(f"{params['i']}\\n")
        if params["i"] == int(os.environ.get("SWEEP_KILL_WORKER", "-1")) and not os.path.exists(os.environ["SWEEP_LOG"] + ".killed"):
            open(os.environ["SWEEP_LOG"] + ".killed", "w").close()
            os.kill(os.getpid(), signal.SIGKILL)             # the worker dies once
        time.sleep(params["sleep"])
        return {"i": params["i"], "x": np.random.default_rng(seed).standard_normal(3)}

    if __name__ == "__main__":
        store_path, workers, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        with ResultStore(store_path) as store, make_executor(workers=workers) as executor:
            try:
                sweep("demo", task, [{"i": i, "sleep": 0.3} for i in range(n)], seed=7, executor=executor, store=store)
            except SweepInterrupted as exc:
                print(f"interrupted {exc.done}/{exc.total}", flush=True)
                sys.exit(130)
""")
N_TASKS = 10


def _start(tmp_path, workers, **env):
    script = tmp_path / "sweep_script.py"
    script.write_text(SCRIPT)
    environ = {**os.environ, "SWEEP_LOG": str(tmp_path / "executions.log"), **env}
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "store.sqlite"), str(workers), str(N_TASKS)],
                            env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _executions(tmp_path):
    log = tmp_path / "executions.log"
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def _stored(tmp_path) -> dict:
    with ResultStore(tmp_path / "store.sqlite") as store:
        return {e["params"]["i"]: e for e in store.entries("demo")}


def _check_resumed(tmp_path, finished_before, executions_before):
    """Rerun to the end: no finished task runs again, every task is stored with its seed's value."""
    proc = _start(tmp_path, 2)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    rerun = _executions(tmp_path)[len(executions_before):]
    assert not set(rerun) & set(finished_before), "a finished task was computed again"
    stored = _stored(tmp_path)
    assert sorted(stored) == list(range(N_TASKS)) and sorted(rerun + list(finished_before)) == list(range(N_TASKS))
    for i, entry in stored.items():
        assert entry["seed"] == task_seed(7, i)
        assert entry["result"]["x"] == np.random.default_rng(task_seed(7, i)).standard_normal(3).tolist()


@pytest.mark.parametrize("signum,workers", [(signal.SIGTERM, 2), (signal.SIGINT, 1)],
                         ids=["SIGTERM-2-workers", "SIGINT-serial"])
def test_interrupted_sweep_resumes_without_recomputing(tmp_path, signum, workers):
    proc = _start(tmp_path, workers)
    deadline = time.monotonic() + 60
    while not ((tmp_path / "store.sqlite").exists() and len(_stored(tmp_path)) >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in out, out + err
    finished = set(_stored(tmp_path))
    assert 3 <= len(finished) < N_TASKS
    _check_resumed(tmp_path, finished, _executions(tmp_path))


def test_killed_worker_loses_only_its_task(tmp_path):
    proc = _start(tmp_path, 2, SWEEP_KILL_WORKER="4")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "task demo" in err and "failed" in err, out + err
    finished = set(_stored(tmp_path))
    assert 4 not in finished and len(finished) < N_TASKS
    _check_resumed(tmp_path, finished, _executions(tmp_path))


# --------------------------------------------------------------------------- the store
def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _valid_store(path, n=40):
    with ResultStore(path) as store:
        for i in range(n):
            store.put(Task("demo", CheckFunction("x"), {"i": i}, i), canonical_json({"value": "x" * 200}), 0.1)


def _foreign(kind, path):
    if kind == "text":
        path.write_text("name,value\na,1\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "other-sqlite":
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("CREATE TABLE results (x)")
        conn.close()
    elif kind == "other-schema-version":
        _valid_store(path)
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("UPDATE sgdnoise_store SET value = '99' WHERE key = 'schema_version'")
        conn.close()
    elif kind == "corrupted":
        _valid_store(path)
        data = bytearray(path.read_bytes())
        data[4096:] = np.random.default_rng(0).integers(0, 256, len(data) - 4096, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["text", "empty", "other-sqlite", "other-schema-version", "corrupted"])
def test_foreign_or_corrupted_store_is_refused_and_left_untouched(tmp_path, kind, capsys):
    path = tmp_path / "results.sqlite"
    _foreign(kind, path)
    before = _digest(path)
    with pytest.raises(SgdNoiseError, match="not a usable sgdnoise result store.*left untouched"):
        ResultStore(path)
    for argv in (["store", "clear", "-o", str(tmp_path)], ["reproduce", "-o", str(tmp_path), "--workers", "1"]):
        assert main(argv) == 2
        assert "not a usable sgdnoise result store" in capsys.readouterr().err
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite"]  # nothing written beside it either


def test_store_keys_rows_by_name_params_seed_and_version(tmp_path):
    path = tmp_path / "s.sqlite"
    task = Task("demo", CheckFunction("x"), {"b": 1.5, "a": [1, 2]}, 2**63 + 5)  # 64-bit task seeds fit
    with ResultStore(path) as store:
        assert store.get(task) is None
        store.put(task, canonical_json({"v": 0.1}), 0.25)
        assert store.get(task) == ('{"v":0.1}', 0.25)
        assert store.get(Task("demo", task.function, {"a": [1, 2], "b": 1.5}, task.seed)) is not None  # key order
        assert store.get(Task("demo", task.function, task.params, task.seed + 1)) is None
    with ResultStore(path, version="0.0.0-other") as other:
        assert other.get(task) is None and other.count() == 1
    with ResultStore(path) as store:
        assert store.entries()[0]["seed"] == 2**63 + 5


def test_store_info_and_clear_commands(tmp_path, capsys):
    assert main(["store", "info", "-o", str(tmp_path)]) == 0
    assert "no result store" in capsys.readouterr().out
    path = tmp_path / "results.sqlite"
    _valid_store(path, n=3)
    with ResultStore(path) as store:
        store.put(Task("other", CheckFunction("x"), {}, 0), "1", 0.0)
    assert main(["store", "info", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "4 results" in out and "demo" in out and "other" in out
    assert main(["store", "clear", "-o", str(tmp_path), "--check", "other"]) == 0
    assert "deleted 1 stored result of other" in capsys.readouterr().out
    assert main(["store", "clear", "-o", str(tmp_path)]) == 0
    with ResultStore(path) as store:
        assert store.count() == 0


def test_failing_task_is_reported_and_not_stored(tmp_path):
    bad = Task("test.sgd", sgd_task, dict(GRID[0], eta=-1.0), 0)
    good = Task("test.sgd", sgd_task, GRID[0], 0)
    with ResultStore(tmp_path / "s.sqlite") as store:
        outcomes = run_tasks([bad, good], store=store, on_error="collect")
        assert not outcomes[0].ok and "ParameterError" in outcomes[0].error and "eta" in outcomes[0].error
        assert outcomes[1].ok and store.count() == 1
        with pytest.raises(SgdNoiseError, match=r"task test.sgd .* failed"):
            run_tasks([bad], store=store)
        again = run_tasks([good], store=store)
        assert again[0].cached and again[0].value == outcomes[1].value
