from __future__ import annotations

from dataclasses import replace

import pytest
import sympy as sp

from lstmgen.activations import HardSigmoid, Sigmoid, Tanh
from lstmgen.equations import SpecError, forward_program
from lstmgen.spec import VARIANTS, activation_variant_name, resolve_variant


def _closed_form(program):
    """Each state as one expression of the step inputs (substituting every line)."""
    env = {}
    for a in program.assignments:
        env[a.target] = a.expr.xreplace(env)
    return {s.name: env[s] for s in program.states}


@pytest.mark.parametrize(
    ("variant", "gate"), [("lstm", Sigmoid), ("lstm_hard_sigmoid", HardSigmoid)]
)
def test_lstm_equations_are_keras_formulas(variant, gate):
    a_i, a_f, a_c, a_o, c_tm1 = sp.symbols("a_i a_f a_c a_o c_tm1")
    # keras LSTMCell._compute_carry_and_output_fused: c = f * c_tm1 + i * act(z2); h = o * act(c)
    c = gate(a_f) * c_tm1 + gate(a_i) * Tanh(a_c)
    h = gate(a_o) * Tanh(c)
    states = _closed_form(forward_program(VARIANTS[variant]))
    assert sp.simplify(states["c"] - c) == 0
    assert sp.simplify(states["h"] - h) == 0


def test_activation_flags_make_named_variants():
    assert activation_variant_name("tanh", "hard_sigmoid") == "lstm_hard_sigmoid"
    assert activation_variant_name("softsign", "relu") == "lstm_ra-relu_act-softsign"
    spec = resolve_variant("lstm_ra-relu_act-softsign")
    assert (spec.activation, spec.recurrent_activation) == ("softsign", "relu")
    with pytest.raises(ValueError, match="Unknown variant 'gru2'"):
        resolve_variant("gru2")
    with pytest.raises(ValueError, match="Unknown activation 'nope'"):
        resolve_variant("lstm_ra-nope_act-tanh", ("tanh", "sigmoid"))


BASE = VARIANTS["lstm"]


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (BASE.statements[:-1], "state 'h' is never updated"),
        (BASE.statements + (("h", "o"),), "'h' is already defined"),
        (
            tuple((t, e.replace("a_o", "a_f")) for t, e in BASE.statements),
            "pre-activation 'a_o' is never used",
        ),
        (BASE.statements[:4] + (("z", "i * 2"),) + BASE.statements[4:], "'z' is never used"),
        (BASE.statements[:1] + (("f", "sigmoid(q)"),) + BASE.statements[2:], "unknown name 'q'"),
        (
            BASE.statements[:1] + (("f", "i ** 0.5"),) + BASE.statements[2:],
            "a power must be an integer",
        ),
        ((("i", "sigmoid(f)"),) + BASE.statements[1:], "unknown name 'f'"),
    ],
)
def test_bad_specs_are_rejected_with_the_line(statements, message):
    with pytest.raises(SpecError, match=message):
        forward_program(replace(BASE, statements=statements))
