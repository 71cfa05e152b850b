"""Wall-clock hang guards for symbolic computations.

``sympy.integrate`` (and ``limit``, ``simplify``) can take minutes or hang on an input that has
no closed form. A result must not depend on how loaded the machine is, so the callers in this
package choose what to attempt by *work* bounds (operation counts, sympy's own deterministic
"gave up") and use wall time only as a guard over a whole call: past it the call raises
:class:`SymbolicTimeout`, naming the stage it was in, and never falls back silently::

    with hang_guard(10.0, "stationary_density"):
        with stage("normalisation integral"):
            Z = sympy.integrate(p, (x, 0, oo))   # SymbolicTimeout after 10 s of wall time

Mechanism: ``signal.setitimer(ITIMER_REAL)`` with a ``SIGALRM`` handler that raises
:class:`SymbolicTimeout`. A signal handler can only be installed in the main thread of the main
interpreter on a POSIX system; elsewhere (a worker thread, Windows) the block runs *without* a
limit and a note is logged at INFO level on the ``derivations.calculus.budget`` logger.

Because sympy sometimes catches broad ``Exception``\\ s internally, the timer is re-armed every
0.05 s after it first fires, so a swallowed timeout is raised again until the block is left; and a
block that ends normally after its timer fired still raises (the swallowed timeout may have sent
sympy down another path). Budgets nest: an inner budget never extends an outer one, and the outer
timer is restored (with the time already used subtracted) when the inner block ends.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from typing import Callable, Iterator, TypeVar

from derivations.errors import SgdNoiseError

__all__ = ["SymbolicTimeout", "time_budget", "budget_supported", "call_with_budget", "stage", "hang_guard"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_REARM_S = 0.05


class SymbolicTimeout(SgdNoiseError, TimeoutError):
    """A symbolic computation ran past its wall-clock budget (see :func:`time_budget`); ``stage`` names the
    innermost :func:`stage` it was in (None outside any)."""

    stage: str | None = None


def budget_supported() -> bool:
    """True when :func:`time_budget` can actually interrupt (POSIX ``SIGALRM``, main thread)."""
    return (hasattr(signal, "SIGALRM") and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread())


class _Armed:
    """State of one armed budget (the handler checks ``active`` so a late signal is harmless)."""

    __slots__ = ("seconds", "active", "fired")

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.active = True
        self.fired = False


@contextlib.contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Run the body with a wall-clock limit of ``seconds``; raise :class:`SymbolicTimeout` past it.

    ``seconds`` of ``None``, ``inf`` or ``<= 0`` means no limit. Where no ``SIGALRM`` timer can
    be installed (not the main thread, or no POSIX signals) the body runs without a limit and
    the fact is logged (INFO). The previous ``SIGALRM`` handler and any outer timer are restored
    on exit.
    """
    if seconds is None or not math.isfinite(float(seconds)) or float(seconds) <= 0:
        yield
        return
    seconds = float(seconds)
    if not budget_supported():
        log.info("time_budget(%.3g s): no SIGALRM timer here (not the main thread or not POSIX); "
                 "running without a time limit", seconds)
        yield
        return

    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    if outer_delay > 0 and outer_delay <= seconds:
        # An enclosing budget expires first: it alone governs this block.
        yield
        return

    state = _Armed(seconds)

    def _handler(signum, frame):  # pragma: no cover - timing dependent
        if state.active:
            state.fired = True
            raise SymbolicTimeout(f"symbolic computation exceeded its time budget of {seconds:.3g} s")

    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _handler)
    signal.setitimer(signal.ITIMER_REAL, seconds, _REARM_S)
    try:
        yield
    finally:
        state.active = False
        signal.setitimer(signal.ITIMER_REAL, 0.0, 0.0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if outer_delay > 0:
            remaining = outer_delay - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-6), outer_interval)
    if state.fired:  # the body swallowed the timeout and went on: its result may differ, so refuse it
        raise SymbolicTimeout(f"symbolic computation exceeded its time budget of {seconds:.3g} s")


def call_with_budget(seconds: float | None, func: Callable[..., T], *args, **kwargs) -> T:
    """``func(*args, **kwargs)`` under :func:`time_budget`; raises :class:`SymbolicTimeout` past it."""
    with time_budget(seconds):
        return func(*args, **kwargs)


_last_stage = threading.local()  # the stage entered last, for a timeout raised between stages


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Name the stage of a guarded computation: a :class:`SymbolicTimeout` leaving the block records it
    (the innermost stage wins)."""
    _last_stage.name = name
    try:
        yield
    except SymbolicTimeout as exc:
        if exc.stage is None:
            exc.stage = name
        raise


@contextlib.contextmanager
def hang_guard(seconds: float | None, what: str) -> Iterator[None]:
    """:func:`time_budget` over a whole call ``what``, raising a one-line :class:`SymbolicTimeout` that names the
    stage it stopped in and what to do. A guard, not a budget: the caller's result never depends on it."""
    start = time.monotonic()
    _last_stage.name = None
    try:
        with time_budget(seconds):
            yield
    except SymbolicTimeout as exc:
        if seconds is None or time.monotonic() - start < float(seconds):
            raise  # an enclosing guard fired: it speaks for itself
        name = exc.stage or _last_stage.name
        where = f" in the stage '{name}'" if name else ""
        err = SymbolicTimeout(f"{what} stopped{where} by its hang guard time_budget={seconds} s; the path it takes "
                              "does not depend on time, so raise time_budget (None: no limit) or simplify the model")
        err.stage = name
        raise err from None
