"""Run-size limits: refuse, before any work, a run that would take hours or exhaust memory.

Two caps, both stated in the error they raise together with how to raise them:

* **steps**: a single run (SGD chains, an SDE ensemble) may take at most ``max_steps()`` steps,
  default 10⁷ (environment variable ``SGDNOISE_MAX_STEPS``). The run length of a stationary
  measurement grows like 1/η, so a mistyped learning rate (``eta=1e-300``) would otherwise run for
  ever; the largest run of ``reproduce --full`` is far below the cap.
* **memory**: the arrays a run allocates may take at most ``max_memory_bytes()``, default half of the
  machine's physical memory (``SGDNOISE_MAX_MEMORY_GB``). Physical, not currently free, memory sets the
  default so that the same call gets the same answer on an idle or a loaded machine.

Environment variables reach the worker processes of a sweep, so one setting covers a whole run.
"""

from __future__ import annotations

import os

import numpy as np

from numerics.errors import ParameterError

DEFAULT_MAX_STEPS = 10_000_000
_STEPS_VAR, _MEMORY_VAR = "SGDNOISE_MAX_STEPS", "SGDNOISE_MAX_MEMORY_GB"


class RunTooLargeError(ParameterError):
    """A run exceeds a stated cap on its step count or its memory (the message names the cap)."""


def _env_number(var: str, default: float) -> float:
    raw = os.environ.get(var)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ParameterError(f"environment variable {var}={raw!r} is not a number") from None
    if not value > 0:
        raise ParameterError(f"environment variable {var}={raw!r} must be > 0")
    return value


def max_steps() -> int:
    """The step cap of one run: ``SGDNOISE_MAX_STEPS`` or 10⁷."""
    return int(_env_number(_STEPS_VAR, DEFAULT_MAX_STEPS))


def max_memory_bytes() -> int:
    """The memory cap of one run: ``SGDNOISE_MAX_MEMORY_GB`` (GiB) or half of the physical memory."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - platforms without sysconf
        physical = 16 * 2 ** 30
    return int(_env_number(_MEMORY_VAR, physical / 2 ** 31) * 2 ** 30)


def require_steps(n_steps: int, what: str) -> int:
    """``n_steps`` if within :func:`max_steps`, else :class:`RunTooLargeError` naming the cap."""
    cap = max_steps()
    if n_steps > cap:
        raise RunTooLargeError(
            f"{what} needs {n_steps:.3g} steps, above the cap of {cap:.3g} steps per run (a run length grows like "
            f"1/eta: check eta); to allow it, set {_STEPS_VAR}={n_steps} in the environment")
    return n_steps


def require_memory(n_bytes: float, what: str) -> None:
    """Refuse (:class:`RunTooLargeError`) when ``n_bytes`` exceed :func:`max_memory_bytes`."""
    cap = max_memory_bytes()
    if n_bytes > cap:
        raise RunTooLargeError(
            f"{what} needs about {n_bytes / 2 ** 30:.3g} GiB, above the memory cap of {cap / 2 ** 30:.3g} GiB "
            f"(lower n_replicas/n_paths, or set {_MEMORY_VAR} in the environment to raise the cap)")


def float_array_bytes(*shape: int) -> float:
    """Bytes of a float64 array of ``shape`` (Python ints: no overflow for absurd sizes)."""
    n = 8
    for s in shape:
        n *= int(s)
    return float(n)


def full(shape: tuple[int, ...], fill_value: float, what: str) -> np.ndarray:
    """``np.full(shape, fill_value)`` (float64) after :func:`require_memory`: the engines allocate their
    large arrays (weights of all replicas, observer sums, trajectories, saved SDE states) through this."""
    require_memory(float_array_bytes(*shape), what)
    return np.full(shape, fill_value, dtype=float)
