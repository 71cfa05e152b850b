"""Sphinx configuration of the sgdnoise documentation.

Build:  pip install -e '.[docs]' && sphinx-build -W --keep-going -b html docs docs/_build/html
The pages per paper, the numerics API page, the notebook gallery and the README excerpts are generated at build
time by the local extension ``_ext/sgdnoise_docs.py`` (from the registry, ``numerics.__all__``, ``notebooks/``
and ``README.md``); the notebooks are executed by myst-nb (cached under ``docs/_build/.jupyter_cache``).
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # the packages, also without `pip install -e .`

import sgdnoise_docs  # noqa: E402

project = "sgdnoise"
author = "the sgdnoise authors"
copyright = "the sgdnoise authors"
try:
    from importlib.metadata import version as _version

    release = _version("sgdnoise")
except Exception:  # pragma: no cover - not installed
    release = ""

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
    "sgdnoise_docs",
]

# ---------------------------------------------------------------- sources
# notebooks/*.py are copied to gallery/ and read as jupytext percent notebooks; no other .py is a page
nb_custom_formats = {".py": "sgdnoise_docs.read_percent_notebook"}
exclude_patterns = ["_build", "conf.py", "_ext", "**/.ipynb_checkpoints", "_generated"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# ---------------------------------------------------------------- notebook execution (myst-nb)
nb_execution_mode = os.environ.get("SGDNOISE_DOCS_EXECUTE", "cache")  # "off" for a quick look at the text
nb_execution_timeout = 600
nb_execution_raise_on_error = True  # a notebook that fails fails the build
nb_execution_show_tb = True
nb_merge_streams = True
# the kernel must show figures inline even where CI exports MPLBACKEND=Agg
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

# ---------------------------------------------------------------- API reference
autosummary_generate = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": False}

# ---------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"sgdnoise {release}".strip()
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": []}

# MathJax 3 served from the built site (offline) when django-static-mathjax is installed (the docs extra);
# otherwise Sphinx's default, MathJax 3 from a CDN
_mathjax = sgdnoise_docs.copy_mathjax(DOCS)
if _mathjax:
    mathjax_path = _mathjax
