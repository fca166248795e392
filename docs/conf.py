"""Sphinx configuration for the skdistill documentation.

Build (CI runs the first; the second also executes the gallery)::

    python -m sphinx -W --keep-going -b html -D plot_gallery=0 docs docs/_build/html
    python -m sphinx -W --keep-going -b html -D plot_gallery=1 docs docs/_build/html

The build never touches the network: intersphinx reads the small inventories in
``docs/_inv``, written by ``docs/make_inventories.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

try:  # an installed skdistill (CI installs it with pip install -e) ...
    import skdistill
except ImportError:  # ... or the checkout this file lives in
    sys.path.insert(0, str(ROOT))
    import skdistill

# ----------------------------------------------------------------------------- project
project = "skdistill"
author = "the skdistill developers"
copyright = "the skdistill developers"
release = skdistill.__version__
version = ".".join(release.split(".")[:2])

# ----------------------------------------------------------------------------- general
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "_inv", "**.ipynb_checkpoints", "generated/*.inc"]
default_role = "literal"
# Every cross-reference must resolve, to our own pages or to an inventory in
# docs/_inv: with -W a broken link fails the build.
nitpicky = True

# ----------------------------------------------------------------------------- API pages
autosummary_generate = True
autosummary_ignore_module_all = False
# Signatures without annotations: the numpydoc sections give the types.
autodoc_typehints = "none"
autodoc_default_options = {"member-order": "groupwise"}
# An override without a docstring stays without one: otherwise torch's
# ``Module.forward`` text would appear under every module's ``forward``.
autodoc_inherit_docstrings = False

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# ----------------------------------------------------------------------------- intersphinx
# Local inventories only (see make_inventories.py): each lists just the external
# names these pages link to, with their public documentation URLs.
_INVENTORIES = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "sklearn": "https://scikit-learn.org/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "skorch": "https://skorch.readthedocs.io/en/stable/",
    "pandas": "https://pandas.pydata.org/docs/",
    "joblib": "https://joblib.readthedocs.io/en/stable/",
    "matplotlib": "https://matplotlib.org/stable/",
}
intersphinx_mapping = {
    name: (url, str(DOCS / "_inv" / f"{name}.inv"))
    for name, url in _INVENTORIES.items()
}
intersphinx_disabled_reftypes = ["std:doc"]

# ----------------------------------------------------------------------------- gallery
# sphinx-gallery runs the examples in this process. Their small networks train
# fastest on one PyTorch thread: on a shared CPU more threads wait for each
# other far longer than they compute (tests/test_docs.py runs them alike).
torch.set_num_threads(1)

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "ExampleTitleSortKey",
    "doc_module": ("skdistill",),
    "backreferences_dir": "generated/backreferences",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "show_memory": False,
    "download_all_examples": False,
    "image_scrapers": ("matplotlib",),
}

# ----------------------------------------------------------------------------- HTML
html_theme = "alabaster"
html_title = f"skdistill {release}"
html_static_path = []
html_theme_options = {
    "description": "Deep ensembles and uncertainty-preserving distillation, "
    "as scikit-learn estimators",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "230px",
}
html_sidebars = {
    "**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]
}


# ----------------------------------------------------------------------------- benchmarks
def _write_benchmark_include() -> None:
    """``generated/benchmark_results.inc``: RESULTS.md as it is, or a note."""
    results = ROOT / "benchmarks" / "RESULTS.md"
    out = DOCS / "generated" / "benchmark_results.inc"
    out.parent.mkdir(parents=True, exist_ok=True)
    if results.is_file():
        # A path starting with "/" is relative to the source folder, docs/.
        text = (
            "The file as the benchmark scripts last wrote it:\n\n"
            ".. literalinclude:: /../benchmarks/RESULTS.md\n"
            "   :language: markdown\n"
        )
    else:
        text = (
            ".. note::\n\n"
            "   ``benchmarks/RESULTS.md`` has not been written in this checkout yet. "
            "Run the benchmark scripts (without ``--quick``) to produce it.\n"
        )
    if not out.is_file() or out.read_text() != text:
        out.write_text(text)


_write_benchmark_include()


def _markdown_to_rst(markdown: str) -> str:
    """The little markdown the reproduction section uses, as reStructuredText.

    Headings (``##``, ``###``), pipe tables (as ``list-table``) and paragraphs;
    HTML comments (the section markers) are dropped. Inline markup is shared:
    ``**bold**``, ``*italic*`` and single backticks (literal, the default role).
    """
    import re

    def escape(text: str) -> str:
        text = text.strip()
        if text in ("", "-"):
            return "\\-" if text == "-" else ""
        # "a. Hydra+" or "d. Images" would start an enumerated list.
        return "\\" + text if re.match(r"^[A-Za-z0-9]{1,2}\. ", text) else text

    def cells(line: str) -> list[str]:
        return [escape(c) for c in line.strip().strip("|").split("|")]

    out: list[str] = []
    lines = [ln for ln in markdown.splitlines() if not ln.strip().startswith("<!--")]
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("### ") or line.startswith("## "):
            title = line.lstrip("#").strip()
            mark = "~" if line.startswith("### ") else "-"
            out += [title, mark * len(title), ""]
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not re.match(r"^\|[-|: ]+\|$", lines[i].strip()):
                    rows.append(cells(lines[i]))
                i += 1
            out += [".. list-table::", "   :header-rows: 1", ""]
            for row in rows:
                for j, cell in enumerate(row):
                    out.append(("   * - " if j == 0 else "     - ") + cell)
            out.append("")
            continue
        else:
            out.append(escape(line) if line.strip() else "")
        i += 1
    return "\n".join(out).rstrip() + "\n"


def _write_reproduction_include() -> None:
    """``generated/reproduction.inc``: RESULTS.md's reproduction section."""
    import re

    results = ROOT / "benchmarks" / "RESULTS.md"
    out = DOCS / "generated" / "reproduction.inc"
    out.parent.mkdir(parents=True, exist_ok=True)
    found = None
    if results.is_file():
        found = re.search(
            r"<!-- reproduction:start -->(.*?)<!-- reproduction:end -->",
            results.read_text(),
            re.S,
        )
    if found:
        text = _markdown_to_rst(found.group(1))
    else:
        text = (
            ".. note::\n\n"
            "   ``benchmarks/RESULTS.md`` has no reproduction section in this "
            "checkout yet.\n"
        )
    if not out.is_file() or out.read_text() != text:
        out.write_text(text)


_write_reproduction_include()
