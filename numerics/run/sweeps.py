"""Sweeps: tasks that are pure functions of (parameters, seed), run serially, on a local process pool or on
dask.distributed, with every finished task saved at once in a SQLite result store so that nothing is lost.

Reproducibility. A task's result depends on its parameters and seed only. :func:`sweep` gives the task at
index i of a grid the seed :func:`task_seed` (seed, i) — a 64-bit integer drawn from
``SeedSequence(seed, spawn_key=(i,))`` (``numerics.engine.rng.child_seed``) — so the results are bitwise identical
whatever the executor and the number of workers. Results travel as canonical JSON (floats written with
``repr``, which round-trips exactly), the same way whether they were just computed or read back from the store.

Resuming. :class:`ResultStore` keys every result by (sweep or check name, canonical JSON of the parameters,
seed, package version) and commits it in its own transaction the moment it arrives; :func:`run_tasks` skips
tasks already in the store, so a sweep interrupted by SIGINT, SIGTERM or a dead worker resumes where it
stopped. A file that is not an sgdnoise store (foreign or corrupted) is refused with an
:class:`~numerics.errors.SgdNoiseError` and never written to.

Executors: :class:`SerialExecutor`; :class:`ProcessExecutor` (``concurrent.futures.ProcessPoolExecutor``,
default ``os.cpu_count()`` workers); :class:`DaskExecutor` (``dask.distributed``: ``Client(address)`` for an
existing scheduler, or a ``LocalCluster(n_workers=N)``; optional extra ``pip install 'sgdnoise[dask]'``).
Task functions must be picklable (module-level functions or instances of module-level classes).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from numerics.errors import ParameterError, SgdNoiseError, require_int_in_range
from numerics.engine.progress import bar as progress_bar
from numerics.engine.rng import task_seed

__all__ = ["Task", "Outcome", "SweepInterrupted", "task_seed", "sweep", "run_tasks", "canonical_json",
           "package_version", "SerialExecutor", "ProcessExecutor", "DaskExecutor", "make_executor",
           "ResultStore", "STORE_FILENAME", "CheckFunction"]

STORE_FILENAME = "results.sqlite"


def package_version() -> str:
    """The installed version of the ``sgdnoise`` distribution (part of every store key)."""
    try:
        return metadata.version("sgdnoise")
    except metadata.PackageNotFoundError:
        return "unknown"


def _to_json_compatible(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"a sweep result or parameter must be JSON-serialisable; got {type(value).__name__}")


def canonical_json(value) -> str:
    """Canonical JSON: sorted keys, no spaces, numpy arrays as lists; floats by ``repr`` (exact round trip)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_to_json_compatible)


@dataclass(frozen=True)
class Task:
    """One unit of work: ``function(params, seed)`` → a JSON-serialisable result, a pure function of its inputs.

    ``name`` (a check or sweep name), ``params`` and ``seed`` with the package version form the store key.
    """

    name: str
    function: Callable[[dict, int], Any]
    params: dict
    seed: int

    @property
    def key(self) -> tuple[str, str, str]:
        return self.name, canonical_json(self.params), str(self.seed)


@dataclass
class Outcome:
    """What became of a task: its result (decoded from canonical JSON) or the error it raised.

    ``cached`` is true when the result was read from the store instead of computed; ``runtime_s`` is the
    wall time of the computation that produced it (kept in the store with the result).
    """

    task: Task
    value: Any = None
    runtime_s: float = 0.0
    cached: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class SweepInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived during a sweep; ``done``/``total`` tasks are in the store."""

    def __init__(self, signum: int, done: int = 0, total: int = 0):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum, self.done, self.total = signum, done, total


# --------------------------------------------------------------------------- executors
def _timed_call(function, params, seed):
    """Run a task and time it (executed in the worker)."""
    start = time.perf_counter()
    value = function(params, seed)
    return canonical_json(value), time.perf_counter() - start


class SerialExecutor:
    """Runs tasks one after the other in this process. Every executor is a context manager; ``run`` may be
    called several times and stops its own unfinished work when abandoned."""

    description = "serial"

    def run(self, jobs: Sequence[tuple[Callable, dict, int]]) -> Iterator[tuple[int, Any, BaseException | None]]:
        """Yield (job index, (result JSON, runtime), None) or (job index, None, exception) as jobs finish."""
        for i, (function, params, seed) in enumerate(jobs):
            try:
                yield i, _timed_call(function, params, seed), None
            except Exception as exc:  # a task's own error: reported, never stored
                yield i, None, exc

    def close(self) -> None:
        """Release what the executor holds (nothing here; a dask client and cluster for DaskExecutor)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _worker_init() -> None:
    """Worker initialiser: Ctrl-C is handled by the parent, which stops the pool; SIGTERM ends the worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class ProcessExecutor(SerialExecutor):
    """A local pool of ``workers`` processes (``concurrent.futures.ProcessPoolExecutor``; default: CPU count)."""

    def __init__(self, workers: int | None = None):
        self.workers = require_int_in_range("workers", workers if workers is not None else (os.cpu_count() or 1), 1)
        self.description = f"{self.workers} local worker processes"

    def run(self, jobs):
        if not jobs:
            return
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)), initializer=_worker_init)
        try:
            futures = {pool.submit(_timed_call, *job): i for i, job in enumerate(jobs)}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    exc = future.exception()
                    yield futures[future], (None if exc else future.result()), exc
        finally:
            _stop_pool(pool)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel queued tasks and terminate workers still computing (everything finished is already stored)."""
    # ProcessPoolExecutor has no public way to stop a running task; its worker processes are ours to end.
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        if process.is_alive():
            process.terminate()
    for process in workers:
        process.join(timeout=10)


class DaskExecutor(SerialExecutor):
    """dask.distributed: ``Client(address)`` for an existing scheduler (``tcp://host:8786``), or a fresh
    ``LocalCluster(n_workers=local_workers, threads_per_worker=1)`` when ``address`` is None; ``close()``
    (or leaving a ``with`` block) closes the client and the LocalCluster it started."""

    def __init__(self, address: str | None = None, local_workers: int | None = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SgdNoiseError("the dask executor needs dask.distributed: pip install 'sgdnoise[dask]' "
                                "(dask and distributed)") from None
        if (address is None) == (local_workers is None):
            raise ParameterError("DaskExecutor needs exactly one of address (a scheduler, tcp://...) or local_workers")
        self._cluster = None
        if address is None:
            n = require_int_in_range("local_workers", local_workers, 1)
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            self.description = f"dask LocalCluster with {n} workers"
            self._client = Client(self._cluster)
        else:
            try:
                self._client = Client(address, timeout=30)
            except (OSError, TimeoutError) as exc:
                raise SgdNoiseError(f"cannot reach the dask scheduler at {address!r}: {exc}") from None
            self.description = f"dask scheduler {address}"

    def run(self, jobs):
        from distributed import as_completed

        futures = {self._client.submit(_timed_call, *job, pure=False): i for i, job in enumerate(jobs)}
        try:
            for future in as_completed(list(futures)):
                exc = future.exception() if future.status == "error" else None
                yield futures[future], (None if exc else future.result()), exc
        finally:
            self._client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(workers: int | None = None, scheduler: str | None = None, dask_local: int | None = None):
    """The executor for the command-line options: ``--workers N`` (1: serial; default: CPU count),
    ``--scheduler ADDRESS`` (dask), ``--dask-local N`` (dask LocalCluster). At most one may be given."""
    if sum(x is not None for x in (workers, scheduler, dask_local)) > 1:
        raise ParameterError("give at most one of --workers, --scheduler and --dask-local")
    if scheduler is not None:
        return DaskExecutor(address=scheduler)
    if dask_local is not None:
        return DaskExecutor(local_workers=dask_local)
    if workers is not None and require_int_in_range("workers", workers, 1) == 1:
        return SerialExecutor()
    return ProcessExecutor(workers)


# --------------------------------------------------------------------------- result store
_SQLITE_MAGIC = b"SQLite format 3\x00"
_FORMAT = "sgdnoise-result-store"
_SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE sgdnoise_store (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE results (
    name TEXT NOT NULL, params TEXT NOT NULL, seed TEXT NOT NULL, version TEXT NOT NULL,
    result TEXT NOT NULL, runtime_s REAL NOT NULL, finished_at REAL NOT NULL,
    PRIMARY KEY (name, params, seed, version));
"""


class ResultStore:
    """SQLite result store (standard library ``sqlite3``) at ``path``; created when the file does not exist.

    Rows are keyed by (name, canonical JSON of params, seed, package version); :meth:`put` commits each row
    in its own transaction. A marker table (format name, schema version) identifies the file: an existing
    file that is not an intact sgdnoise store of this schema raises SgdNoiseError and is left untouched.
    """

    def __init__(self, path: str | Path, version: str | None = None):
        self.path = Path(path)
        self.version = version if version is not None else package_version()
        if not self.path.exists():
            self._create()
        self._conn = self._open_verified()

    def _create(self) -> None:
        """Write the schema into a temporary file and move it into place, so that no half-made store exists."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        conn = sqlite3.connect(tmp)
        try:
            with conn:
                conn.executescript(_SCHEMA)
                conn.executemany("INSERT INTO sgdnoise_store VALUES (?, ?)",
                                 [("format", _FORMAT), ("schema_version", _SCHEMA_VERSION),
                                  ("created_with", package_version())])
        finally:
            conn.close()
        if self.path.exists():  # created meanwhile by someone else: verify theirs, keep it
            tmp.unlink()
        else:
            os.replace(tmp, self.path)

    def _refuse(self, why: str) -> SgdNoiseError:
        return SgdNoiseError(f"{self.path} is not a usable sgdnoise result store ({why}); it was left untouched — "
                             "move it away or pass another output directory")

    def _open_verified(self) -> sqlite3.Connection:
        with open(self.path, "rb") as fh:
            if fh.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                raise self._refuse("not an SQLite database")
        conn = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, timeout=30)
        try:
            conn.execute("PRAGMA query_only = ON")  # nothing is written before the file is verified
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise self._refuse("corrupted: SQLite integrity check failed")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "sgdnoise_store" not in tables:
                raise self._refuse(f"a foreign SQLite database without the sgdnoise marker table; tables: "
                                   f"{', '.join(sorted(tables)) or 'none'}")
            marker = dict(conn.execute("SELECT key, value FROM sgdnoise_store"))
            if marker.get("format") != _FORMAT:
                raise self._refuse(f"marker says format {marker.get('format')!r}")
            if marker.get("schema_version") != _SCHEMA_VERSION:
                raise self._refuse(f"schema version {marker.get('schema_version')!r}; this sgdnoise reads version "
                                   f"{_SCHEMA_VERSION}")
            if "results" not in tables:
                raise self._refuse("the results table is missing")
            conn.execute("PRAGMA query_only = OFF")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise self._refuse(f"corrupted: {exc}") from None
        except SgdNoiseError:
            conn.close()
            raise
        return conn

    # -- rows
    def get(self, task: Task) -> tuple[str, float] | None:
        """(result JSON, runtime) of a finished task under this package version, or None."""
        row = self._conn.execute("SELECT result, runtime_s FROM results WHERE name=? AND params=? AND seed=? AND version=?",
                                 (*task.key, self.version)).fetchone()
        return None if row is None else (row[0], row[1])

    def put(self, task: Task, result_json: str, runtime_s: float) -> None:
        """Save a finished task now, in its own transaction."""
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (*task.key, self.version, result_json, float(runtime_s), time.time()))

    def entries(self, name: str | None = None) -> list[dict]:
        """Stored results as dicts: name, params, seed, version, result (decoded), runtime_s."""
        query = "SELECT name, params, seed, version, result, runtime_s FROM results"
        rows = (self._conn.execute(query + " ORDER BY rowid") if name is None
                else self._conn.execute(query + " WHERE name=? ORDER BY rowid", (name,)))
        return [{"name": n, "params": json.loads(p), "seed": int(s), "version": v, "result": json.loads(r),
                 "runtime_s": t} for n, p, s, v, r, t in rows]

    def count(self, name: str | None = None) -> int:
        if name is None:
            return self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        return self._conn.execute("SELECT COUNT(*) FROM results WHERE name=?", (name,)).fetchone()[0]

    def info(self) -> dict:
        """Path, size, schema, and the number of stored results per (name, version)."""
        marker = dict(self._conn.execute("SELECT key, value FROM sgdnoise_store"))
        groups = self._conn.execute("SELECT name, version, COUNT(*), SUM(runtime_s) FROM results "
                                    "GROUP BY name, version ORDER BY name, version").fetchall()
        return {"path": str(self.path), "bytes": self.path.stat().st_size, "schema_version": marker["schema_version"],
                "created_with": marker.get("created_with"), "results": self.count(),
                "groups": [{"name": n, "version": v, "results": c, "runtime_s": s} for n, v, c, s in groups]}

    def clear(self, name: str | None = None) -> int:
        """Delete the stored results (all, or those of one name); returns how many were deleted."""
        with self._conn:
            cur = (self._conn.execute("DELETE FROM results") if name is None
                   else self._conn.execute("DELETE FROM results WHERE name=?", (name,)))
        return cur.rowcount

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------- running
@contextmanager
def _signals_raise(state: dict):
    """Turn SIGTERM (and SIGINT) into SweepInterrupted while a sweep runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SweepInterrupted(signum, state["done"], state["total"])

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run_tasks(tasks: Sequence[Task], executor=None, store: ResultStore | None = None,
              on_outcome: Callable[[Outcome], None] | None = None, on_error: str = "raise") -> list[Outcome]:
    """Run ``tasks`` (skipping those already in ``store``), saving each result the moment it arrives.

    Returns one :class:`Outcome` per task, in task order; ``on_outcome`` is called as each one is known
    (cached ones first). A task that raises is never stored: with ``on_error="raise"`` the sweep stops and
    raises SgdNoiseError naming it (finished tasks stay in the store); with ``"collect"`` its outcome carries
    the error and the other tasks go on. SIGINT/SIGTERM stop the executor and raise :class:`SweepInterrupted`.
    """
    if on_error not in ("raise", "collect"):
        raise ParameterError(f"on_error must be 'raise' or 'collect', got {on_error!r}")
    executor = executor if executor is not None else SerialExecutor()
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise ParameterError("two tasks of a sweep have the same (name, parameters, seed)")
    outcomes: list[Outcome | None] = [None] * len(tasks)
    todo = []
    for i, task in enumerate(tasks):
        stored = store.get(task) if store is not None else None
        if stored is None:
            todo.append(i)
        else:
            outcomes[i] = Outcome(task, json.loads(stored[0]), stored[1], cached=True)
            if on_outcome:
                on_outcome(outcomes[i])
    state = {"done": len(tasks) - len(todo), "total": len(tasks)}
    jobs = [(tasks[i].function, tasks[i].params, tasks[i].seed) for i in todo]
    with _signals_raise(state):
        running = executor.run(jobs)
        try:
            for j, payload, exc in running:
                task = tasks[todo[j]]
                if exc is not None:
                    message = f"{type(exc).__name__}: {exc}"
                    if on_error == "raise":
                        raise SgdNoiseError(f"task {task.name} (seed {task.seed}, params {canonical_json(task.params)}) "
                                            f"failed: {message}") from exc
                    outcome = Outcome(task, error=message)
                else:
                    result_json, runtime = payload
                    if store is not None:
                        store.put(task, result_json, runtime)
                    outcome = Outcome(task, json.loads(result_json), runtime)
                    state["done"] += 1
                outcomes[todo[j]] = outcome
                if on_outcome:
                    on_outcome(outcome)
        finally:
            running.close()  # stops unfinished work at once when leaving early (error, signal)
    return outcomes


def sweep(name: str, function: Callable[[dict, int], Any], grid: Iterable[dict], seed: int = 0, executor=None,
          store: ResultStore | None = None) -> list:
    """Results of ``function(params, task_seed(seed, i))`` for the i-th parameter dict of ``grid``, in order.
    A progress bar with an ETA follows the tasks where :mod:`numerics.engine.progress` is enabled (the command line)."""
    tasks = [Task(name, function, dict(params), task_seed(seed, i)) for i, params in enumerate(grid)]
    with progress_bar(len(tasks), name, unit="task") as bar:
        return [o.value for o in run_tasks(tasks, executor, store, on_outcome=lambda o: bar.update())]


# --------------------------------------------------------------------------- checks as tasks
@dataclass(frozen=True)
class CheckFunction:
    """A registered check as a sweep task function: (params, seed) → CheckResult JSON (runtime left at 0: the
    runner measures it). Picklable, so it runs on any executor."""

    check: str

    def __call__(self, params: dict, seed: int) -> dict:
        from numerics.verify import get_check

        return get_check(self.check).run(dict(params), seed).to_json()
