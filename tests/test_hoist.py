"""hoist.split_program: which lines leave the time loop, and that pre + loop compute the
unsplit program's values and adjoints (each half derived by derive.adjoint_program)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from lstmgen import derive, equations, hoist
from lstmgen.program import Assignment, Product, Reduction, ReductionAdjoint
from lstmgen.spec import VARIANTS
from lstmgen.specfile import builtin_cells
from lstmgen.verify import _elementwise, _evaluate, _reduced, _reduction_share

CELLS = {**VARIANTS, **builtin_cells()}
SPLIT = ["layernorm_lstm", "mingru", "minlstm", "qrnn"]
SHAPE = (2, 2)  # (batch, units): LayerNorm over one unit would be degenerate


def split_of(name: str):
    forward = equations.forward_program(CELLS[name])
    return forward, hoist.split_program(forward)


def targets(statements) -> list[str]:
    return [s.target.name for s in statements]


def test_layernorm_lstm_hoists_the_input_layernorm_and_the_gates_input_terms():
    _, split = split_of("layernorm_lstm")
    assert targets(split.pre.assignments) == [
        *["mean_x", "dx_i", "dx_f", "dx_c", "dx_o", "var_x", "rx"],
        *["i_in", "f_in", "g_in", "o_in"],
    ]
    assert [a.name for a in split.hoisted] == ["i_in", "f_in", "g_in", "o_in"]
    i_in = split.pre.assignments[7].expr
    assert sp.Symbol("rx") in i_in.free_symbols and sp.Symbol("bias_i") in i_in.free_symbols
    loop = {a.target.name: a for a in split.loop.assignments}
    assert "mean_x" not in loop and "rx" not in loop
    assert loop["i"].expr.free_symbols == set(sp.symbols("dh_i recurrent_norm_gamma_i rh i_in"))
    assert [a.name for a in split.loop.preactivations] == [
        *["i_in", "f_in", "g_in", "o_in"],
        *["uh_i", "uh_f", "uh_c", "uh_o"],
    ]
    assert [a.name for a in split.pre.preactivations] == ["wx_i", "wx_f", "wx_c", "wx_o"]


def test_qrnn_hoists_the_gates_and_the_input_half_of_the_cell_update():
    _, split = split_of("qrnn")
    assert targets(split.pre.assignments) == ["z", "f", "o", "c_in"]
    assert targets(split.loop.assignments) == ["c", "h"]
    assert split.pre.assignments[-1].expr == sp.sympify("(1 - f) * z")


@pytest.mark.parametrize("name", ["lstm", "gru", "indrnn", "lstm_peephole", "sru", "slstm"])
def test_cells_with_nothing_to_hoist_are_not_split(name):
    assert split_of(name)[1] is None


@pytest.mark.parametrize("name", SPLIT)
def test_hoisted_names_never_collide_with_spec_names(name):
    forward, split = split_of(name)
    spec_names = {
        s.name
        for s in (
            *forward.preactivations,
            *forward.states_tm1,
            *forward.states,
            *forward.unit_params,
            *(a.target for a in forward.assignments),
        )
    }
    new = set(targets(split.pre.assignments)) - set(targets(forward.assignments))
    assert new and not new & spec_names and not new & equations.RESERVED


def test_a_taken_name_gets_a_numbered_one():
    spec = CELLS["qrnn"]
    statements = (("c_in", "sigmoid(a_o)"), *spec.statements)
    statements = tuple((t, "o * c + c_in") if t == "h" else (t, text) for t, text in statements)
    forward = equations.forward_program(dataclasses.replace(spec, statements=statements))
    split = hoist.split_program(forward)
    assert "c_in2" in targets(split.pre.assignments)


def run_forward(program, env):
    for statement in program.assignments:
        assert not isinstance(statement, Product)
        if isinstance(statement, Reduction):
            env[statement.target] = _reduced(statement, env, _evaluate, SHAPE)
        else:
            env[statement.target] = _elementwise(statement.expr, env, _evaluate, SHAPE)
    return env


def run_backward(backward, env):
    for block in backward.blocks:
        for statement in block.assignments:
            if isinstance(statement, ReductionAdjoint):
                env[statement.each] = _reduction_share(statement, env, SHAPE)
            else:
                assert isinstance(statement, Assignment)
                env[statement.target] = _elementwise(statement.expr, env, _evaluate, SHAPE)
    return env


def random_values(symbols, rng):
    def value():
        return sp.Rational(int(rng.integers(-90, 90)), 100)

    return {
        s: np.array([[value() for _ in range(SHAPE[1])] for _ in range(SHAPE[0])]) for s in symbols
    }


def as_floats(array) -> np.ndarray:
    return np.array(array, dtype=float)


@pytest.mark.parametrize("name", SPLIT)
def test_pre_then_loop_computes_the_unsplit_values_and_adjoints(name):
    forward, split = split_of(name)
    rng = np.random.default_rng(0)
    inputs = random_values(
        (*forward.preactivations, *forward.states_tm1, *forward.unit_params), rng
    )
    seeds = random_values(derive.adjoint_program(forward).seeds, rng)

    whole = derive.adjoint_program(forward)
    env = run_backward(whole, {**run_forward(forward, dict(inputs)), **seeds})

    pre_env = run_forward(split.pre, dict(inputs))
    loop_env = run_forward(split.loop, {**inputs, **{v: pre_env[v] for v in split.hoisted}})
    for state in forward.states:
        np.testing.assert_allclose(as_floats(loop_env[state]), as_floats(env[state]), rtol=1e-12)

    loop_backward = derive.adjoint_program(split.loop)
    loop_env = run_backward(loop_backward, {**loop_env, **seeds})
    pre_backward = derive.adjoint_program(split.pre)
    pre_env = run_backward(
        pre_backward, {**pre_env, **{s: loop_env[s] for s in pre_backward.seeds}}
    )

    got = {d: pre_env[d] for d in pre_backward.d_preactivations}
    got.update(
        {d: loop_env[d] for d in loop_backward.d_preactivations if d not in pre_backward.seeds}
    )
    got.update({d: loop_env[d] for d in loop_backward.d_states_tm1 if d is not None})
    pre_units, loop_units = set(pre_backward.d_unit_params), set(loop_backward.d_unit_params)
    for d in whole.d_unit_params:
        # Unit parameters' adjoints are summed over the batch (and time) by the drivers.
        got[d] = (pre_env[d] if d in pre_units else 0) + (loop_env[d] if d in loop_units else 0)
    expected = [*whole.d_preactivations, *whole.d_unit_params]
    expected += [d for d in whole.d_states_tm1 if d is not None]
    assert set(got) == set(expected)
    for d in expected:
        np.testing.assert_allclose(as_floats(got[d]), as_floats(env[d]), rtol=1e-10, atol=1e-12)
