"""Generated Keras layers vs the real keras.layers.LSTM / GRU with the same weights.

Both sides run under tf.GradientTape: outputs, final states and gradients w.r.t. inputs,
initial states and every weight are compared (float64 to 1e-10, float32 to 1e-5,
norm-wise relative). Also: dropout with equal seeds, Bidirectional, the cell inside
keras.layers.RNN, saving, mixed precision, model.fit and MirroredStrategy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from tf_helpers import (
    GENERATED_TF,
    KERAS_VARIANTS,
    TOLERANCE,
    assert_all_close,
    initial_states,
    inputs,
    keras_cell,
    keras_layer,
    load,
    outputs_and_gradients,
    paired_layers,
    random_weights,
)

FEATURES, UNITS = 4, 5
RIGHT_PADDED = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], bool)
# A leading masked step (Keras outputs zeros there even with an initial state), gaps and
# a fully masked sequence.
ARBITRARY = np.array([[0, 1, 0, 1, 1], [1, 0, 0, 1, 0], [0, 0, 0, 0, 0]], bool)

# id -> (layer arguments, (batch, time), mask, with initial state)
CASES = {
    "last_output": ({}, (3, 5), None, False),
    "sequences_state_initial": (
        {"return_sequences": True, "return_state": True},
        (3, 5),
        None,
        True,
    ),
    "right_padded": ({"return_sequences": True}, (3, 5), RIGHT_PADDED, False),
    "arbitrary_mask_initial": (
        {"return_sequences": True, "return_state": True},
        (3, 5),
        ARBITRARY,
        True,
    ),
    "arbitrary_mask_last_output": ({}, (3, 5), ARBITRARY, True),
    "go_backwards": ({"go_backwards": True}, (3, 5), None, False),
    "go_backwards_masked": (
        {"go_backwards": True, "return_sequences": True, "return_state": True},
        (3, 5),
        ARBITRARY,
        True,
    ),
    "batch_1_time_1": ({"return_state": True}, (1, 1), None, True),
    "no_bias": ({"use_bias": False, "return_sequences": True}, (2, 4), None, False),
}


def call_arguments(case, dtype, variant="lstm"):
    """(x, initial_state, mask) for a case."""
    _, (batch, time), mask, initial = CASES[case]
    x = inputs(batch, time, FEATURES, dtype)
    initial_state = initial_states(variant, batch, UNITS, dtype) if initial else None
    return x, initial_state, mask


def compare(reference, ours, tolerance, x, initial_state=None, **call_kwargs):
    """Outputs and gradients of both layers agree; returns the largest error."""
    expected, expected_gradients = outputs_and_gradients(reference, x, initial_state, **call_kwargs)
    actual, actual_gradients = outputs_and_gradients(ours, x, initial_state, **call_kwargs)
    return max(
        assert_all_close(actual, expected, tolerance, what="outputs"),
        assert_all_close(actual_gradients, expected_gradients, tolerance, what="gradients"),
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("variant", KERAS_VARIANTS)
def test_layer_matches_keras_lstm(variant, case, dtype):
    reference, ours = paired_layers(variant, UNITS, FEATURES, dtype, **CASES[case][0])
    x, initial_state, mask = call_arguments(case, dtype, variant)
    compare(reference, ours, TOLERANCE[dtype], x, initial_state, mask=mask)


@pytest.mark.parametrize("mode", ["function", "jit"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("variant", KERAS_VARIANTS)
def test_layer_matches_keras_lstm_compiled(variant, dtype, mode):
    case = "go_backwards_masked"
    reference, ours = paired_layers(variant, UNITS, FEATURES, dtype, **CASES[case][0])
    x, initial_state, mask = call_arguments(case, dtype, variant)

    def run(layer):
        return tf.function(
            lambda x, state: outputs_and_gradients(layer, x, state, mask=mask),
            jit_compile=mode == "jit",
        )(x, initial_state)

    (expected, expected_gradients), (actual, actual_gradients) = run(reference), run(ours)
    assert_all_close(actual, expected, TOLERANCE[dtype], what="outputs")
    assert_all_close(actual_gradients, expected_gradients, TOLERANCE[dtype], what="gradients")


def test_layer_gradient_is_the_generated_backward():
    """In training the layer's gradient is ``backward`` itself (tf.custom_gradient), bit for
    bit."""
    module = load("lstm")
    _, ours = paired_layers("lstm", UNITS, FEATURES, return_sequences=True)
    x, initial_state, _ = call_arguments("sequences_state_initial", "float64")
    d_outputs = tf.constant(np.random.default_rng(4).normal(size=(3, 5, UNITS)))
    with tf.GradientTape() as tape:
        tape.watch([x, initial_state])
        outputs = ours(x, initial_state=initial_state, training=True)
        loss = tf.reduce_sum(outputs * d_outputs)
    gradients = tape.gradient(loss, [x, *initial_state, *ours.trainable_weights])

    params = dict(zip(module.PARAM_NAMES, ours.get_weights(), strict=True))
    _, _, module_tape = module.forward(params, x, initial_state)
    d_params, d_x, d_initial = module.backward(params, module_tape, d_outputs)
    expected = [d_x, *d_initial, *(d_params[name] for name in module.PARAM_NAMES)]
    for actual, wanted in zip(gradients, expected, strict=True):
        np.testing.assert_array_equal(actual, wanted)


@pytest.mark.parametrize("variant", KERAS_VARIANTS)
def test_stateful_across_two_calls_and_reset(variant):
    arguments = {"stateful": True, "return_sequences": True, "return_state": True}
    reference = keras_layer(variant, UNITS, dtype="float64", **arguments)
    ours = load(variant).LAYER(UNITS, dtype="float64", **arguments)
    for layer in (reference, ours):
        layer.build((3, None, FEATURES))
        layer.set_weights(random_weights(FEATURES, UNITS, variant=variant))
    first, second = inputs(3, 4, FEATURES, seed=1), inputs(3, 4, FEATURES, seed=2)
    results = {}
    for name, layer in (("keras", reference), ("ours", ours)):
        results[name] = [layer(first), layer(second)]
        layer.reset_states()
        results[name].append(layer(second))
    for expected, actual in zip(results["keras"], results["ours"], strict=True):
        assert_all_close(actual, expected, TOLERANCE["float64"])
    # The second call started from the first call's final state.
    assert not np.allclose(results["ours"][1][0], results["ours"][2][0])


@pytest.mark.parametrize(("dropout", "recurrent_dropout"), [(0.3, 0.0), (0.0, 0.4), (0.3, 0.4)])
@pytest.mark.parametrize("variant", ["lstm", "lstm_hard_sigmoid_keras2", "gru", "gru_reset_before"])
def test_dropout_same_seed_same_masks(variant, dropout, recurrent_dropout):
    reference, ours = paired_layers(
        variant,
        UNITS,
        FEATURES,
        return_sequences=True,
        return_state=True,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
        seed=7,
    )
    x, initial_state, _ = call_arguments("arbitrary_mask_initial", "float64", variant)
    tolerance = TOLERANCE["float64"]
    # Inference first: both draw (and ignore) masks, so their seed streams stay in step.
    compare(reference, ours, tolerance, x, initial_state, training=False)
    compare(reference, ours, tolerance, x, initial_state, mask=ARBITRARY, training=True)
    # Dropout did act in training.
    plain, _ = outputs_and_gradients(ours, x, initial_state, training=False)
    dropped, _ = outputs_and_gradients(ours, x, initial_state, training=True)
    assert not np.allclose(plain[0], dropped[0])


@pytest.mark.parametrize("variant", KERAS_VARIANTS)
def test_bidirectional_matches_keras(variant):
    arguments = {"return_sequences": True, "return_state": True, "dtype": "float64"}
    reference = keras.layers.Bidirectional(keras_layer(variant, UNITS, **arguments))
    ours = keras.layers.Bidirectional(load(variant).LAYER(UNITS, **arguments))
    weights = random_weights(FEATURES, UNITS, seed=0, variant=variant) + random_weights(
        FEATURES, UNITS, seed=1, variant=variant
    )
    for layer in (reference, ours):
        layer.build((None, None, FEATURES))
        layer.set_weights(weights)
    x, _, _ = call_arguments("arbitrary_mask_initial", "float64")
    compare(reference, ours, TOLERANCE["float64"], x, mask=ARBITRARY)
    compare(reference, ours, TOLERANCE["float64"], x)


@pytest.mark.parametrize("variant", KERAS_VARIANTS)
def test_cell_in_keras_rnn_matches_keras_lstm(variant):
    cell_class = getattr(load(variant), f"{load(variant).LAYER.__name__}Cell")
    arguments = {"return_sequences": True, "return_state": True, "dtype": "float64"}
    reference = keras_layer(variant, UNITS, **arguments)
    ours = keras.layers.RNN(cell_class(UNITS, dtype="float64"), **arguments)
    for layer in (reference, ours):
        layer.build((None, None, FEATURES))
        layer.set_weights(random_weights(FEATURES, UNITS, variant=variant))
    x, initial_state, _ = call_arguments("arbitrary_mask_initial", "float64", variant)
    compare(reference, ours, TOLERANCE["float64"], x, initial_state, mask=ARBITRARY)


def test_cells_stack_and_step_like_keras_lstm_cells():
    variant = "lstm_hard_sigmoid"
    cell_class = load(variant).LSTMHardSigmoidCell
    keras_cells = [keras_cell(variant, n, dtype="float64") for n in (UNITS, 3)]
    reference = keras.layers.RNN(keras.layers.StackedRNNCells(keras_cells))
    ours = keras.layers.RNN(
        keras.layers.StackedRNNCells([cell_class(n, dtype="float64") for n in (UNITS, 3)])
    )
    weights = random_weights(FEATURES, UNITS, seed=0) + random_weights(UNITS, 3, seed=1)
    for layer in (reference, ours):
        layer.build((None, None, FEATURES))
        layer.set_weights(weights)
    x, _, _ = call_arguments("last_output", "float64")
    compare(reference, ours, TOLERANCE["float64"], x)

    # One step at a time with explicit states.
    states = [inputs(1, 3, UNITS, seed=k)[0] for k in (5, 6)]
    expected_output, expected_states = keras_cells[0](x[:, 0], states)
    output, new_states = ours.cell.cells[0](x[:, 0], states)
    assert_all_close([output, *new_states], [expected_output, *expected_states], 1e-10)
    assert (
        ours.cell.cells[0].state_size == [UNITS, UNITS] and ours.cell.cells[0].output_size == UNITS
    )


def test_unit_forget_bias_initialization_and_weights_both_ways():
    reference = keras.layers.LSTM(UNITS)
    ours = load("lstm").LAYER(UNITS)
    for layer in (reference, ours):
        layer.build((None, None, FEATURES))
    bias = ours.get_weights()[2]
    np.testing.assert_array_equal(bias, reference.get_weights()[2])
    np.testing.assert_array_equal(bias, np.repeat([0.0, 1.0, 0.0, 0.0], UNITS))
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    assert [w.name for w in ours.weights] == ["kernel", "recurrent_kernel", "bias"]
    reference.set_weights(random_weights(FEATURES, UNITS, seed=3))
    ours.set_weights(reference.get_weights())
    reference.set_weights(random_weights(FEATURES, UNITS, seed=4))
    reference.set_weights(ours.get_weights())
    for a, b in zip(reference.get_weights(), random_weights(FEATURES, UNITS, seed=3), strict=True):
        np.testing.assert_array_equal(a, b.astype(np.float32))


def test_config_round_trip_and_keras_file(tmp_path):
    module = load("lstm_hard_sigmoid_keras2")
    layer = module.LAYER(
        UNITS,
        return_sequences=True,
        go_backwards=True,
        dropout=0.1,
        seed=3,
        kernel_regularizer="l2",
        name="generated",
    )
    assert module.LAYER.from_config(layer.get_config()).get_config() == layer.get_config()
    cell = layer.cell
    assert type(cell).from_config(cell.get_config()).get_config() == cell.get_config()

    x = inputs(2, 4, FEATURES, "float32")
    model = keras.Sequential(
        [
            keras.Input((4, FEATURES)),
            layer,
            module.LAYER(3, return_state=False),
            keras.layers.Dense(1),
        ]
    )
    model.set_weights([w + 0.1 for w in model.get_weights()])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.layers[0]) is module.LAYER
    np.testing.assert_array_equal(loaded(x), model(x))


def test_mixed_float16_runs():
    module = load("lstm")
    x = inputs(3, 5, FEATURES, "float32")
    reference = module.LAYER(UNITS, return_sequences=True)
    reference.build((None, None, FEATURES))
    reference.set_weights(random_weights(FEATURES, UNITS))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = module.LAYER(UNITS, return_sequences=True)
        layer.build((None, None, FEATURES))
        layer.set_weights(reference.get_weights())
        outputs, gradients = outputs_and_gradients(layer, x)
        model = keras.Sequential(
            [keras.Input((5, FEATURES)), module.LAYER(UNITS), keras.layers.Dense(1)]
        )
        model.compile("adam", "mse")
        history = model.fit(x, tf.ones((3, 1)), epochs=2, verbose=0)
    finally:
        keras.config.set_dtype_policy(previous)
    assert outputs[0].dtype == tf.float16
    assert all(w.dtype == "float32" for w in layer.weights)
    assert all(g.dtype == tf.float32 and np.all(np.isfinite(g)) for g in gradients)
    assert_all_close(outputs, [reference(x)], 5e-3)
    assert np.all(np.isfinite(history.history["loss"]))


def test_bad_input_raises_value_error_naming_the_value():
    layer = load("lstm").LAYER(UNITS)
    with pytest.raises(ValueError, match=r"expected ndim=3, found ndim=2.*\(3, 4\)"):
        layer(tf.zeros((3, FEATURES)))
    layer(tf.zeros((3, 5, FEATURES)))
    with pytest.raises(ValueError, match=r"axis -1 .* value 4.*\(3, 5, 6\)"):
        layer(tf.zeros((3, 5, 6)))
    with pytest.raises(ValueError, match="units must be a positive integer, got 0"):
        load("lstm").LAYER(0)


def _regression_model(layer, time):
    return keras.Sequential([keras.Input((time, FEATURES)), layer, keras.layers.Dense(1)])


def test_training_matches_keras_lstm():
    """20 steps of model.fit (XLA) from identical weights: equal losses and weights."""
    variant = "lstm"
    time = 6
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, time, FEATURES)).astype(np.float32)
    y = np.cumsum(x[:, :, :1], axis=1)[:, -1].astype(np.float32)
    results = []
    weights = None
    for layer in (keras_layer(variant, UNITS), load(variant).LAYER(UNITS)):
        model = _regression_model(layer, time)
        weights = weights or [w + 0.05 for w in model.get_weights()]
        model.set_weights(weights)
        model.compile(keras.optimizers.Adam(0.01), "mse", jit_compile=True)
        history = model.fit(x, y, batch_size=3, epochs=20, shuffle=False, verbose=0)
        results.append((history.history["loss"], model.get_weights()))
    (expected_losses, expected_weights), (losses, trained) = results
    assert expected_losses[-1] < 0.8 * expected_losses[0]
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5)
    for actual, expected in zip(trained, expected_weights, strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    import numpy as np

    spec = importlib.util.spec_from_file_location("generated_lstm", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5, 4)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None].astype("float32")
    results = {"replicas": strategy.num_replicas_in_sync}
    weights = None
    for name, layer_class in (("keras", keras.layers.LSTM), ("ours", module.LAYER)):
        with strategy.scope():
            model = keras.Sequential(
                [keras.Input((5, 4)), layer_class(5), keras.layers.Dense(1)]
            )
            weights = weights or model.get_weights()
            model.set_weights(weights)
            model.compile(keras.optimizers.SGD(0.05), "mse")
        history = model.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=0)
        results[name] = history.history["loss"]
    print(json.dumps(results))
    """
)


def test_trains_under_mirrored_strategy_on_two_cpus():
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(GENERATED_TF / "lstm.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    assert results["replicas"] == 2
    assert results["ours"][-1] < results["ours"][0]
    np.testing.assert_allclose(results["ours"], results["keras"], rtol=1e-4)


@pytest.mark.parametrize(("variant", "value"), [("gru", True), ("gru_reset_before", False)])
def test_gru_layers_take_the_reset_after_they_reproduce(variant, value):
    module = load(variant)
    layer = module.LAYER(UNITS, reset_after=value)
    assert layer.get_config()["reset_after"] is value
    assert module.LAYER.from_config(layer.get_config()).cell.reset_after is value
    with pytest.raises(ValueError, match=f"reset_after must be {value}.*got {not value}"):
        module.LAYER(UNITS, reset_after=not value)
    # The weights are those of keras.layers.GRU with that reset_after.
    reference = keras.layers.GRU(UNITS, reset_after=value)
    for built in (layer, reference):
        built.build((None, None, FEATURES))
    assert [w.shape for w in layer.weights] == [w.shape for w in reference.weights]
