"""Shared helpers for the TensorFlow tests: load generated modules, build paired layers."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from generated_modules import GENERATED, load_generated, param_shapes, state_widths

from lstmgen.specfile import all_variants

SPECS = all_variants()

# On GPUs TensorFlow multiplies float32 matrices in TF32 by default (~1e-3 relative);
# the float32 comparisons below mean IEEE float32 on either side.
tf.config.experimental.enable_tensor_float_32_execution(False)

GENERATED_TF = GENERATED / "tf"
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


@keras.saving.register_keras_serializable(package="lstmgen_tests")
def keras2_hard_sigmoid(x):
    """Keras 2 / tf-keras hard_sigmoid, written independently of lstmgen (registered so
    that Bidirectional can copy a keras.layers.LSTM that uses it)."""
    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


# The stock Keras layer and its arguments that reproduce each variant with a counterpart.
KERAS_ARGUMENTS = {
    "lstm": ("LSTM", {}),
    "lstm_hard_sigmoid": ("LSTM", {"recurrent_activation": "hard_sigmoid"}),
    "lstm_hard_sigmoid_keras2": ("LSTM", {"recurrent_activation": keras2_hard_sigmoid}),
    "gru": ("GRU", {}),
    "gru_reset_before": ("GRU", {"reset_after": False}),
}
ALL_VARIANTS = tuple(sorted(SPECS))
KERAS_VARIANTS = tuple(sorted(KERAS_ARGUMENTS))


def load(variant: str):
    """The committed ``generated/tf/<variant>.py``, imported once per session (a second
    import would register its Keras classes again under the same names)."""
    return load_generated("tf", variant)


def keras_layer(variant: str, units: int, **kwargs):
    """The stock ``keras.layers.LSTM`` / ``GRU`` configured as ``variant``."""
    name, arguments = KERAS_ARGUMENTS[variant]
    return getattr(keras.layers, name)(units, **arguments, **kwargs)


def keras_cell(variant: str, units: int, **kwargs):
    """The stock ``keras.layers.LSTMCell`` / ``GRUCell`` configured as ``variant``."""
    name, arguments = KERAS_ARGUMENTS[variant]
    return getattr(keras.layers, f"{name}Cell")(units, **arguments, **kwargs)


def initial_states(variant: str, batch: int, units: int, dtype="float64"):
    """One (batch, width) tensor per state of ``variant`` (seeds 5, 6, ...)."""
    widths = state_widths(load(variant), units)
    return [inputs(1, batch, w, dtype, seed=5 + k)[0] for k, w in enumerate(widths)]


def random_params(module, input_dim, units, dtype, seed=0):
    """Every parameter of a generated module (``PARAM_NAMES``), non-trivial entries."""
    rng = np.random.default_rng(seed)
    shapes = param_shapes(module, input_dim, units)
    return {name: tf.constant(rng.normal(0.0, 0.5, shapes[name]), dtype) for name in shapes}


def random_weights(input_dim, units, seed=0, use_bias=True, variant="lstm"):
    """Keras-layout weights of ``variant`` with every entry non-trivial (bias included)."""
    rng = np.random.default_rng(seed)
    shapes = load(variant).param_shapes(input_dim, units)
    names = ("kernel", "recurrent_kernel", "bias") if use_bias else ("kernel", "recurrent_kernel")
    return [rng.normal(0.0, 0.5, shapes[name]) for name in names]


def paired_layers(variant, units, input_dim, dtype="float64", weights_seed=0, **kwargs):
    """(stock Keras layer, generated layer), built for ``input_dim`` with equal weights;
    ``kwargs`` go to both layers."""
    reference = keras_layer(variant, units, dtype=dtype, **kwargs)
    ours = load(variant).LAYER(units, dtype=dtype, **kwargs)
    for layer in (reference, ours):
        layer.build((None, None, input_dim))
    weights = random_weights(
        input_dim, units, weights_seed, kwargs.get("use_bias", True), variant=variant
    )
    reference.set_weights(weights)
    ours.set_weights(weights)
    return reference, ours


def inputs(batch, time, features, dtype="float64", seed=1):
    """A (batch, time, features) tensor from ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return tf.constant(rng.normal(0.0, 1.0, (batch, time, features)), dtype=dtype)


def loss_weights(shape, dtype, seed=2):
    """Fixed random weights so that every output element gets its own adjoint."""
    rng = np.random.default_rng(seed)
    return tf.constant(rng.normal(0.0, 1.0, shape), dtype=dtype)


def outputs_and_gradients(layer, x, initial_state=None, **call_kwargs):
    """Call ``layer`` under a GradientTape; the loss weights every returned tensor.

    The call is a training call unless ``training`` is given: the generated layers' gradient
    is the generated backward in training, TensorFlow's autodiff of the forward otherwise.

    Returns:
        (outputs, gradients): outputs is the list the layer returned; gradients are
        w.r.t. x, each initial state, then every trainable weight.
    """
    watched = [x, *(initial_state or [])]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        call_kwargs.setdefault("training", True)
        result = layer(x, initial_state=initial_state, **call_kwargs)
        result = list(result) if isinstance(result, (list, tuple)) else [result]
        loss = sum(
            tf.reduce_sum(tf.cast(r, tf.float64) * loss_weights(r.shape, tf.float64, seed=k))
            for k, r in enumerate(result)
        )
    gradients = tape.gradient(loss, watched + list(layer.trainable_weights))
    return result, gradients


def relative_error(actual, expected) -> float:
    """max |actual - expected| / max |expected| (norm-wise, robust to zeros)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(actual - expected), initial=0.0)) / scale


def assert_all_close(actual, expected, tolerance, what=""):
    """Each pair of tensors agrees to ``tolerance`` relative error; returns the largest."""
    assert len(actual) == len(expected), (what, len(actual), len(expected))
    errors = [relative_error(a, e) for a, e in zip(actual, expected, strict=True)]
    assert max(errors, default=0.0) <= tolerance, (what, errors)
    return max(errors, default=0.0)
