"""The README's Python code runs as written, and says what it claims."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    """The contents of every fenced block marked ``python`` in the README."""
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_readme_has_python_code():
    assert python_blocks(), "the README has no ```python block"


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_code_runs(index, tmp_path, monkeypatch):
    code = python_blocks()[index]
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README.md[python block {index}]", "exec"), {})
    printed = out.getvalue()
    if index == 0:
        found = re.findall(
            r"^(\S+)\s+ECE (\d\.\d+)\s+mean epistemic uncertainty (\d\.\d+) nats$",
            printed,
            flags=re.M,
        )
        epistemic = {name: float(value) for name, _, value in found}
        assert set(epistemic) == {"ensemble", "Hydra+", "KD"}, printed
        # What the README says next: KD reports none, the others some.
        assert epistemic["KD"] == 0.0
        assert epistemic["ensemble"] > 0 and epistemic["Hydra+"] > 0
