"""The README's commands and examples are true: its code blocks run, its commands exist."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from generated_modules import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def example(name: str) -> str:
    match = re.search(rf"<!-- readme-example: {name} -->\n```python\n(.*?)```", README, re.S)
    assert match, f"README example {name!r} not found"
    return match.group(1)


@pytest.mark.parametrize("name", ["numpy", "tf", "jax"])
def test_readme_example_runs(name):
    code = example(name) + "\nprint('README example ran')\n"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "README example ran" in result.stdout


def test_readme_states_the_two_commands_ci_runs():
    assert "pip install . && lstmgen emit --target all" in README
    test_command = "pip install '.[test]' && lstmgen emit --target all --check && pytest -q"
    assert test_command in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install --quiet '.[test]'" in ci
    assert "lstmgen emit --target all --check" in ci and "pytest -q" in ci


def test_readme_documents_every_spec_file_field():
    from lstmgen.specfile import _FIELDS

    match = re.search(r"^(#+) Spec file format\n(.*?)(?=^#{1,3} )", README, re.S | re.M)
    assert match, "README section 'Spec file format' not found"
    documented = set(re.findall(r"^\| `(\w+)` \|", match.group(2), re.M))
    assert documented == set(_FIELDS), (sorted(set(_FIELDS) - documented), documented)
    for words in ("clip(x, lo, hi)", "@", "unary minus", "parentheses"):
        assert words in match.group(2), words
