"""The documentation site (docs/): the pages generated from the registry, and the full Sphinx build.

The fast tests run the generator of ``docs/_ext/sgdnoise_docs.py`` without Sphinx: one page per registry prefix
holding every derivation of ``derivations.names()`` with its steps as math, the README sections the site
includes, the notebook gallery. The full build (``sphinx-build -W``, notebooks executed, about two minutes) is
marked slow here; CI (``.ci/run``) runs it on every submission.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import derivations

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("sgdnoise_docs", DOCS / "_ext" / "sgdnoise_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_generated_page_per_prefix_with_every_derivation(tmp_path):
    gen = _generator()
    gen.generate(tmp_path)
    names = derivations.names()
    prefixes = sorted({n.split(".", 1)[0] for n in names})
    assert {"sgd", "linreg", "dln", "fluct", "curv", "perceptron"} <= set(prefixes)
    pages = {p.stem for p in (tmp_path / "papers").glob("*.rst")}
    assert pages == set(prefixes) | {"index"}
    index = (tmp_path / "papers" / "index.rst").read_text(encoding="utf-8")
    for prefix in prefixes:
        assert f"   {prefix}" in index
    for name in names:
        page = (tmp_path / "papers" / f"{name.split('.', 1)[0]}.rst").read_text(encoding="utf-8")
        d = derivations.get(name)
        assert f".. _derivation-{name}:" in page
        section = page.split(f".. _derivation-{name}:", 1)[1].split(".. _derivation-", 1)[0]
        # every step and the result as a math directive, with the step's own LaTeX
        assert section.count(".. math::") == len(d.steps) + 1, name
        for step in d.steps:
            assert step.latex().strip() in section, (name, step.justification)
        for ref in d.references:
            assert str(ref.year) in section


def test_prose_becomes_rst_with_inline_math():
    gen = _generator()
    rst = gen._latex_prose_to_rst(r"It\^o SDE with $D = b b^T$ per mode, the $n$th step, see \texttt{dln.mode\_sde} |z|")
    assert rst == r"Itô SDE with :math:`D = b b^T` per mode, the :math:`n`\ th step, see ``dln.mode_sde`` \|z\|"


def test_readme_sections_the_site_includes_exist(tmp_path):
    gen = _generator()
    gen.write_readme_parts(tmp_path)
    setup = (tmp_path / "_generated" / "readme_setup.md").read_text(encoding="utf-8")
    assert "pip install -e ." in setup and "pytest" in setup
    assert "CONFIRMED" in (tmp_path / "_generated" / "readme_reading_a_check.md").read_text(encoding="utf-8")


def test_gallery_holds_every_notebook_as_a_percent_notebook(tmp_path):
    gen = _generator()
    stems = gen.write_gallery(tmp_path)
    assert stems == sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))
    pytest.importorskip("jupytext")
    for stem in stems:
        nb = gen.read_percent_notebook((tmp_path / "gallery" / f"{stem}.py").read_text(encoding="utf-8"))
        first = nb.cells[0]
        # the page title of the gallery entry: a markdown cell opening with a level-1 heading
        assert first.cell_type == "markdown" and first.source.startswith("# "), stem
        assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.slow
def test_sphinx_build_with_warnings_as_errors(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    pytest.importorskip("pydata_sphinx_theme")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
                           "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200, env={**os.environ})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    html = tmp_path / "html"
    for prefix in {n.split(".", 1)[0] for n in derivations.names()}:
        assert (html / "papers" / f"{prefix}.html").exists()
    assert sorted(p.stem for p in (html / "gallery").glob("*.html")) == sorted(
        p.stem for p in (ROOT / "notebooks").glob("*.py"))
    assert "cell_output" in (html / "gallery" / "own_model.html").read_text(encoding="utf-8")
