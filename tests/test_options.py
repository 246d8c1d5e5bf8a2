"""The LSTM-family options ``cell_clip`` and ``forget_bias`` (TF1 LSTMCell's), end to end.

* Specs and names: the statements each option writes, the ``_clip-<v>_fb-<v>`` names that
  ``resolve_variant`` rebuilds for every built-in LSTM-family base, and the errors.
* Derivation: the exact check (sympy.diff, 60 digits) at a point where the clip is active,
  shown by a backward that ignores the clip failing it there.
* Generated code: NumPy backward vs central finite differences at a point where the clip is
  active and no pre-clip value is near a bound; the TF and NumPy backward vs
  tf.GradientTape over the generated TF forward (which differentiates tf.clip_by_value),
  also with pre-clip values exactly on the bounds; ``lstm_fb-1`` vs the real
  ``keras.layers.LSTM`` whose forget-gate bias block is shifted by +1, and a huge clip vs
  the plain Keras LSTM.
* CLI: ``--cell-clip`` / ``--forget-bias`` names and usage errors (exit code 2).
"""

from __future__ import annotations

import functools
from dataclasses import replace

import keras
import numpy as np
import pytest
import sympy as sp
import tensorflow as tf
from click.testing import CliRunner
from tf_helpers import relative_error

from lstmgen import activations, derive, emit, equations
from lstmgen.cli import main
from lstmgen.spec import (
    VARIANTS,
    OptionError,
    lstm_spec,
    name_with_options,
    peephole_spec,
    resolve_variant,
)
from lstmgen.verify import Shapes, compare_exact, exact_check, load_module

BATCH, TIME, FEATURES, UNITS = 3, 5, 4, 4
TOL = 1e-10

# Every built-in LSTM-family base and how to build it with options, written out here
# independently of spec.py's resolution (which rebuilds from VARIANTS).
PEEPHOLE_FLAGS = {
    "lstm_peephole": {},
    "lstm_peephole_nig": {"input_gate": False},
    "lstm_peephole_nfg": {"forget_gate": False},
    "lstm_peephole_nog": {"output_gate": False},
    "lstm_peephole_niaf": {"input_activation": False},
    "lstm_peephole_noaf": {"output_activation": False},
    "lstm_peephole_cifg": {"coupled": True},
}
LSTM_ARGUMENTS = {
    "lstm": {"class_name": "LSTM"},
    "lstm_hard_sigmoid": {"recurrent_activation": "hard_sigmoid"},
    "lstm_hard_sigmoid_keras2": {"recurrent_activation": "hard_sigmoid_keras2"},
}
NO_FORGET_BLOCK = ("lstm_peephole_nfg", "lstm_peephole_cifg")


def built(base: str, **options):
    if base in PEEPHOLE_FLAGS:
        return peephole_spec(base, VARIANTS[base].summary, **PEEPHOLE_FLAGS[base], **options)
    if base in LSTM_ARGUMENTS:
        return lstm_spec(base, summary=VARIANTS[base].summary, **LSTM_ARGUMENTS[base], **options)
    return lstm_spec(base, "softsign", "relu", **options)  # lstm_ra-relu_act-softsign


@functools.cache
def generated(name: str, target: str):
    return load_module(emit.build(resolve_variant(name), target), f"options_{target}_{name}")


# --- specs and names ---------------------------------------------------------------------


def test_statements_carry_the_options_as_constants():
    spec = resolve_variant("lstm_clip-2.5_fb-1")
    lines = dict(spec.statements)
    assert lines["f"] == "sigmoid(a_f + 1)"
    assert lines["c"] == "clip(f * c_tm1 + i * g, -2.5, 2.5)"
    assert spec.keras_layer == ""  # the stock layer with the same weights differs
    assert "cell_clip=2.5" in spec.summary and "forget_bias=1" in spec.summary
    assert spec.class_name == "LSTMClip2p5Fb1" and spec.class_name.isidentifier()
    peephole = dict(resolve_variant("lstm_peephole_clip-3_fb--0.5").statements)
    assert peephole["f"] == "sigmoid(a_f - 0.5 + peephole_f * c_tm1)"
    assert peephole["c"] == "clip(f * c_tm1 + i * g, -3, 3)"
    assert peephole["o"] == "sigmoid(a_o + peephole_o * c)"  # reads the clipped c (TF1)
    assert dict(resolve_variant("lstm_clip-1000000").statements)["c"].endswith("-1000000, 1000000)")


@pytest.mark.parametrize(
    "base", [*sorted(LSTM_ARGUMENTS), *sorted(PEEPHOLE_FLAGS), "lstm_ra-relu_act-softsign"]
)
def test_resolve_variant_rebuilds_every_lstm_family_base(base):
    assert resolve_variant(base) == built(base)
    clipped = resolve_variant(f"{base}_clip-3")
    assert clipped == built(base, cell_clip=3)
    assert clipped.name == f"{base}_clip-3"
    assert dict(clipped.statements)["c"] == f"clip({dict(built(base).statements)['c']}, -3, 3)"
    equations.forward_program(clipped)  # parses
    if base in NO_FORGET_BLOCK:
        with pytest.raises(OptionError, match=rf"forget_bias=1 .*'{base}'") as error:
            resolve_variant(f"{base}_clip-3_fb-1")
        assert error.value.option == "forget_bias"
        return
    both = resolve_variant(f"{base}_clip-3_fb-1")
    assert both == built(base, cell_clip=3.0, forget_bias=1.0)
    assert both.name == f"{base}_clip-3_fb-1"
    assert name_with_options(base, 3, 1) == both.name
    equations.forward_program(both)


@pytest.mark.parametrize("base", sorted(VARIANTS))
def test_every_builtin_takes_the_options_or_says_why_not(base):
    """LSTM-family variants (states h, c, ...) take both options (a forget gate block
    reading a_f for forget_bias); the others name the option, its value and the variant."""
    spec = VARIANTS[base]
    if spec.states[:2] != ("h", "c"):
        with pytest.raises(OptionError, match=rf"cell_clip=2 .*'{base}'"):
            resolve_variant(f"{base}_clip-2")
        with pytest.raises(OptionError, match=rf"forget_bias=1 .*'{base}'"):
            resolve_variant(f"{base}_fb-1")
        return
    clipped = resolve_variant(f"{base}_clip-2")
    assert dict(clipped.statements)["c"] == f"clip({dict(spec.statements)['c']}, -2, 2)"
    equations.forward_program(clipped)
    if "f" in spec.blocks:
        biased = resolve_variant(f"{base}_fb-1")
        assert dict(biased.statements)["f"].count("a_f + 1") == 1
        equations.forward_program(biased)


@pytest.mark.parametrize(
    ("call", "option", "words"),
    [
        (lambda: lstm_spec("lstm", cell_clip=0), "cell_clip", ["cell_clip", "> 0", "got 0"]),
        (lambda: lstm_spec("lstm", cell_clip=-1.5), "cell_clip", ["cell_clip", "-1.5"]),
        (lambda: lstm_spec("lstm", cell_clip=float("inf")), "cell_clip", ["inf"]),
        (lambda: lstm_spec("lstm", forget_bias=float("nan")), "forget_bias", ["nan"]),
        (
            lambda: peephole_spec("x", "", forget_gate=False, forget_bias=1),
            "forget_bias",
            ["forget_bias=1", "'x'", "forget gate"],
        ),
        (
            lambda: peephole_spec("x", "", coupled=True, forget_bias=2.5),
            "forget_bias",
            ["forget_bias=2.5", "'x'", "f = 1 - i"],
        ),
        (lambda: resolve_variant("gru_clip-3"), "cell_clip", ["cell_clip=3", "'gru'"]),
        (lambda: resolve_variant("lstm_clip--3"), "cell_clip", ["cell_clip", "-3"]),
        (
            lambda: name_with_options("lstm_clip-3", cell_clip=2),
            "cell_clip",
            ["cell_clip=2", "cell_clip=3", "'lstm_clip-3'"],
        ),
    ],
)
def test_option_errors_name_argument_value_and_variant(call, option, words):
    with pytest.raises(OptionError) as error:
        call()
    assert error.value.option == option
    assert isinstance(error.value, ValueError)
    for word in words:
        assert word in str(error.value), (word, str(error.value))


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("lstm_clip-3.0", ["'lstm_clip-3'"]),  # one spec, one name
        ("lstm_fb-0", ["'lstm'"]),
        ("lstm_fb-1_clip-3", ["order"]),
        ("lstm_clip-3_clip-3", ["order"]),
        ("nope_clip-3", ["'nope_clip-3'", "_clip-<cell_clip>"]),
    ],
)
def test_resolve_variant_rejects_bad_names(name, words):
    with pytest.raises(ValueError) as error:
        resolve_variant(name)
    for word in words:
        assert word in str(error.value)


# --- exact derivation ----------------------------------------------------------------------

EXACT_SHAPES = Shapes(batch=1, time=2, input_dim=1, units=1)


def _ignoring_the_clip(spec):
    """The derived programs with the clip's gradient replaced by 1 (as if unclipped)."""
    forward = equations.forward_program(spec)
    backward = derive.adjoint_program(forward)
    blocks = tuple(
        replace(
            block,
            assignments=tuple(
                replace(a, expr=a.expr.replace(activations.ClipGrad, lambda *args: sp.Integer(1)))
                for a in block.assignments
            ),
        )
        for block in backward.blocks
    )
    assert blocks != backward.blocks
    return forward, replace(backward, blocks=blocks)


@pytest.mark.parametrize("name", ["lstm_clip-0.3", "lstm_peephole_clip-0.3_fb-1"])
def test_exact_check_with_an_active_clip(name):
    spec = resolve_variant(name)
    result = exact_check(spec, shapes=EXACT_SHAPES)
    assert result.status == "PASS", result
    assert result.max_error < 1e-40
    # At this point the clip acts (some pre-clip c lies beyond the bound, so c sits on
    # it): a backward that ignores the clip fails the same check.
    wrong = compare_exact(spec, *_ignoring_the_clip(spec), shapes=EXACT_SHAPES)
    assert wrong.status == "FAIL" and wrong.max_error > 1e-3, wrong


# --- generated code: a problem where the clip is active ---------------------------------------


def problem(module, seed=0, peephole_scale=0.5):
    rng = np.random.default_rng(seed)
    shapes = module.param_shapes(FEATURES, UNITS)
    params = {
        k: rng.normal(
            0.0, 0.5 if k in ("kernel", "recurrent_kernel", "bias") else peephole_scale, s
        )
        for k, s in shapes.items()
    }
    x = rng.normal(0.0, 1.0, (BATCH, TIME, FEATURES))
    init = (rng.normal(0.0, 1.0, (BATCH, UNITS)), rng.normal(0.0, 1.0, (BATCH, UNITS)))
    d_out = rng.normal(0.0, 1.0, (BATCH, TIME, UNITS))
    d_final = (rng.normal(0.0, 1.0, (BATCH, UNITS)), rng.normal(0.0, 1.0, (BATCH, UNITS)))
    return params, x, init, d_out, d_final


def textbook_preclip(params, x, init, clip, forget_bias=0.0):
    """Pre-clip cell values (time, batch, units) of a textbook peephole LSTM (zero peepholes
    when absent), TF1 LSTMCell options. Only to place the test point relative to the
    bounds; nothing is verified against it."""
    k, rk, b = params["kernel"], params["recurrent_kernel"], params["bias"]
    p = {g: params.get(f"peephole_{g}", 0.0) for g in "ifo"}
    h, c = init

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    values = []
    for t in range(x.shape[1]):
        a_i, a_f, a_c, a_o = np.split(x[:, t] @ k + h @ rk + b, 4, axis=-1)
        raw = sigmoid(a_f + forget_bias + p["f"] * c) * c + sigmoid(a_i + p["i"] * c) * np.tanh(a_c)
        c = np.clip(raw, -clip, clip)
        h = sigmoid(a_o + p["o"] * c) * np.tanh(c)
        values.append(raw)
    return np.array(values)


def assert_clip_active(params, x, init, clip, forget_bias, margin=0.0):
    """Some pre-clip values lie beyond the bounds and some within; none within ``margin``
    of a bound."""
    raw = np.abs(textbook_preclip(params, x, init, clip, forget_bias))
    assert np.any(raw > clip) and np.any(raw < clip), "the clip must act on some values only"
    assert np.min(np.abs(raw - clip)) > margin, "no pre-clip value near a bound"


def loss(outputs, final, d_out, d_final):
    return np.sum(outputs * d_out) + sum(np.sum(f * w) for f, w in zip(final, d_final, strict=True))


@pytest.mark.parametrize(
    ("name", "clip", "forget_bias"),
    [("lstm_clip-0.5_fb-1", 0.5, 1.0), ("lstm_peephole_clip-0.5_fb--1", 0.5, -1.0)],
)
def test_numpy_backward_matches_finite_differences_with_an_active_clip(name, clip, forget_bias):
    module = generated(name, "numpy")
    params, x, init, d_out, d_final = problem(module)
    # Finite differences step 1e-6 across no kink.
    assert_clip_active(params, x, init, clip, forget_bias, margin=1e-3)
    outputs, final, record = module.forward(params, x, init)
    # Some final c sits exactly on a bound: the generated forward clips.
    assert np.any(np.abs(final[1]) == clip) and np.all(np.abs(final[1]) <= clip)
    d_params, d_x, d_init = module.backward(params, record, d_out, d_final)
    step = 1e-6
    values = {**params, "x": x, "h0": init[0], "c0": init[1]}
    analytic = {**d_params, "x": d_x, "h0": d_init[0], "c0": d_init[1]}
    worst = 0.0
    for key, value in values.items():
        fd = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            saved = value[index]
            sides = []
            for shifted in (saved + step, saved - step):
                value[index] = shifted
                o, f, _ = module.forward(
                    {k: values[k] for k in params}, values["x"], (values["h0"], values["c0"])
                )
                sides.append(loss(o, f, d_out, d_final))
            value[index] = saved
            fd[index] = (sides[0] - sides[1]) / (2 * step)
        worst = max(worst, relative_error(analytic[key], fd))
    assert worst < 1e-7, worst


# --- generated TF backward vs autodiff of the generated TF forward ---------------------------


def tf_autodiff(module, params, x, init, d_out, d_final):
    """tf.GradientTape over the generated TF forward: gradients w.r.t. every parameter, x
    and the initial states."""
    params = {k: tf.constant(v) for k, v in params.items()}
    x, init = tf.constant(x), tuple(tf.constant(s) for s in init)
    with tf.GradientTape() as tape:
        tape.watch([*params.values(), x, *init])
        outputs, final, _ = module.forward(params, x, init)
        value = tf.reduce_sum(outputs * d_out) + sum(
            tf.reduce_sum(f * w) for f, w in zip(final, d_final, strict=True)
        )
    grads = tape.gradient(value, [*params.values(), x, *init])
    return [np.asarray(g) for g in grads]


def both_backwards(name, params, x, init, d_out, d_final):
    """[TF backward, NumPy backward], each as arrays in the order of ``tf_autodiff``."""
    tf_module = generated(name, "tf")
    as_tf = {k: tf.constant(v) for k, v in params.items()}
    _, _, record = tf_module.forward(as_tf, tf.constant(x), tuple(tf.constant(s) for s in init))
    results = [
        tf_module.backward(as_tf, record, tf.constant(d_out), tuple(map(tf.constant, d_final)))
    ]
    np_module = generated(name, "numpy")
    _, _, record = np_module.forward(params, x, init)
    results.append(np_module.backward(params, record, d_out, d_final))
    return [
        [*(np.asarray(d_params[k]) for k in params), np.asarray(d_x), *map(np.asarray, d_init)]
        for d_params, d_x, d_init in results
    ]


def assert_matches_autodiff(name, params, x, init, d_out, d_final):
    want = tf_autodiff(generated(name, "tf"), params, x, init, d_out, d_final)
    errors = []
    for got in both_backwards(name, params, x, init, d_out, d_final):
        errors.append(max(relative_error(g, w) for g, w in zip(got, want, strict=True)))
    assert max(errors) <= TOL, errors
    return errors


@pytest.mark.parametrize(
    ("name", "clip", "forget_bias"),
    [("lstm_clip-0.5", 0.5, 0.0), ("lstm_peephole_clip-0.5_fb-1", 0.5, 1.0)],
)
def test_backward_matches_autodiff_with_an_active_clip(name, clip, forget_bias):
    params, x, init, d_out, d_final = problem(generated(name, "numpy"), seed=3)
    assert_clip_active(params, x, init, clip, forget_bias)
    assert_matches_autodiff(name, params, x, init, d_out, d_final)


def test_backward_matches_autodiff_exactly_on_the_bounds():
    """Zero weights: i = f = o = 1/2 and g = 0, so the first step's pre-clip c is
    c0 / 2 = +-3 exactly, on the bounds of clip 3, where tf.clip_by_value passes the
    gradient (1); the other convention (0) would change d_c0 by half of d_c."""
    name = "lstm_clip-3"
    params, x, init, d_out, d_final = problem(generated(name, "numpy"), seed=4)
    params = {k: np.zeros_like(v) for k, v in params.items()}
    c0 = np.tile([6.0, -6.0, 6.0, -6.0], (BATCH, 1))
    init = (init[0], c0)
    _, final, _ = generated(name, "numpy").forward(params, x[:, :1], init)
    np.testing.assert_array_equal(final[1], c0 / 2)  # pre-clip = clipped = the bound
    assert_matches_autodiff(name, params, x, init, d_out, d_final)
    d_c0 = both_backwards(name, params, x[:, :1], init, d_out[:, :1], d_final)[0][-1]
    assert np.all(d_c0 != 0)  # the gradient passes the bound


# --- reductions to the real keras.layers.LSTM --------------------------------------------------


def keras_lstm(weights, x, init, d_out, d_final):
    """Outputs, final states and gradients (x, initial states, kernel, recurrent kernel,
    bias) of keras.layers.LSTM in float64, by tf.GradientTape."""
    layer = keras.layers.LSTM(UNITS, return_sequences=True, return_state=True, dtype="float64")
    layer.build((BATCH, None, FEATURES))
    layer.set_weights(weights)
    x, init = tf.constant(x), [tf.constant(s) for s in init]
    with tf.GradientTape() as tape:
        tape.watch([x, *init])
        outputs, *final = layer(x, initial_state=init)
        value = tf.reduce_sum(outputs * d_out) + sum(
            tf.reduce_sum(f * w) for f, w in zip(final, d_final, strict=True)
        )
    grads = tape.gradient(value, [x, *init, *layer.trainable_weights])
    return [np.asarray(t) for t in (outputs, *final, *grads)]


def generated_lstm(module, params, x, init, d_out, d_final, to_tensor):
    outputs, final, record = module.forward(
        {k: to_tensor(v) for k, v in params.items()}, to_tensor(x), tuple(map(to_tensor, init))
    )
    d_params, d_x, d_init = module.backward(
        {k: to_tensor(v) for k, v in params.items()},
        record,
        to_tensor(d_out),
        tuple(map(to_tensor, d_final)),
    )
    arrays = (
        outputs,
        *final,
        d_x,
        *d_init,
        *(d_params[k] for k in ("kernel", "recurrent_kernel", "bias")),
    )
    return [np.asarray(a) for a in arrays]


@pytest.mark.parametrize("target", ["numpy", "tf"])
@pytest.mark.parametrize(
    ("name", "shift"),
    [
        ("lstm_fb-1", 1.0),  # Keras LSTM whose bias forget block is +1
        ("lstm_fb--0.5", -0.5),
        ("lstm_clip-1000000", 0.0),  # never clips: the plain Keras LSTM
        ("lstm_clip-1000000_fb-1", 1.0),
    ],
)
def test_reduces_to_keras_lstm(name, shift, target):
    module = generated(name, target)
    params, x, init, d_out, d_final = problem(module, seed=1)
    x = 2 * x
    bias = params["bias"].copy()
    bias[UNITS : 2 * UNITS] += shift  # gate blocks i|f|c|o
    want = keras_lstm([params["kernel"], params["recurrent_kernel"], bias], x, init, d_out, d_final)
    got = generated_lstm(
        module, params, x, init, d_out, d_final, tf.constant if target == "tf" else np.asarray
    )
    errors = [relative_error(g, w) for g, w in zip(got, want, strict=True)]
    assert max(errors) <= TOL, errors
    if shift:  # the shift matters: the unshifted Keras LSTM differs
        plain = keras_lstm(
            [params["kernel"], params["recurrent_kernel"], params["bias"]], x, init, d_out, d_final
        )
        assert relative_error(got[0], plain[0]) > 1e-3


# --- CLI ------------------------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_cli_emits_and_derives_named_option_variants(tmp_path):
    out = str(tmp_path)
    result = invoke(
        "emit", "--target", "all", "--out", out, "--variant", "lstm_peephole",
        "--cell-clip", "3", "--forget-bias", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for target in ("numpy", "tf"):
        assert (tmp_path / target / "lstm_peephole_clip-3_fb-1.py").is_file()
    check = invoke("emit", "--target", "all", "--out", out, "--check", "--variant",
                   "lstm_peephole_clip-3_fb-1")  # fmt: skip
    assert check.exit_code == 0, check.output
    text = invoke("derive", "--activation", "relu", "--cell-clip", "2.5", "--forget-bias", "1")
    assert text.exit_code == 0, text.output
    assert "Variant lstm_ra-sigmoid_act-relu_clip-2.5_fb-1" in text.output
    assert "f = sigmoid(a_f + 1)" in text.output
    assert "c = clip(c_tm1*f + g*i, -5/2, 5/2)" in text.output
    assert "clip_grad(c_tm1*f + g*i, -5/2, 5/2)" in text.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["emit", "--variant", "lstm", "--cell-clip", "-1"], ["'--cell-clip'", "-1"]),
        (["emit", "--variant", "lstm", "--cell-clip", "0"], ["'--cell-clip'", "got 0"]),
        (["derive", "--forget-bias", "nan"], ["'--forget-bias'", "nan"]),
        (["derive", "--forget-bias", "one"], ["'--forget-bias'", "'one'"]),
        (
            ["verify", "--variant", "lstm_peephole_nfg", "--forget-bias", "1"],
            ["'--forget-bias'", "forget_bias=1", "'lstm_peephole_nfg'"],
        ),
        (
            ["emit", "--variant", "lstm", "--variant", "gru", "--cell-clip", "2"],
            ["'--cell-clip'", "cell_clip=2", "'gru'"],
        ),
        (
            ["emit", "--variant", "lstm_clip-3", "--cell-clip", "2"],
            ["'--cell-clip'", "cell_clip=2", "cell_clip=3"],
        ),
        (["emit", "--cell-clip", "2"], ["'--cell-clip'", "--cell-clip 2", "--variant"]),
        (["emit", "--variant", "lstm_clip-3.0"], ["'--variant'", "'lstm_clip-3'"]),
    ],
)
def test_cli_usage_errors_name_option_and_value(args, words):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    for word in words:
        assert word in result.output, (word, result.output)
