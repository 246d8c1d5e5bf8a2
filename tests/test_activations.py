"""Activations and their declared derivatives against Keras/TensorFlow, kinks included."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import sympy as sp
import tensorflow as tf
from sympy.core.function import ArgumentIndexError

from lstmgen import activations as act
from lstmgen.activations import ACTIVATIONS, to_elementary
from lstmgen.printers import HELPERS, CellPrinter
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


# --- clip(x, lo, hi): not an activation, but a function of the language with numeric bounds ---

CLIP_BOUNDS = [(-3, 3), (sp.Rational(-5, 2), sp.Rational(5, 2)), (sp.Rational(-3, 10), 1)]


def _clip_points(lo, hi, dtype=np.float64):
    """Both bounds exactly (as ``dtype`` holds them), the ``dtype`` values just inside and
    outside them, and the middle."""
    lo, hi, up = dtype(lo), dtype(hi), dtype(9)
    points = [lo - 1, np.nextafter(lo, -up), lo, np.nextafter(lo, up), (lo + hi) / 2,
              np.nextafter(hi, -up), hi, np.nextafter(hi, up), hi + 1]  # fmt: skip
    return np.array(points, dtype)


def _tf_clip_value_and_grad(points, lo, hi, dtype):
    x = tf.constant(points, dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.clip_by_value(x, tf.constant(float(lo), dtype), tf.constant(float(hi), dtype))
    return np.asarray(y), np.asarray(tape.gradient(y, x))


@pytest.mark.parametrize(("lo", "hi"), CLIP_BOUNDS)
def test_clip_gradient_matches_tf_clip_by_value_at_the_bounds(lo, hi):
    points = _clip_points(lo, hi)
    tf_value, tf_grad = _tf_clip_value_and_grad(points, lo, hi, tf.float64)
    assert tf_grad[2] == tf_grad[6] == 1  # TF passes the gradient at the bounds themselves
    expr = act.Clip(X, lo, hi)
    grad = sp.diff(expr, X)
    assert grad == act.ClipGrad(X, lo, hi)
    for k, p in enumerate(points):
        point = {X: sp.Float(p, 30)}
        assert float(to_elementary(expr.xreplace(point)).evalf(30)) == tf_value[k]
        assert float(to_elementary(grad.xreplace(point)).evalf(30)) == tf_grad[k]
        assert float(expr.xreplace(point)) == tf_value[k]  # numbers evaluate at once
        assert grad.xreplace(point).is_Integer and float(grad.xreplace(point)) == tf_grad[k]


@pytest.mark.parametrize(("lo", "hi"), CLIP_BOUNDS)
@pytest.mark.parametrize("target", ["numpy", "tf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_helpers_match_tf_clip_by_value_in_both_dtypes(lo, hi, target, dtype):
    # The bounds as the printer writes them into the generated call.
    printed = act.Clip(X, lo, hi)
    args = CellPrinter(target).doprint(printed)[len("_clip(x, ") : -1].split(", ")
    bounds = [float(eval(a)) for a in args]  # noqa: S307 - "-3", "-2.5", "-0.3": literals
    assert bounds == [float(lo), float(hi)]
    points = _clip_points(lo, hi, dtype)
    assert len(set(points.tolist())) == len(points)  # one ulp off each bound stays off it
    want_value, want_grad = _tf_clip_value_and_grad(points, lo, hi, tf.as_dtype(dtype))
    wrap = (lambda a: a) if target == "numpy" else tf.constant
    bounds = [int(b) if b.is_integer() else b for b in bounds]
    value = np.asarray(_helper(act.Clip, target)(wrap(points), *bounds))
    grad = np.asarray(_helper(act.ClipGrad, target)(wrap(points), *bounds))
    assert value.dtype == grad.dtype == dtype
    np.testing.assert_array_equal(value, want_value)
    np.testing.assert_array_equal(grad, want_grad)


def test_clip_bounds_must_be_numbers():
    with pytest.raises(ValueError, match="bounds must be numbers"):
        act.Clip(X, sp.Symbol("lo"), 1)
    with pytest.raises(ValueError, match="lo < hi"):
        act.Clip(X, 1, -1)
    with pytest.raises(ArgumentIndexError):
        act.Clip(X, -1, 1).fdiff(2)
    assert "clip" not in ACTIVATIONS and act.FUNCTIONS == {"clip": act.Clip}
