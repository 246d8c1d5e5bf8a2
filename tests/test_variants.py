"""Every built-in variant across targets, and the peephole variants' exact reductions.

* Generated TF vs generated NumPy (forward and backward, float64), every variant and the
  spec-file cells of ``examples/`` (one state, two gate blocks: JANET).
* The generated Keras layer of every variant: its gradient (``backward`` through
  ``tf.custom_gradient``) vs tf.GradientTape over the generated forward, weights and
  initialization, a training step, and a ``.keras`` save/load round trip.
* Reductions to the real ``keras.layers.LSTM`` (float64, outputs, states and every
  gradient): ``lstm_peephole`` with zero peepholes is a Keras LSTM; ``lstm_peephole_cifg``
  with zero peepholes is a Keras LSTM whose forget-gate weights are the negated input-gate
  weights (``sigmoid(-a) = 1 - sigmoid(a)``), so its input-gate gradient is Keras's
  ``d_i - d_f``. The peephole gradients, which Keras lacks, are checked against
  tf.GradientTape over the generated TF forward. Both the TF layer and the NumPy module
  are held to these reductions.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from generated_modules import ROOT, extra_sizes, load_generated, param_shapes, state_widths
from tf_helpers import (
    ALL_VARIANTS,
    SPECS,
    TOLERANCE,
    assert_all_close,
    inputs,
    load,
    loss_weights,
    outputs_and_gradients,
)

from lstmgen import emit
from lstmgen.specfile import load_spec
from lstmgen.verify import load_module

BATCH, TIME, FEATURES, UNITS = 3, 5, 4, 5
TOL = TOLERANCE["float64"]
# A leading masked step, gaps and a fully masked sequence.
ARBITRARY_MASK = np.array([[0, 1, 0, 1, 1], [1, 0, 0, 1, 0], [0, 0, 0, 0, 0]], bool)


def variant_weights(variant, seed=0, unit_scale=0.5, module=None):
    """Weights of ``variant`` (or of ``module``) in ``PARAM_NAMES`` order, float64, every
    entry non-trivial (unit parameters scaled by ``unit_scale``; 0 gives zero peepholes)."""
    rng = np.random.default_rng(seed)
    shapes = param_shapes(module or load(variant), FEATURES, UNITS)
    return [
        rng.normal(0.0, 0.5 if k < 3 else unit_scale, shape)
        for k, shape in enumerate(shapes.values())
    ]


def initial_state(dtype="float64", states=2, module=None):
    """One tensor per state (``states`` of them, or as ``module`` has them, each as wide as
    that state)."""
    widths = state_widths(module, UNITS) if module else [UNITS] * states
    return [inputs(1, BATCH, w, dtype, seed=5 + k)[0] for k, w in enumerate(widths)]


def loss_of(results):
    """The loss ``outputs_and_gradients`` uses: each returned tensor against fixed weights."""
    return sum(
        tf.reduce_sum(tf.cast(r, tf.float64) * loss_weights(r.shape, tf.float64, seed=k))
        for k, r in enumerate(results)
    )


def autodiff_of_forward(variant, weights, x, state, mask=None, module=None):
    """tf.GradientTape over the generated TF ``forward`` (no custom gradient), for the loss
    of ``outputs_and_gradients`` on (outputs, *final_state): gradients w.r.t. x, the
    initial states and each parameter in ``PARAM_NAMES`` order."""
    module = module or load(variant)
    params = {name: tf.constant(w) for name, w in zip(module.PARAM_NAMES, weights, strict=True)}
    watched = [x, *state, *params.values()]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        outputs, final_state, _ = module.forward(params, x, tuple(state), mask=mask)
        loss = loss_of([outputs, *final_state])
    return tape.gradient(loss, watched)


def generated_layer(variant, weights, dtype="float64", **kwargs):
    module = load(variant)
    layer = module.LAYER(
        UNITS,
        **extra_sizes(module, UNITS),
        return_sequences=True,
        return_state=True,
        dtype=dtype,
        **kwargs,
    )
    layer.build((None, None, FEATURES))
    layer.set_weights(weights)
    return layer


def compare_tf_with_numpy(tf_module, np_module, weights):
    """Forward and backward of the two targets agree (float64), with non-zero seeds for
    every output and final state."""
    assert tf_module.PARAM_NAMES == np_module.PARAM_NAMES
    assert tf_module.STATE_NAMES == np_module.STATE_NAMES
    names, widths = np_module.PARAM_NAMES, state_widths(np_module, UNITS)
    params = dict(zip(names, weights, strict=True))
    x = inputs(BATCH, TIME, FEATURES).numpy() * 2
    state = tuple(s.numpy() for s in initial_state(module=np_module))
    d_outputs = loss_weights((BATCH, TIME, widths[0]), "float64").numpy()
    d_final = tuple(
        loss_weights((BATCH, w), "float64", seed=7 + k).numpy() for k, w in enumerate(widths)
    )

    expected_outputs, expected_final, np_tape = np_module.forward(params, x, state)
    expected = np_module.backward(params, np_tape, d_outputs, d_final)
    as_tf = {name: tf.constant(value) for name, value in params.items()}
    outputs, final, tf_tape = tf_module.forward(as_tf, tf.constant(x), state)
    d_params, d_x, d_initial = tf_module.backward(as_tf, tf_tape, d_outputs, d_final)

    assert_all_close([outputs, *final], [expected_outputs, *expected_final], TOL, "forward")
    assert_all_close(
        [*(d_params[n] for n in names), d_x, *d_initial],
        [*(expected[0][n] for n in names), expected[1], *expected[2]],
        TOL,
        "backward",
    )
    return d_params, d_x, d_initial


# --- every variant -------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_tf_matches_numpy(variant):
    compare_tf_with_numpy(load(variant), load_generated("numpy", variant), variant_weights(variant))


def test_tape_crosses_tf_function_boundaries():
    """A tape returned from one tf.function (its TensorArrays stacked into tensors) feeds
    ``backward`` in another, as it does eagerly."""
    module = load("lstm_peephole")
    params = dict(zip(module.PARAM_NAMES, variant_weights("lstm_peephole"), strict=True))
    x, state = inputs(BATCH, TIME, FEATURES), tuple(initial_state())
    d_outputs = loss_weights((BATCH, TIME, UNITS), "float64")
    _, _, tape = tf.function(module.forward)(params, x, state)
    _, _, eager_tape = module.forward(params, x, state)
    expected = module.backward(params, eager_tape, d_outputs)
    for backward in (tf.function(module.backward), module.backward):
        d_params, d_x, d_initial = backward(params, tape, d_outputs)
        assert_all_close(
            [*d_params.values(), d_x, *d_initial],
            [*expected[0].values(), expected[1], *expected[2]],
            TOL,
        )


@pytest.mark.parametrize("example", ["janet", "mgu", "peephole_lstm"])
def test_spec_file_cells_tf_matches_numpy_and_autodiff(example):
    spec = load_spec(ROOT / "examples" / f"{example}.toml")
    tf_module = load_module(emit.build(spec, "tf"), f"test_variants_tf_{example}")
    np_module = load_module(emit.build(spec, "numpy"), f"test_variants_numpy_{example}")
    weights = variant_weights(None, module=np_module)
    compare_tf_with_numpy(tf_module, np_module, weights)
    # Through the layer (one state included) with a mask: backward vs autodiff.
    layer = tf_module.LAYER(
        UNITS,
        **extra_sizes(tf_module, UNITS),
        return_sequences=True,
        return_state=True,
        dtype="float64",
    )
    layer.build((None, None, FEATURES))
    layer.set_weights(weights)
    x, state = inputs(BATCH, TIME, FEATURES), initial_state(module=tf_module)
    _, gradients = outputs_and_gradients(layer, x, state, mask=ARBITRARY_MASK)
    expected = autodiff_of_forward(None, weights, x, state, mask=ARBITRARY_MASK, module=tf_module)
    assert_all_close(gradients, expected, TOL, "gradients")


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_layer_gradient_is_autodiff_of_the_generated_forward(variant):
    """Through the layer (tf.custom_gradient, weights in PARAM_NAMES order) with a mask."""
    weights = variant_weights(variant, seed=1)
    layer = generated_layer(variant, weights)
    x, state = inputs(BATCH, TIME, FEATURES), initial_state(module=load(variant))
    results, gradients = outputs_and_gradients(layer, x, state, mask=ARBITRARY_MASK)
    module = load(variant)
    outputs, final_state, _ = module.forward(
        dict(zip(module.PARAM_NAMES, weights, strict=True)), x, state, mask=ARBITRARY_MASK
    )
    assert_all_close(results, [outputs, *final_state], TOL, "outputs")
    expected = autodiff_of_forward(variant, weights, x, state, mask=ARBITRARY_MASK)
    assert_all_close(gradients, expected, TOL, "gradients")


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_layer_weights_and_initialization(variant):
    spec, module = SPECS[variant], load(variant)
    sizes = extra_sizes(module, UNITS)
    layer = module.LAYER(UNITS, **sizes)
    layer.build((None, None, FEATURES))
    assert [w.name for w in layer.weights] == list(module.PARAM_NAMES)
    assert [tuple(w.shape) for w in layer.weights] == list(
        param_shapes(module, FEATURES, UNITS).values()
    )
    weights = dict(zip(module.PARAM_NAMES, layer.get_weights(), strict=True))
    bias = weights["bias"]
    forget = np.repeat([float(block == "f") for block in spec.blocks], UNITS)
    np.testing.assert_array_equal(bias, np.broadcast_to(forget, bias.shape))
    for name in spec.unit_params:
        np.testing.assert_array_equal(weights[name], np.zeros(UNITS))
    for vector in spec.vectors:  # their initializers: LayerNorm's gammas ones, betas zeros
        if vector.initializer in ("ones", "zeros"):
            expected = np.ones if vector.initializer == "ones" else np.zeros
            np.testing.assert_array_equal(
                weights[vector.name], expected(weights[vector.name].shape)
            )
    if "f" not in spec.blocks:
        # No forget gate block, no unit_forget_bias (Keras rejects the unknown argument).
        with pytest.raises(ValueError, match="unit_forget_bias"):
            module.LAYER(UNITS, **sizes, unit_forget_bias=True)
    if spec.unit_params:
        argument = (
            "peephole" if all(p.startswith("peephole_") for p in spec.unit_params) else "unit_param"
        )
        ones = module.LAYER(UNITS, **sizes, **{f"{argument}_initializer": "ones"}, use_bias=False)
        ones.build((None, None, FEATURES))
        names = [name for name in module.PARAM_NAMES if name != "bias"]
        assert [w.name for w in ones.weights] == names
        unbiased = dict(zip(names, ones.get_weights(), strict=True))
        for name in spec.unit_params:
            np.testing.assert_array_equal(unbiased[name], np.ones(UNITS))
    for m in spec.matrix_params:
        # Each weight matrix has its own initializer argument (Keras naming: no "_kernel").
        argument = m.name.removesuffix("_kernel") + "_initializer"
        seeded = module.LAYER(UNITS, **sizes, **{argument: "identity"})
        seeded.build((None, None, FEATURES))
        weight = dict(zip(module.PARAM_NAMES, seeded.get_weights(), strict=True))[m.name]
        np.testing.assert_array_equal(weight, np.eye(*weight.shape))


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_layer_trains_and_round_trips_a_keras_file(variant, tmp_path):
    module = load(variant)
    arguments = {"kernel_regularizer": "l2"}
    if SPECS[variant].unit_params:
        arguments.update(peephole_regularizer="l2", peephole_constraint="max_norm")
    for m in SPECS[variant].matrix_params:
        prefix = m.name.removesuffix("_kernel")
        arguments.update({f"{prefix}_regularizer": "l2", f"{prefix}_constraint": "max_norm"})
    layer = module.LAYER(
        UNITS,
        **extra_sizes(module, UNITS),
        return_sequences=True,
        name="generated",
        **arguments,
    )
    model = keras.Sequential([keras.Input((TIME, FEATURES)), layer, keras.layers.Dense(1)])
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0.0, 0.3, w.shape) for w in model.get_weights()])
    x = rng.normal(size=(4, TIME, FEATURES)).astype(np.float32)
    y = np.cumsum(x[:, :, :1], axis=1).astype(np.float32)
    before = layer.get_weights()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    # Every weight, the per-unit parameters included, got a gradient and moved.
    for name, old, new in zip(module.PARAM_NAMES, before, layer.get_weights(), strict=True):
        assert np.all(np.isfinite(new)) and not np.allclose(old, new), name

    assert module.LAYER.from_config(layer.get_config()).get_config() == layer.get_config()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.layers[0]) is module.LAYER
    assert loaded.layers[0].get_config() == layer.get_config()
    np.testing.assert_array_equal(loaded(x), model(x))


# --- reductions to keras.layers.LSTM --------------------------------------------------------


def _blocks(w):
    return np.split(w, 3, axis=-1)


# variant -> (its i|c|o or i|f|c|o weight -> Keras weight, Keras gradient -> its gradient)
REDUCTIONS = {
    "lstm_peephole": (lambda w: w, lambda d: d),
    # f = 1 - i = sigmoid(-a_i): the forget block is the negated input block.
    "lstm_peephole_cifg": (
        lambda w: np.concatenate([_blocks(w)[0], -_blocks(w)[0], *_blocks(w)[1:]], axis=-1),
        lambda d: np.concatenate(
            [d_i - d_f for d_i, d_f in [np.split(d, 4, axis=-1)[:2]]] + np.split(d, 4, axis=-1)[2:],
            axis=-1,
        ),
    ),
}


def keras_reduction(variant, x, state, mask=None):
    """The real keras.layers.LSTM equal to ``variant`` at zero peepholes (float64).

    Returns:
        (weights, outputs, gradients): the variant's weights (zero peepholes); Keras's
        [outputs, h, c]; Keras's gradients w.r.t. x, the initial states, then kernel,
        recurrent_kernel and bias mapped to the variant's layout.
    """
    to_keras, from_keras = REDUCTIONS[variant]
    weights = variant_weights(variant, seed=2, unit_scale=0.0)
    assert all(not np.any(w) for w in weights[3:])
    reference = keras.layers.LSTM(UNITS, return_sequences=True, return_state=True, dtype="float64")
    reference.build((None, None, FEATURES))
    reference.set_weights([to_keras(w) for w in weights[:3]])
    outputs, gradients = outputs_and_gradients(reference, x, state, mask=mask)
    n = 1 + len(state)
    gradients = [*gradients[:n], *(from_keras(np.asarray(g)) for g in gradients[n:])]
    return weights, outputs, gradients


@pytest.mark.parametrize("mask", [None, ARBITRARY_MASK], ids=["plain", "mask"])
@pytest.mark.parametrize("variant", sorted(REDUCTIONS))
def test_layer_reduces_to_keras_lstm(variant, mask):
    x, state = inputs(BATCH, TIME, FEATURES) * 2, initial_state()
    weights, expected, expected_gradients = keras_reduction(variant, x, state, mask)
    layer = generated_layer(variant, weights)
    results, gradients = outputs_and_gradients(layer, x, state, mask=mask)
    n = len(expected_gradients)
    assert_all_close(results, expected, TOL, "outputs and states")
    assert_all_close(gradients[:n], expected_gradients, TOL, "x, states, Keras weights")
    autodiff = autodiff_of_forward(variant, weights, x, state, mask)
    assert_all_close(gradients[n:], autodiff[n:], TOL, "peepholes")
    # At zero peepholes their gradients are still non-zero: the check has content.
    assert all(np.max(np.abs(g)) > 1e-3 for g in gradients[n:])


@pytest.mark.parametrize("variant", sorted(REDUCTIONS))
def test_numpy_module_reduces_to_keras_lstm(variant):
    x, state = inputs(BATCH, TIME, FEATURES) * 2, initial_state()
    weights, expected, expected_gradients = keras_reduction(variant, x, state)
    module = load_generated("numpy", variant)
    params = dict(zip(module.PARAM_NAMES, weights, strict=True))
    outputs, final_state, tape = module.forward(params, x.numpy(), [s.numpy() for s in state])
    d_outputs = loss_weights((BATCH, TIME, UNITS), "float64", seed=0).numpy()
    d_final = tuple(loss_weights((BATCH, UNITS), "float64", seed=k).numpy() for k in (1, 2))
    d_params, d_x, d_initial = module.backward(params, tape, d_outputs, d_final)
    n = len(expected_gradients)
    assert_all_close([outputs, *final_state], expected, TOL, "outputs and states")
    gradients = [d_x, *d_initial, *(d_params[name] for name in module.PARAM_NAMES)]
    assert_all_close(gradients[:n], expected_gradients, TOL, "x, states, Keras weights")
    autodiff = autodiff_of_forward(variant, weights, x, state)
    assert_all_close(gradients[n:], autodiff[n:], TOL, "peepholes")


# --- reductions of LSTMP and FGR to keras.layers.LSTM --------------------------------------


def _first_results_and_gradients(layer, x, state, count):
    """The layer's first ``count`` results and the gradients of the loss over those only
    (``outputs_and_gradients``' weights), w.r.t. x, the initial states and the weights."""
    watched = [x, *state]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        results = layer(x, initial_state=state, training=True)[:count]
        loss = loss_of(results)
    return results, tape.gradient(loss, watched + list(layer.trainable_weights))


@pytest.mark.parametrize("variant", ["lstm_projection", "lstm_peephole_fgr"])
def test_projection_and_full_gate_recurrence_reduce_to_keras_lstm(variant):
    """LSTMP with proj_units == units and an identity projection, and FGR with zero gate
    recurrence and zero peepholes, compute keras.layers.LSTM: outputs, h, c and every
    gradient Keras has; the extra weights' gradients are autodiff's of the generated
    forward (and non-zero)."""
    module = load(variant)
    rng = np.random.default_rng(3)
    keras_weights = [rng.normal(0.0, 0.5, s) for s in [(FEATURES, 4 * UNITS), (UNITS, 4 * UNITS)]]
    keras_weights.append(rng.normal(0.0, 0.5, (4 * UNITS,)))
    if variant == "lstm_projection":
        sizes = {"proj_units": UNITS}
        weights = [*keras_weights, np.eye(UNITS)]
    else:
        sizes = {}
        weights = [*keras_weights, *(np.zeros(UNITS) for _ in range(3)), np.zeros((15, 15))]
    layer = module.LAYER(UNITS, **sizes, return_sequences=True, return_state=True, dtype="float64")
    layer.build((None, None, FEATURES))
    layer.set_weights(weights)
    reference = keras.layers.LSTM(UNITS, return_sequences=True, return_state=True, dtype="float64")
    reference.build((None, None, FEATURES))
    reference.set_weights(keras_weights)

    x = inputs(BATCH, TIME, FEATURES) * 2
    h0, c0, *gates0 = initial_state(states=len(module.STATE_NAMES))
    expected, expected_gradients = _first_results_and_gradients(reference, x, [h0, c0], 3)
    results, gradients = _first_results_and_gradients(layer, x, [h0, c0, *gates0], 3)
    assert_all_close(results, expected, TOL, "outputs, h, c")
    weights_at = 3 + len(gates0)  # after x, h0, c0 and the gate states
    keras_part = [*gradients[:3], *gradients[weights_at : weights_at + 3]]
    assert_all_close(keras_part, expected_gradients, TOL, "x, h0, c0, kernel, recurrent, bias")
    # The weights Keras lacks: the generated backward (through the layer) vs autodiff.
    params = {n: tf.constant(w) for n, w in zip(module.PARAM_NAMES, weights, strict=True)}
    state = [h0, c0, *gates0]
    with tf.GradientTape() as tape:
        tape.watch(list(params.values()))
        outputs, final_state, _ = module.forward(params, x, tuple(state))
        loss = loss_of([outputs, *final_state[:2]])
    extra = tape.gradient(loss, list(params.values()))[3:]
    assert_all_close(gradients[-len(extra) :], extra, TOL, "extra weights")
    assert np.max(np.abs(np.asarray(gradients[-1]))) > 1e-3
