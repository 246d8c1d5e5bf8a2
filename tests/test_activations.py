"""Activations and their declared derivatives against Keras/TensorFlow, kinks included."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import sympy as sp
import tensorflow as tf

from lstmgen.activations import ACTIVATIONS, to_elementary
from lstmgen.printers import HELPERS
from lstmgen.verify import keras_activation

POINTS = np.array([-7.0, -5.0, -3.0, -2.5, -1.0, -0.25, 0.0, 0.25, 1.0, 2.5, 3.0, 5.0, 6.0, 7.0])
X = sp.Symbol("x")


def _tf_value_and_grad(name):
    x = tf.constant(POINTS, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = keras_activation(name)(x)
    return np.asarray(y), np.asarray(tape.gradient(y, x))


def _sympy_value_and_grad(name):
    expr = ACTIVATIONS[name](X)
    grad = sp.diff(expr, X)
    values, grads = [], []
    for p in POINTS:
        point = {X: sp.Float(p, 30)}
        values.append(float(to_elementary(expr.xreplace(point)).evalf(30)))
        grads.append(float(to_elementary(grad.xreplace(point)).evalf(30)))
    return np.array(values), np.array(grads)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_declared_derivative_matches_tensorflow_at_kinks(name):
    tf_value, tf_grad = _tf_value_and_grad(name)
    value, grad = _sympy_value_and_grad(name)
    np.testing.assert_allclose(value, tf_value, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, tf_grad, rtol=1e-12, atol=1e-12)


def _helper(cls, target):
    name, arg, _, numpy_body, tf_body = HELPERS[cls]
    namespace = {
        "np": np,
        "tf": tf,
        "_SELU_SCALE": 1.0507009873554805,
        "_SELU_ALPHA": 1.6732632423543772,
    }
    body = numpy_body if target == "numpy" else tf_body
    lines = body.split("\n") if "return" in body else [f"return {body}"]
    exec(f"def {name}({arg}):\n" + "".join(f"    {line}\n" for line in lines), namespace)
    return namespace[name]


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"linear"}))
@pytest.mark.parametrize("target", ["numpy", "tf"])
def test_printed_helpers_match_keras_in_both_dtypes(name, target):
    cls = ACTIVATIONS[name]
    forward = _helper(cls, target)
    grad_expr = sp.diff(cls(X), X)
    grad_cls = type(grad_expr) if type(grad_expr) in HELPERS else None
    for dtype, rtol in ((np.float64, 1e-14), (np.float32, 2e-6)):
        x = POINTS.astype(dtype)
        y = np.asarray(forward(x if target == "numpy" else tf.constant(x)))
        assert y.dtype == dtype
        want = np.asarray(keras_activation(name)(tf.constant(x)))
        np.testing.assert_allclose(y, want, rtol=rtol, atol=rtol)
        if grad_cls is not None:
            # Gradient helpers take the output (through-output kinds) or the input.
            arg = y if grad_expr.args[0] == cls(X) else x
            g = np.asarray(
                _helper(grad_cls, target)(arg if target == "numpy" else tf.constant(arg))
            )
            assert g.dtype == dtype
            _, tf_grad = _tf_value_and_grad(name)
            np.testing.assert_allclose(g, tf_grad, rtol=10 * rtol, atol=10 * rtol)


def test_large_inputs_do_not_overflow():
    big = np.array([-1e4, -800.0, 800.0, 1e4], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for cls in ACTIVATIONS.values():
            if cls in HELPERS and cls.__name__ != "Exponential":
                assert np.all(np.isfinite(_helper(cls, "numpy")(big)))
    keras.backend.clear_session()
