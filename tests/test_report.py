"""The derivation report's LaTeX is valid TeX (rendered by matplotlib's mathtext) and lists
the same statements as the text report."""

from __future__ import annotations

import re

import pytest
from matplotlib.mathtext import MathTextParser

from lstmgen.report import derivation_report, latex_name
from lstmgen.spec import VARIANTS
from lstmgen.specfile import all_variants

PARSER = MathTextParser("path")


def text_statements(text: str) -> list[str]:
    """The statements of the text report: each ``target = ...`` of the matrix products, the
    forward and the backward lines (``;``-separated on the structure lines), no comments."""
    statements = []
    for line in text.splitlines():
        if line.startswith("  ") and not line.startswith("  #") and " = " in line:
            statements += [part for part in line.split(";  ") if " = " in part]
    return statements


def align_rows(latex: str) -> list[tuple[str, str]]:
    """The ``left &= right`` rows of the report's ``align*`` blocks, checking the structure."""
    blocks = re.findall(r"\\begin\{align\*\}\n(.*?)\n\\end\{align\*\}", latex, re.S)
    assert len(blocks) == 2, latex
    assert latex.count(r"\begin{align*}") == latex.count(r"\end{align*}") == 2
    rows = []
    for block in blocks:
        lines = block.split(" \\\\\n")
        for line in lines:
            assert line.count("&=") == 1 and "\n" not in line, line
            left, right = line.split(" &= ")
            rows.append((left, right))
    return rows


def balanced(tex: str) -> bool:
    depth = 0
    for char in re.sub(r"\\[{}]", "", tex):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0 and tex.count(r"\left") == tex.count(r"\right")


@pytest.mark.parametrize("variant", sorted(all_variants()))
def test_latex_renders_and_lists_the_text_statements(variant):
    spec = all_variants()[variant]
    latex = derivation_report(spec, "latex")
    text = derivation_report(spec, "text")
    rows = align_rows(latex)
    assert len(rows) == len(text_statements(text)), (rows, text_statements(text))
    for left, right in rows:
        for side in (left, right):
            assert balanced(side), side
            PARSER.parse(f"${side}$")  # raises ValueError on TeX that mathtext cannot set
    # the recurrent product's adjoint, which the text shows, is there
    assert "recurrent_kernel" not in text or any(
        r"\mathrm{recurrent\_kernel}" in right and "^{T}" in right for _, right in rows
    )


def test_multi_letter_names_are_upright_and_bars_sit_on_the_base():
    latex = derivation_report(VARIANTS["gru"], "latex")
    assert r"\mathrm{hh}^{2}" in latex and r"\bar{\mathrm{hh}}" in latex
    assert not re.search(r"(?<![{\\a-z])hh", latex.replace(r"\mathrm{hh}", "")), latex
    assert r"\bar{h}_{t-1}" in latex and r"\bar{h_{" not in latex
    assert r"\bar{a}^{x}_{h}" in latex and "textstyle" not in latex
    cases = {
        "hh": r"\mathrm{hh}",
        "cand": r"\mathrm{cand}",
        "tanh_c": r"\mathrm{tanh\_c}",
        "u_h": r"\mathrm{u\_h}",
        "d_rh": r"\bar{\mathrm{rh}}",
        "d_c": r"\bar{c}",
        "d_h_tm1": r"\bar{h}_{t-1}",
        "hh_tm1": r"\mathrm{hh}_{t-1}",
        "d_a_i": r"\bar{a}_{i}",
        "ah_z": "a^{h}_{z}",
        "i": "i",
    }
    assert {name: latex_name(name) for name in cases} == cases
