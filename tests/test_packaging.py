"""A non-editable install ships every subpackage (setuptools finds them from pyproject's include patterns)."""

import pathlib
import tomllib

import pytest

find_packages = pytest.importorskip("setuptools").find_packages

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_package_directory_is_shipped():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    shipped = set(find_packages(str(ROOT), include=config["include"]))
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for top in ("derivations", "numerics")
               for p in (ROOT / top).rglob("__init__.py")}
    assert on_disk <= shipped, sorted(on_disk - shipped)
