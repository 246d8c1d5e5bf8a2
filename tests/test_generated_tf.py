"""Generated TensorFlow modules: forward vs keras.layers.LSTM, backward vs tf.GradientTape.

The modules are imported from the committed files under ``generated/tf/``. The Keras layer
tests (drop-in behaviour, dropout, Bidirectional, saving, training) are in
``test_tf_layer.py``.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from generated_modules import param_shapes, state_widths
from tf_helpers import (
    ALL_VARIANTS,
    KERAS_VARIANTS,
    SPECS,
    TOLERANCE,
    assert_all_close,
    initial_states,
    inputs,
    keras_layer,
    load,
    loss_weights,
    random_params,
    random_weights,
)

from lstmgen import emit
from lstmgen.equations import forward_program
from lstmgen.spec import CellSpec
from lstmgen.verify import load_module

BATCH, TIME, FEATURES, UNITS = 3, 5, 4, 5
MODES = ("eager", "function", "jit")


def compiled(function, mode):
    """``function`` as run in ``mode``: eagerly, under tf.function, or XLA-compiled."""
    if mode == "eager":
        return function
    return tf.function(function, jit_compile=mode == "jit")


def params_of(weights, dtype):
    return {
        name: tf.constant(w, dtype)
        for name, w in zip(("kernel", "recurrent_kernel", "bias"), weights, strict=True)
    }


def masks(batch, time, features, units, dtype, per_block, blocks=4):
    """Dropout masks as Keras draws them (0 or 1 / (1 - rate)), fixed by a seed; per gate
    block (``blocks`` of them) with ``per_block``."""
    rng = np.random.default_rng(3)
    lead = (blocks,) if per_block else ()

    def draw(n, rate):
        kept = rng.random(lead + (batch, n)) >= rate
        return tf.constant(kept / (1 - rate), dtype)

    return draw(features, 0.3), draw(units, 0.4)


ARBITRARY_MASK = np.array(
    [[True, True, True, False, False], [False, True, False, True, True], [False] * TIME]
)


def test_keras_comparisons_cover_every_variant_with_a_keras_counterpart():
    assert KERAS_VARIANTS == tuple(sorted(name for name, spec in SPECS.items() if spec.keras_layer))


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_module_api(variant):
    module = load(variant)
    spec = SPECS[variant]
    blocks = len(spec.blocks)
    assert module.VARIANT == variant
    assert module.STATE_NAMES == spec.states
    # A cell whose recurrence is per unit (IndRNN, QRNN, ...) has no recurrent kernel at all.
    recurrent = ("recurrent_kernel",) * forward_program(spec).recurrent_kernel
    assert module.PARAM_NAMES[: 2 + len(recurrent)] == ("kernel", *recurrent, "bias")
    shapes = param_shapes(module, 4, 5)
    assert tuple(shapes) == module.PARAM_NAMES
    assert shapes["kernel"] == (4, blocks * 5)
    if recurrent:
        assert shapes["recurrent_kernel"] == (state_widths(module, 5)[0], blocks * 5)
    assert shapes["bias"] == ((2, blocks * 5) if spec.recurrent_bias else (blocks * 5,))
    assert module.LAYER.__name__ == spec.class_name
    assert getattr(module, f"{spec.class_name}Cell")


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_module_imports_only_tensorflow_and_keras(variant):
    tree = ast.parse(Path(load(variant).__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported == {"__future__", "keras", "tensorflow"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("variant", KERAS_VARIANTS)
def test_forward_matches_keras(variant, dtype):
    weights = random_weights(FEATURES, UNITS, variant=variant)
    reference = keras_layer(variant, UNITS, return_sequences=True, return_state=True, dtype=dtype)
    reference.build((None, TIME, FEATURES))
    reference.set_weights(weights)
    x = inputs(BATCH, TIME, FEATURES, dtype)
    initial_state = initial_states(variant, BATCH, UNITS, dtype)
    expected = reference(x, initial_state=initial_state, mask=ARBITRARY_MASK)

    module = load(variant)
    outputs, final_state, _ = module.forward(
        params_of(weights, dtype), x, initial_state, mask=ARBITRARY_MASK
    )
    assert outputs.dtype == dtype
    assert_all_close([outputs, *final_state], expected, TOLERANCE[dtype])


CASES = {
    "plain": {},
    "mask": {"mask": ARBITRARY_MASK},
    "mask_zero_output": {"mask": ARBITRARY_MASK, "zero_output_for_mask": True},
    "dropout": {"dropout": "shared"},
    "dropout_per_block_mask": {"dropout": "per_block", "mask": ARBITRARY_MASK},
}


def _options(case, dtype, blocks=4, width=UNITS):
    """Forward's keyword arguments for a case; the recurrent dropout mask is as wide as the
    first state (``width``)."""
    options = dict(CASES[case])
    kind = options.pop("dropout", None)
    if kind:
        dropout, recurrent = masks(
            BATCH, TIME, FEATURES, width, dtype, per_block=kind == "per_block", blocks=blocks
        )
        options.update(dropout_mask=dropout, recurrent_dropout_mask=recurrent)
    return options


def _autodiff(module, params, x, initial_state, d_outputs, d_final_state, options):
    """Gradients of <outputs, d_outputs> + <final_state, d_final_state> by tf.GradientTape."""
    with tf.GradientTape() as tape:
        tape.watch([params, x, initial_state])
        outputs, final_state, _ = module.forward(params, x, initial_state, **options)
        loss = tf.reduce_sum(outputs * d_outputs) + sum(
            tf.reduce_sum(s * d) for s, d in zip(final_state, d_final_state, strict=True)
        )
    return tape.gradient(loss, [params, x, initial_state])


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_backward_matches_autodiff_of_forward(variant, case):
    dtype = "float64"
    module = load(variant)
    params = random_params(module, FEATURES, UNITS, dtype)
    x = inputs(BATCH, TIME, FEATURES, dtype)
    initial_state = tuple(initial_states(variant, BATCH, UNITS, dtype))
    widths = state_widths(module, UNITS)
    d_outputs = loss_weights((BATCH, TIME, widths[0]), dtype)
    d_final_state = tuple(loss_weights((BATCH, w), dtype, seed=7 + k) for k, w in enumerate(widths))
    options = _options(case, dtype, len(SPECS[variant].blocks), widths[0])

    _, _, tape = module.forward(params, x, initial_state, **options)
    d_params, d_x, d_initial_state = module.backward(params, tape, d_outputs, d_final_state)
    expected = _autodiff(module, params, x, initial_state, d_outputs, d_final_state, options)

    names = module.PARAM_NAMES
    assert_all_close(
        [*(d_params[n] for n in names), d_x, *d_initial_state],
        [*(expected[0][n] for n in names), expected[1], *expected[2]],
        TOLERANCE[dtype],
        what=case,
    )


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_per_block_masks_agree_with_the_fused_products(variant):
    """A mask per gate block takes one product per block; with every block's mask equal to
    one shared mask it computes what the fused products compute with that mask."""
    dtype = "float64"
    module = load(variant)
    params = random_params(module, FEATURES, UNITS, dtype)
    x = inputs(BATCH, TIME, FEATURES, dtype)
    initial_state = tuple(initial_states(variant, BATCH, UNITS, dtype))
    widths = state_widths(module, UNITS)
    d_outputs = loss_weights((BATCH, TIME, widths[0]), dtype)
    blocks = len(SPECS[variant].blocks)
    shared = dict(
        zip(
            ("dropout_mask", "recurrent_dropout_mask"),
            masks(BATCH, TIME, FEATURES, widths[0], dtype, per_block=False),
            strict=True,
        )
    )
    per_block = {name: tf.stack([mask] * blocks) for name, mask in shared.items()}
    results = []
    for options in (shared, per_block):
        outputs, final_state, tape = module.forward(params, x, initial_state, **options)
        d_params, d_x, d_initial_state = module.backward(params, tape, d_outputs)
        names = module.PARAM_NAMES
        results.append(
            [outputs, *final_state, *(d_params[n] for n in names), d_x, *d_initial_state]
        )
    assert_all_close(results[1], results[0], TOLERANCE[dtype], what="per-block masks")


@pytest.mark.parametrize("variant", ["lstm", "gru", "indrnn"])
def test_autodiff_of_the_forward_loop_reads_steps_without_dense_slice_gradients(variant):
    """The inference path's gradient is TensorFlow's of the forward loop: it must not take
    the gradient of an indexed slice of a (time, ...) tensor at each step (a dense tensor
    of every step, per step: quadratic in time)."""
    module = load(variant)
    params = random_params(module, FEATURES, UNITS, "float32")
    x = inputs(BATCH, TIME, FEATURES, "float32")
    initial_state = tuple(initial_states(variant, BATCH, UNITS, "float32"))

    @tf.function
    def gradients(x, params):
        with tf.GradientTape() as tape:
            tape.watch([x, params])
            outputs, _, _ = module.forward(params, x, initial_state)
            loss = tf.reduce_sum(outputs)
        return tape.gradient(loss, [x, params])

    graph = gradients.get_concrete_function(x, params).graph.as_graph_def()
    ops = [node.op for f in graph.library.function for node in f.node_def]
    assert "While" in [node.op for node in graph.node] or "StatelessWhile" in [
        node.op for node in graph.node
    ]
    assert "StridedSliceGrad" not in ops


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "variant", ["lstm_hard_sigmoid", "lstm_peephole_cifg", "gru_reset_before", "lstm_projection"]
)
def test_forward_and_backward_compile(variant, dtype, mode):
    """Eager, tf.function and XLA runs agree with eager autodiff of the forward (variants
    with 3 gate blocks and per-unit parameters, a product inside the step with its own
    dropout mask, and a state of another width, too)."""
    module = load(variant)
    params = random_params(module, FEATURES, UNITS, dtype)
    x = inputs(BATCH, TIME, FEATURES, dtype)
    initial_state = tuple(initial_states(variant, BATCH, UNITS, dtype))
    widths = state_widths(module, UNITS)
    d_outputs = loss_weights((BATCH, TIME, widths[0]), dtype)
    d_final_state = tuple(loss_weights((BATCH, w), dtype, seed=7 + k) for k, w in enumerate(widths))
    options = _options("dropout_per_block_mask", dtype, len(SPECS[variant].blocks), widths[0])

    def run(params, x, initial_state, d_outputs, d_final_state):
        outputs, final_state, tape = module.forward(params, x, initial_state, **options)
        gradients = module.backward(params, tape, d_outputs, d_final_state)
        return outputs, final_state, gradients

    outputs, final_state, (d_params, d_x, d_initial) = compiled(run, mode)(
        params, x, initial_state, d_outputs, d_final_state
    )
    expected_outputs, expected_state, _ = module.forward(params, x, initial_state, **options)
    expected = _autodiff(module, params, x, initial_state, d_outputs, d_final_state, options)
    names = module.PARAM_NAMES
    assert_all_close(
        [outputs, *final_state, *(d_params[n] for n in names), d_x, *d_initial],
        [
            expected_outputs,
            *expected_state,
            *(expected[0][n] for n in names),
            expected[1],
            *expected[2],
        ],
        TOLERANCE[dtype],
        what=mode,
    )


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_step_matches_forward(variant):
    module = load(variant)
    params = random_params(module, FEATURES, UNITS, "float64")
    x = inputs(BATCH, 3, FEATURES)
    state = tuple(initial_states(variant, BATCH, UNITS))
    outputs, final_state, _ = module.forward(params, x, state)
    stepped = []
    for t in range(3):
        output, state = module.step(params, x[:, t], state)
        stepped.append(output)
    assert_all_close([tf.stack(stepped, axis=1), *state], [outputs, *final_state], 1e-14)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, p, x: m.forward(p, x[0]), r"x must be 3-D .* got shape \(5, 4\)"),
        (
            lambda m, p, x: m.forward(p, x[:, :, :3]),
            r"params\['kernel'\] must have shape \(3, 20\)",
        ),
        (lambda m, p, x: m.forward({"kernel": p["kernel"]}, x), r"missing \['recurrent_kernel'"),
        (lambda m, p, x: m.forward(p, x, (x[:, 0],) * 2), r"initial_state\[0\] .* got \(3, 4\)"),
        (lambda m, p, x: m.forward(p, x, mask=np.ones((3, 4))), r"mask must have shape \(3, 5\)"),
        (lambda m, p, x: m.step(p, x, (x[:, 0],) * 2), r"x_t must be 2-D .* \(3, 5, 4\)"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_value(call, message):
    module = load("lstm")
    params = params_of(random_weights(FEATURES, UNITS), "float64")
    with pytest.raises(ValueError, match=message):
        call(module, params, inputs(BATCH, TIME, FEATURES))


def test_in_step_dropout_masks_pair_with_their_blocks():
    """Products that read recurrent_kernel blocks out of block order (g before h) each get
    the recurrent dropout mask of their own block, in the order the cell takes them."""
    spec = CellSpec(
        name="two_in_step_products",
        summary="test cell",
        blocks=("z", "h", "g"),
        states=("h",),
        statements=(
            ("z", "sigmoid(a_z)"),
            ("rh", "z * h_tm1"),
            ("u_g", "rh @ recurrent_kernel[g]"),
            ("u_h", "rh @ recurrent_kernel[h]"),
            ("h", "tanh(a_h + u_h) * tanh(a_g + u_g) + (1 - z) * h_tm1"),
        ),
        activation="tanh",
        recurrent_activation="sigmoid",
        class_name="TwoInStepProducts",
        keras_layer="",
        recurrent_blocks=("z",),
    )
    module = load_module(emit.build(spec, "tf"), "two_in_step_products")
    cell_arguments = list(inspect.signature(module._cell).parameters)
    mask_arguments = [a for a in cell_arguments if a.startswith("recurrent_dropout_mask_")]
    assert mask_arguments == ["recurrent_dropout_mask_g", "recurrent_dropout_mask_h"]
    masks = tf.constant([[[0.0]], [[1.0]], [[2.0]]])  # one mask per block z|h|g
    picked = [float(m[0, 0]) for m in module._in_step_masks(masks)]
    assert picked == [2.0, 1.0]  # g's mask, then h's
