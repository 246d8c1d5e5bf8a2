"""Rendering context: the fields templates substitute, decided here rather than in Jinja."""

from __future__ import annotations

import pytest
from generated_modules import ROOT

from lstmgen import derive, equations, hoist, printers, render
from lstmgen.spec import VARIANTS
from lstmgen.specfile import load_spec


def context(spec, target="tf"):
    forward = equations.forward_program(spec)
    backward = derive.adjoint_program(forward)
    printed = printers.print_programs(forward, backward, target)
    return render.module_context(spec, forward, backward, printed, target)


def test_lstm_tf_tape_and_cell_backward_arguments():
    ctx = context(VARIANTS["lstm"])
    assert ctx.has_keras_layer and ctx.unit_forget_bias and ctx.forget_block == 1
    assert ctx.tape_state_names == '("h", "c")'
    assert ctx.step_values == ("i", "f", "g", "o", "tanh_c")
    assert ctx.step_values_names == '("i", "f", "g", "o", "tanh_c")'
    assert ctx.step_values_tuple == "(i, f, g, o, tanh_c)"
    assert [(r.name, r.key, r.at) for r in ctx.state_reads] == [("c_tm1", "c", "t")]
    assert ctx.cell_backward_arguments == ("d_h", "d_c", "c_tm1", "i", "f", "g", "o", "tanh_c")
    assert ctx.d_preactivations_tuple == "(d_a_i, d_a_f, d_a_c, d_a_o)"


def test_preactivation_blocks_the_backward_reads_are_step_values():
    ctx = context(VARIANTS["lstm_hard_sigmoid_keras2"])
    assert ctx.step_values[:3] == ("a_i", "a_f", "a_o")
    assert "a_c" not in ctx.step_values


@pytest.mark.parametrize(
    ("variant", "forget_block", "blocks"),
    [
        ("lstm_peephole", 1, "(d_a_i, d_a_f, d_a_c, d_a_o)"),
        ("lstm_peephole_nig", 0, "(d_a_f, d_a_c, d_a_o)"),
        ("lstm_peephole_nfg", -1, "(d_a_i, d_a_c, d_a_o)"),
        ("lstm_peephole_cifg", -1, "(d_a_i, d_a_c, d_a_o)"),
    ],
)
def test_peephole_variants(variant, forget_block, blocks):
    spec = VARIANTS[variant]
    ctx = context(spec)
    assert not ctx.has_keras_layer
    assert ctx.forget_block == forget_block
    assert ctx.unit_forget_bias == (forget_block >= 0)
    assert ctx.unit_param_argument == "peephole"
    assert ctx.d_preactivations_tuple == blocks
    # The output gate reads the new cell state: index t + 1 of its sequence.
    assert [(r.name, r.at) for r in ctx.state_reads] == [("c_tm1", "t"), ("c", "t + 1")]
    assert ctx.cell_backward_arguments[-len(spec.unit_params) :] == spec.unit_params
    assert ctx.param_names.endswith(f'"{spec.unit_params[-1]}")')


def test_single_state_spec_file():
    ctx = context(load_spec(ROOT / "examples" / "janet.toml"))
    assert ctx.seeds_tuple == "(d_h,)"
    assert ctx.tape_state_names == '("h",)'
    assert [(r.name, r.key, r.at) for r in ctx.state_reads] == [("h_tm1", "h", "t")]
    assert ctx.unit_forget_bias and ctx.forget_block == 0


def test_unit_param_argument():
    assert render.unit_param_argument(("peephole_i", "peephole_o")) == "peephole"
    assert render.unit_param_argument(("peephole_i", "scale")) == "unit_param"
    assert render.unit_param_argument(()) == "unit_param"


def hoisted_context(spec):
    forward = equations.forward_program(spec)
    split = hoist.split_program(forward)
    halves = (split.loop, split.pre)
    backwards = tuple(derive.adjoint_program(half) for half in halves)
    printed = tuple(
        printers.print_programs(half, backward, "tf")
        for half, backward in zip(halves, backwards, strict=True)
    )
    return render.hoisted_module_context(spec, forward, split, backwards, printed, "tf")


def test_layernorm_lstm_tf_context_runs_the_input_layernorm_before_the_loop():
    spec = load_spec(ROOT / "lstmgen" / "cells" / "layernorm_lstm.toml", builtin=True)
    ctx = hoisted_context(spec)
    whole = context(spec)
    assert ctx.hoist.hoisted_names == '("i_in", "f_in", "g_in", "o_in")'
    assert ctx.hoist.signature.startswith("wx_i, wx_f, wx_c, wx_o, bias_i,")
    assert ctx.preactivations == "i_in, f_in, g_in, o_in, uh_i, uh_f, uh_c, uh_o"
    assert ctx.n_preactivations == 8 and ctx.hoist.n_unit_parameters == len(ctx.unit_args)
    # Every cell takes every unit parameter; each returns the adjoints of those it reads.
    assert ctx.unit_args == whole.unit_args
    assert ctx.summed_unit_args == (
        *(f"recurrent_norm_gamma_{b}" for b in "ifco"),
        "state_norm_gamma",
        "state_norm_beta",
    )
    assert '"bias_i"' in ctx.hoist.parameter_names and "rx" in ctx.hoist.tape_tuple
    # The docstring and the fingerprint are the whole cell's.
    assert ctx.equations == whole.equations and ctx.fingerprint == whole.fingerprint
    assert whole.hoist is None and whole.summed_unit_args == whole.unit_args
