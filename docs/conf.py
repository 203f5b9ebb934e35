"""Sphinx configuration of the megara_crplugin documentation.

Build (warnings are errors, as in CI)::

    python -m sphinx -W -b html docs docs/_build/html

The Markdown pages of ``docs/`` are the sources (MyST).  Two parts are made
during the build: ``parameters.md`` from the parameter schema
(:func:`megara_crplugin._docgen.write_parameter_reference`) and the illustrated
tutorial (``tutorial/``) by sphinx-gallery, which runs the scripts of
``tutorial_src/`` on synthetic frames and keeps their figures.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document the package of this source tree
os.environ.setdefault("MPLBACKEND", "Agg")

from megara_crplugin._docgen import write_parameter_reference  # noqa: E402
from megara_crplugin._version import __version__  # noqa: E402

write_parameter_reference(DOCS / "parameters.md")

project = "megara_crplugin"
author = "megara_crplugin developers"
copyright = "megara_crplugin developers, GPL-3.0-or-later"  # noqa: A001
release = version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "tutorial_src/README.txt", "**/*.ipynb", "**/*.zip"]
suppress_warnings = ["config.cache"]  # sphinx-gallery's callables in the config

myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc sections already give the types
autodoc_default_options = {"members": True, "show-inheritance": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

sphinx_gallery_conf = {
    "examples_dirs": "tutorial_src",
    "gallery_dirs": "tutorial",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "line_numbers": False,
    "image_srcset": [],
    "write_computation_times": False,
    "capture_repr": (),
}

html_theme = "pydata_sphinx_theme"
html_title = f"megara_crplugin {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
