"""The zoo's derivations, cell by cell: exact (``sympy.diff``), finite differences, and a
wrong reduction adjoint that the exact check must catch.

LayerNorm over one unit is degenerate (the normalised state is its beta), so the LayerNorm
LSTM's exact check runs with two coupled units; one step keeps SymPy's tree small (the
recurrence over time is checked numerically and against the TF Addons transcription).
"""

from __future__ import annotations

import dataclasses

import pytest

from lstmgen import derive, equations
from lstmgen.program import AdjointBlock, ReductionAdjoint
from lstmgen.specfile import builtin_cells, load_spec
from lstmgen.verify import Shapes, compare_exact, exact_check, numeric_check

ZOO = sorted(builtin_cells())
EXACT_SHAPES = {
    "layernorm_lstm": Shapes(units=2, time=1),
    "slstm": Shapes(time=2),  # exp and log chains grow SymPy's tree fast
}


def test_the_zoo_is_the_issues_seven_cells():
    assert ZOO == ["indrnn", "layernorm_lstm", "mingru", "minlstm", "qrnn", "slstm", "sru"]


@pytest.mark.parametrize("cell", ZOO)
def test_exact_check(cell):
    result = exact_check(builtin_cells()[cell], shapes=EXACT_SHAPES.get(cell, Shapes()))
    assert result.status == "PASS", result


@pytest.mark.parametrize("cell", ZOO)
def test_numeric_check(cell):
    result = numeric_check(builtin_cells()[cell])
    assert result.status == "PASS", result


NORMALISED = """
name = "normalised"
blocks = ["z"]
states = ["h"]
recurrent_blocks = []

[vectors]
gain = { initializer = "ones" }

[equations]
m = "mean(a_z)"
d = "a_z - m"
v = "mean([d**2, d * h_tm1])"
h = "d / sqrt(v + 1) * gain + h_tm1"
"""


def test_a_wrong_reduction_adjoint_fails_the_exact_check(tmp_path):
    """A sum's adjoint where the mean's belongs (a factor of the count off) is caught, so the
    exact check does see the reductions' structural adjoints."""
    path = tmp_path / "normalised.toml"
    path.write_text(NORMALISED)
    spec = load_spec(path)
    forward = equations.forward_program(spec)
    backward = derive.adjoint_program(forward)
    shapes = Shapes(units=2, time=2)
    assert compare_exact(spec, forward, backward, shapes=shapes).status == "PASS"

    def as_sum(block: AdjointBlock) -> AdjointBlock:
        lines = tuple(
            dataclasses.replace(a, reduction=dataclasses.replace(a.reduction, op="sum"))
            if isinstance(a, ReductionAdjoint)
            else a
            for a in block.assignments
        )
        return dataclasses.replace(block, assignments=lines)

    wrong = dataclasses.replace(backward, blocks=tuple(as_sum(b) for b in backward.blocks))
    assert compare_exact(spec, forward, wrong, shapes=shapes).status == "FAIL"
