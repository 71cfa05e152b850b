"""A registry of named entries, filled by the modules that define them, loaded lazily by name prefix.

The derivations (``derivations.get``) and the checks (``numerics.checks.get_check``) are both such
registries: an entry named ``"prefix.rest"`` lives in the module ``<package>.prefix`` and registers itself when
that module is imported. ``get(name)`` imports that one module; ``names()`` imports every module of the package
once (so a new topic module needs no edit anywhere); an unknown name raises
:class:`~derivations.errors.UnknownNameError` with close matches. See ARCHITECTURE.md.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Generic, TypeVar

from derivations.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one ``kind`` ("derivation", "check") whose modules live in ``package``."""

    def __init__(self, kind: str, package: str):
        self.kind, self.package = kind, package
        self._entries: dict[str, T] = {}
        self._all_loaded = False

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry ``name``, importing only the module of its prefix when it is not registered yet."""
        if name not in self._entries:
            prefix = name.split(".", 1)[0]
            if prefix.isidentifier() and _has_module(self.package, prefix):
                importlib.import_module(f"{self.package}.{prefix}")
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, self.names())
        return self._entries[name]

    def names(self) -> list[str]:
        """Every registered name, sorted (imports every module of the package once)."""
        if not self._all_loaded:
            package = importlib.import_module(self.package)
            for info in pkgutil.iter_modules(package.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{self.package}.{info.name}")
            self._all_loaded = True
        return sorted(self._entries)


def _has_module(package: str, name: str) -> bool:
    return any(info.name == name for info in pkgutil.iter_modules(importlib.import_module(package).__path__))
