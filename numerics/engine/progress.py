"""Progress bars with an ETA (tqdm, on stderr) for the engines' long loops.

Library calls are quiet unless asked (``progress=True``); the command line turns bars on for every run
of a process with :func:`enable`, and a bar appears only once its run has lasted ``DELAY_S`` seconds,
so short runs print nothing. Off a terminal (a log file, CI) a bar refreshes every ``LOG_INTERVAL_S`` seconds
instead of continuously.
"""

from __future__ import annotations

import sys

DELAY_S = 3.0
LOG_INTERVAL_S = 30.0
_enabled = False


def enable(on: bool = True) -> None:
    """Show progress bars for runs that do not say otherwise (``progress=None``)."""
    global _enabled
    _enabled = bool(on)


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass

    def close(self):
        pass


def bar(total: int, desc: str, *, unit: str = "step", enabled: bool | None = None):
    """A tqdm bar of ``total`` units (``update``/``close``, or a context manager), or a no-op when progress is off."""
    if not (_enabled if enabled is None else enabled):
        return _NoBar()
    from tqdm.auto import tqdm

    interval = 0.1 if sys.stderr.isatty() else LOG_INTERVAL_S
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, leave=False, delay=DELAY_S, file=sys.stderr,
                mininterval=interval, maxinterval=max(10.0, interval))
