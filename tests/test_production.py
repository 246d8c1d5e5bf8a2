"""The generated Keras layers on the production path: export, TFLite, checkpoints that know
their cell, and ``keras.layers.LSTM`` / ``GRU`` arguments taken as a drop-in would.

One LSTM-family layer (``lstm_hard_sigmoid``) and one GRU-family layer (``gru``), each
behind a ``Masking`` layer with padded sequences, so that the mask path is exported too.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from generated_modules import GENERATED
from tf_helpers import load

from lstmgen import emit
from lstmgen.specfile import load_spec
from lstmgen.verify import load_module

FEATURES, UNITS, TIME = 3, 4, 6
FAMILIES = ["lstm_hard_sigmoid", "gru"]


def masked_model(variant):
    """Masking -> generated layer -> Dense, float32, with fixed random weights."""
    inputs = keras.Input((TIME, FEATURES))
    hidden = load(variant).LAYER(UNITS)(keras.layers.Masking()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(0.0, 0.5, w.shape) for w in model.get_weights()])
    return model


def padded_batch():
    """Three sequences; the second and third end early (zero padding is masked)."""
    data = np.random.default_rng(0).normal(size=(3, TIME, FEATURES)).astype("float32")
    data[1, 4:] = 0.0
    data[2, 2:] = 0.0
    return data


@pytest.mark.parametrize("variant", FAMILIES)
def test_export_with_default_options_serves_what_predict_gives(variant, tmp_path):
    model = masked_model(variant)
    data = padded_batch()
    expected = model.predict(data, verbose=0)
    model.export(str(tmp_path / "served"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "served"))
    served = loaded.serve(tf.constant(data)).numpy()
    np.testing.assert_allclose(served, expected, rtol=1e-6, atol=1e-6)
    # Any batch size: the signature keeps the batch axis free.
    np.testing.assert_allclose(
        loaded.serve(tf.constant(data[:1])).numpy(), expected[:1], rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("variant", FAMILIES)
def test_tflite_conversion_runs_and_matches_predict(variant, tmp_path):
    """A fixed-size signature, as TFLite models have, converts with builtin ops only."""
    model = masked_model(variant)
    data = padded_batch()
    expected = model.predict(data, verbose=0)
    signature = [tf.TensorSpec(data.shape, tf.float32)]
    model.export(str(tmp_path / "fixed"), verbose=False, input_signature=signature)
    converted = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "fixed")).convert()
    interpreter = tf.lite.Interpreter(model_content=converted)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], data)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_inference_gradient_is_tensorflows_and_agrees_with_the_backward():
    """Outside training the layer runs the plain forward (what export traces); its
    TensorFlow gradient agrees with the generated backward of the training path."""
    layer = load("lstm").LAYER(UNITS, return_sequences=True, dtype="float64")
    x = tf.constant(np.random.default_rng(1).normal(size=(2, TIME, FEATURES)))
    gradients = {}
    for training in (True, False):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=training) ** 2)
        gradients[training] = tape.gradient(loss, [x, *layer.trainable_weights])
    for trained, inferred in zip(gradients[True], gradients[False], strict=True):
        np.testing.assert_allclose(inferred, trained, rtol=1e-10, atol=1e-12)


# --- fingerprints ------------------------------------------------------------------------

UGRNN = """
name = "{name}"
class_name = "{class_name}"
blocks = ["g", "c"]
states = ["h"]

[equations]
g = "sigmoid(a_g{bias})"
c = "tanh(a_c)"
h = "g * h_tm1 + (1 - g) * c"
"""


def spec_module(tmp_path, name, class_name, bias="", target="tf"):
    path = tmp_path / f"{name}{len(bias)}.toml"
    path.write_text(UGRNN.format(name=name, class_name=class_name, bias=bias))
    spec = load_spec(path)
    return load_module(emit.build(spec, target), f"{name}_{len(bias)}_{target}")


@pytest.mark.parametrize("target", ["numpy", "tf"])
def test_every_generated_file_carries_its_fingerprint(target):
    for path in sorted((GENERATED / target).glob("*.py")):
        header = path.read_text().splitlines()[:4]
        found = [re.fullmatch(r"# Equations fingerprint: ([0-9a-f]{16})", line) for line in header]
        assert any(found), path
        if target == "tf":
            value = next(m[1] for m in found if m)
            assert f'FINGERPRINT = "{value}"' in path.read_text(), path


def test_fingerprint_follows_the_equations_not_their_spelling(tmp_path):
    plain = spec_module(tmp_path, "fp_cell", "FpCell", target="numpy")
    biased = spec_module(tmp_path, "fp_cell", "FpCell", bias=" + 1", target="numpy")
    assert plain.FINGERPRINT != biased.FINGERPRINT
    reordered = tmp_path / "reordered.toml"
    reordered.write_text(
        UGRNN.format(name="fp_cell", class_name="FpCell", bias="").replace(
            "g * h_tm1 + (1 - g) * c", "(1 - g) * c + h_tm1 * g"
        )
    )
    spelled = load_module(emit.build(load_spec(reordered), "numpy"), "fp_reordered")
    assert spelled.FINGERPRINT == plain.FINGERPRINT


def test_two_cells_registering_one_name_is_an_import_error(tmp_path):
    spec_module(tmp_path, "twin_cell", "TwinCell")
    with pytest.raises(ImportError, match="lstmgen>TwinCell.*other equations"):
        spec_module(tmp_path, "twin_cell", "TwinCell", bias=" + 1")
    # The same equations again (a re-import) are fine.
    spec_module(tmp_path, "twin_cell", "TwinCell")


def test_a_checkpoint_refuses_to_load_into_other_equations(tmp_path):
    """A model saved with one UGRNN loads into another UGRNN (same class name, forget bias
    1) as an error naming both fingerprints, never silently."""
    saved_with = spec_module(tmp_path, "ugrnn_fp", "UgrnnFp")
    model = keras.Sequential([keras.Input((TIME, FEATURES)), saved_with.LAYER(UNITS)])
    model.save(tmp_path / "model.keras")
    registry = keras.saving.get_custom_objects()
    for name in ("UgrnnFp", "UgrnnFpCell"):  # what a fresh process would not have
        registry.pop(f"lstmgen>{name}")
    other = spec_module(tmp_path, "ugrnn_fp", "UgrnnFp", bias=" + 1")
    with pytest.raises(ValueError, match=f"{saved_with.FINGERPRINT}.*{other.FINGERPRINT}"):
        keras.saving.load_model(tmp_path / "model.keras")
    for name in ("UgrnnFp", "UgrnnFpCell"):
        registry.pop(f"lstmgen>{name}")
    reloaded = spec_module(tmp_path, "ugrnn_fp", "UgrnnFp")  # the right module loads
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    x = padded_batch()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert reloaded.FINGERPRINT == saved_with.FINGERPRINT


# --- drop-in arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"activation": "tanh", "recurrent_activation": "hard_sigmoid"},
        {"activation": keras.activations.tanh, "recurrent_activation": "hard_sigmoid"},
        {"implementation": 1},
        {"implementation": 2, "use_cudnn": "auto"},
        {"use_cudnn": False, "unroll": False},
    ],
)
def test_keras_arguments_with_the_computed_values_are_accepted(arguments):
    layer = load("lstm_hard_sigmoid").LAYER(UNITS, **arguments)
    assert layer(tf.zeros((2, TIME, FEATURES))).shape == (2, UNITS)


@pytest.mark.parametrize(
    "variant, arguments, message",
    [
        (
            "lstm_hard_sigmoid",
            {"activation": "relu"},
            "computes activation='tanh'.*lstmgen emit --target tf --activation relu "
            "--recurrent-activation hard_sigmoid",
        ),
        (
            "lstm",
            {"recurrent_activation": keras.activations.hard_sigmoid},
            "lstmgen emit --target tf --activation tanh --recurrent-activation hard_sigmoid",
        ),
        ("gru", {"activation": "relu"}, "variant 'gru' computes activation='tanh'.*spec file"),
        ("lstm_peephole", {"activation": "tanh"}, "takes no activation"),
        ("lstm", {"use_cudnn": True}, "never cuDNN"),
        ("lstm", {"unroll": True}, "unroll=True"),
        ("lstm", {"implementation": 3}, "implementation must be 1 or 2"),
    ],
)
def test_keras_arguments_with_other_values_are_refused(variant, arguments, message):
    with pytest.raises(ValueError, match=message):
        load(variant).LAYER(UNITS, **arguments)


@pytest.mark.parametrize(
    "variant, keras_arguments",
    [("lstm", {}), ("lstm_hard_sigmoid", {"recurrent_activation": "hard_sigmoid"})],
)
def test_a_trained_keras_lstm_moves_onto_the_generated_layer(variant, keras_arguments):
    reference = keras.layers.LSTM(UNITS, return_sequences=True, **keras_arguments)
    reference.build((None, TIME, FEATURES))
    layer = load(variant).LAYER.from_config(reference.get_config())
    layer.build((None, TIME, FEATURES))
    layer.set_weights(reference.get_weights())
    x = tf.constant(padded_batch())
    np.testing.assert_allclose(layer(x), reference(x), rtol=1e-5, atol=1e-6)


def test_gru_config_moves_onto_the_generated_layer():
    reference = keras.layers.GRU(UNITS, reset_after=True)
    layer = load("gru").LAYER.from_config(reference.get_config())
    assert layer.get_config()["activation"] == "tanh"


@pytest.mark.parametrize(
    "arguments",
    [
        {"recurrent_dropout": 0.2},
        {"recurrent_initializer": "orthogonal"},
        {"recurrent_regularizer": "l2"},
        {"recurrent_constraint": "non_neg"},
    ],
)
def test_a_cell_without_recurrent_kernel_refuses_its_arguments_by_name(arguments):
    (name,) = arguments
    with pytest.raises(ValueError, match=f"{name}.*'qrnn' has no recurrent kernel"):
        load("qrnn").LAYER(UNITS, **arguments)
    # dropout on the input still applies
    assert load("qrnn").LAYER(UNITS, dropout=0.2).cell.dropout == 0.2
