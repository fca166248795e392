"""The documentation: every gallery example runs, every public name has a page.

The examples are run in this process (``runpy``), each in an empty working
folder, with matplotlib's Agg backend; each must draw at least one figure.
PyTorch runs on one thread (tests/conftest.py): the examples train small
networks, for which more threads on a shared CPU cost more than they bring.

The Sphinx build itself is not run here (it takes longer than these tests
together); CI runs it with ``-W`` before the test suite.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("**/plot_*.py"))

# Modules whose public names (``__all__``) must each appear in docs/api.rst.
DOCUMENTED_MODULES = [
    "skdistill",
    "skdistill.metrics",
    "skdistill.uncertainty",
    "skdistill.plotting",
    "skdistill.datasets",
    "skdistill.teachers",
    "skdistill.training",
    "skdistill.nn",
    "skdistill.nn.losses",
    "skdistill.nn.criteria",
    "skdistill.distill",
]


def test_there_are_examples():
    assert len(EXAMPLES) >= 6
    names = {path.stem for path in EXAMPLES}
    assert {
        "plot_spiral_uncertainty",
        "plot_regression_band",
        "plot_reliability_diagram",
        "plot_ood_digits",
        "plot_grid_search_diversity",
        "plot_pandas_pipeline",
        "plot_conformal_intervals",
    } <= names


# Examples that need an optional dependency beyond matplotlib: skipped without it.
NEEDS = {"plot_conformal_intervals": "mapie"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_has_gallery_layout(path):
    """A title in the module docstring, then ``# %%`` cells (sphinx-gallery)."""
    text = path.read_text(encoding="utf-8")
    docstring = re.match(r'^"""\n(.+)\n(=+)\n', text)
    assert docstring, f"{path.name} must start with a docstring holding a title"
    assert len(docstring.group(2)) >= len(docstring.group(1))
    assert text.count("\n# %%\n") >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_runs_and_draws(path, tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    if path.stem in NEEDS:
        pytest.importorskip(NEEDS[path.stem])
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(path)])
    plt.close("all")
    try:
        runpy.run_path(str(path), run_name="__main__")
        figures = [plt.figure(n) for n in plt.get_fignums()]
        assert figures, f"{path.name} drew no figure"
        for i, figure in enumerate(figures):
            assert figure.axes, f"{path.name}: figure {i} is empty"
            figure.savefig(tmp_path / f"figure_{i}.png")
    finally:
        plt.close("all")


def _api_names() -> set[str]:
    """Names listed or declared in docs/api.rst, qualified by their module."""
    names, module = set(), None
    for line in (DOCS / "api.rst").read_text(encoding="utf-8").splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line)
        if current:
            module = current.group(1)
            continue
        entry = re.match(r"   ([A-Za-z_]\w*)$", line)
        declared = re.match(r"\.\. (?:data|function|class):: (\w+)", line)
        for match in (entry, declared):
            if match and module:
                names.add(f"{module}.{match.group(1)}")
    return names


def _documented_objects() -> list:
    objects = []
    for qualified in _api_names():
        module_name, name = qualified.rsplit(".", 1)
        objects.append(getattr(importlib.import_module(module_name), name))
    return objects


@pytest.mark.parametrize("module_name", DOCUMENTED_MODULES)
def test_every_public_name_is_in_the_api_reference(module_name):
    """Each name in ``__all__`` has an entry (under this module or another)."""
    module = importlib.import_module(module_name)
    documented = _documented_objects()
    missing = [
        name
        for name in module.__all__
        if not name.startswith("__")
        and not any(getattr(module, name) is obj for obj in documented)
    ]
    assert not missing, f"add to docs/api.rst: {missing} (from {module_name})"


def test_inventories_match_their_script():
    """docs/_inv/*.inv are what docs/make_inventories.py writes."""
    spec = importlib.util.spec_from_file_location(
        "make_inventories", DOCS / "make_inventories.py"
    )
    make_inventories = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_inventories)
    for project, (version, entries) in make_inventories.PROJECTS.items():
        expected = make_inventories.inventory(project, version, entries)
        written = (DOCS / "_inv" / f"{project}.inv").read_bytes()
        assert written == expected, (
            f"docs/_inv/{project}.inv is stale: run python docs/make_inventories.py"
        )


def test_user_guide_pages_are_all_in_the_toctree():
    index = (DOCS / "user_guide" / "index.rst").read_text(encoding="utf-8")
    for page in (DOCS / "user_guide").glob("*.rst"):
        if page.stem != "index":
            assert f"   {page.stem}\n" in index, f"{page.name} is not in the toctree"
