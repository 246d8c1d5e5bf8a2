"""The language's element-wise functions: printed calls, derivatives vs TensorFlow's gradient
kernels at kinks and ties, helpers in both dtypes, and whole cells through every check."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import tensorflow as tf

from lstmgen import activations as act
from lstmgen import emit
from lstmgen.activations import BINARY, UNARY, to_elementary
from lstmgen.lang import parse_expression
from lstmgen.printers import _AS_TENSORS, CellPrinter, _helper_source
from lstmgen.specfile import load_spec
from lstmgen.verify import Shapes, autodiff_check, exact_check, load_module, numeric_check

A, B, D = sp.symbols("a_i b d_h")
X, Y = sp.symbols("x y")


@pytest.mark.parametrize(
    ("expr", "numpy", "tf"),
    [
        (act.Exponential(A), "_exponential(a_i)", None),
        (act.NaturalLog(A), "_log(a_i)", None),
        (act.SquareRoot(A), "_sqrt(a_i)", None),
        (act.AbsoluteValue(A), "_abs(a_i)", None),
        (D * act.AbsGrad(A), "d_h * _abs_grad(a_i)", None),
        (act.LogSigmoid(A), "_log_sigmoid(a_i)", None),
        (D * act.LogSigmoidGrad(B), "d_h * _log_sigmoid_grad(b)", None),
        (act.StopGradient(A + B), "_stop_gradient(a_i + b)", None),
        (act.Maximum(A, B + 1), "_maximum(a_i, b + 1)", None),
        (act.Minimum(A, sp.Rational(1, 2)), "_minimum(a_i, 1 / 2)", None),
        (D * act.AtLeast(A, B), "d_h * _at_least(a_i, b)", None),
        (D * (1 - act.AtMost(A, B)), "d_h * (1 - _at_most(a_i, b))", None),
        (A**-2, "1 / a_i**2", "1 / tf.square(a_i)"),
        (B - A, "b - a_i", None),  # one subtraction, not a negation and an addition
        (D * (B - A - 1), "d_h * (b - a_i - 1)", None),
        (D / A**3, "d_h / a_i**3", None),
        (A**8, "a_i**8", None),
        (sp.Integer(10) ** 300 * A, "1e+300 * a_i", None),
        (act.Clip(A, -(sp.Integer(10) ** 300), 10**300), "_clip(a_i, -1e+300, 1e+300)", None),
        (A / sp.Integer(10) ** 300, "(1e-300) * a_i", None),
        (sp.Rational(2**60 + 1, 3) * A, "(3.843071682022823e+17) * a_i", None),
    ],
)
def test_exact_strings(expr, numpy, tf):
    assert CellPrinter("numpy").doprint(expr) == numpy
    assert CellPrinter("tf").doprint(expr) == (tf or numpy)


def test_helper_sources():
    assert _helper_source(act.LogSigmoid, "numpy") == (
        "def _log_sigmoid(x):",
        '    """log(sigmoid(x)) = -softplus(-x), overflow-free for any |x|."""',
        "    return -np.logaddexp(0, -x)",
    )
    assert _helper_source(act.LogSigmoid, "tf")[-1] == "    return tf.math.log_sigmoid(x)"
    assert _helper_source(act.StopGradient, "numpy")[-1] == "    return x"
    assert _helper_source(act.StopGradient, "tf")[-1] == "    return tf.stop_gradient(x)"
    assert _helper_source(act.Maximum, "numpy")[-1] == "    return np.maximum(a, b)"
    assert _helper_source(act.Maximum, "tf")[-1] == "    return tf.maximum(*_as_tensors(a, b))"
    assert _helper_source(act.AbsGrad, "numpy")[-1] == "    return np.sign(x)"
    assert _helper_source(act.NaturalLog, "numpy")[1:] == (
        '    """Natural logarithm; nan below 0 and -inf at 0, as in TensorFlow."""',
        '    with np.errstate(divide="ignore", invalid="ignore"):',
        "        return np.log(x)",
    )


def test_language_names():
    names = {"x": X, "y": Y}
    parse = lambda text: parse_expression(text, names, {})  # noqa: E731
    assert parse("exp(x) + log(y)") == act.Exponential(X) + act.NaturalLog(Y)
    assert parse("max(x, y * 2) - min(x, 1)") == act.Maximum(X, 2 * Y) - act.Minimum(X, 1)
    assert parse("sqrt(abs(x)) * stop_gradient(y)") == act.SquareRoot(
        act.AbsoluteValue(X)
    ) * act.StopGradient(Y)
    assert parse("log_sigmoid(x)**2 + x**-8") == act.LogSigmoid(X) ** 2 + X**-8
    assert parse("x**0 + x**1") == 1 + X
    assert parse("exp(0) + sqrt(4)") == 3  # functions of numbers evaluate at once
    assert set(UNARY) == {"exp", "log", "sqrt", "abs", "log_sigmoid", "stop_gradient"}
    assert set(BINARY) == {"max", "min"}


# --- derivatives at kinks and ties vs TensorFlow's gradient kernels ------------------------

POINTS = {
    "exp": [-30.0, -1.0, 0.0, 0.5, 3.0],
    "log": [1e-3, 0.25, 1.0, 7.0],
    "sqrt": [1e-3, 0.25, 1.0, 7.0],
    "abs": [-2.0, -1e-3, 0.0, 1e-3, 2.0],
    "log_sigmoid": [-40.0, -5.0, -1.0, 0.0, 1.0, 5.0, 40.0],
    "stop_gradient": [-2.0, 0.0, 3.0],
}
TF_OF = {
    "exp": tf.exp,
    "log": tf.math.log,
    "sqrt": tf.sqrt,
    "abs": tf.abs,
    "log_sigmoid": tf.math.log_sigmoid,
    "stop_gradient": tf.stop_gradient,
    "max": tf.maximum,
    "min": tf.minimum,
}


def _exact(expr, point):
    return float(to_elementary(expr.xreplace(point)).evalf(30))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_derivative_matches_tensorflow(name):
    x = tf.constant(POINTS[name], dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = TF_OF[name](x)
    want_value, want_grad = np.asarray(y), np.asarray(tape.gradient(y, x))
    if want_grad.dtype == object or want_grad.shape == ():  # stop_gradient: None
        want_grad = np.zeros_like(want_value)
    expr = UNARY[name](X)
    grad = sp.diff(expr, X)
    for k, p in enumerate(POINTS[name]):
        point = {X: sp.Float(p, 30)}
        assert _exact(expr, point) == pytest.approx(want_value[k], rel=1e-14, abs=1e-300)
        assert _exact(grad, point) == pytest.approx(want_grad[k], rel=1e-14, abs=1e-300)


def test_stop_gradient_has_zero_derivative():
    assert sp.diff(act.StopGradient(X**2 + Y), X) == 0


PAIRS = [(-1.0, 2.0), (2.0, -1.0), (0.0, 0.0), (1.5, 1.5), (-3.0, -3.0), (0.5, 0.25)]


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_derivatives_give_ties_to_the_first_argument_as_tensorflow(name):
    a = tf.constant([p[0] for p in PAIRS], dtype=tf.float64)
    b = tf.constant([p[1] for p in PAIRS], dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch([a, b])
        y = TF_OF[name](a, b)
    want_a, want_b = (np.asarray(g) for g in tape.gradient(y, [a, b]))
    assert want_a[2] == want_a[3] == 1 and want_b[2] == 0  # ties: all to the first
    expr = BINARY[name](X, Y)
    d_a, d_b = sp.diff(expr, X), sp.diff(expr, Y)
    for k, (p, q) in enumerate(PAIRS):
        point = {X: sp.Float(p, 30), Y: sp.Float(q, 30)}
        assert _exact(expr, point) == np.asarray(y)[k]
        assert _exact(d_a, point) == want_a[k]
        assert _exact(d_b, point) == want_b[k]
    # The same argument twice: the derivative is 1, as TF's (1 + 0).
    assert _exact(sp.diff(BINARY[name](X, X), X), {X: sp.Float(0.5, 30)}) == 1


# --- the printed helpers, in both targets and dtypes -----------------------------------------


def _helper(cls, target):
    namespace = {"np": np, "tf": tf}
    exec("\n".join(_AS_TENSORS), namespace)
    exec("\n".join(_helper_source(cls, target)), namespace)
    return namespace[_helper_source(cls, target)[0][4:].split("(")[0]]


def _run(cls, target, *args):
    def wrap(value):  # arrays as the target's arrays; Python numbers stay numbers
        return tf.constant(value) if target == "tf" and isinstance(value, np.ndarray) else value

    return np.asarray(_helper(cls, target)(*(wrap(a) for a in args)))


GRAD_OF = {  # unary function -> (gradient class, whether it reads the output)
    "abs": (act.AbsGrad, False),
    "log_sigmoid": (act.LogSigmoidGrad, True),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("target", ["numpy", "tf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unary_helpers_match_tensorflow(name, target, dtype):
    x = np.array(POINTS[name], dtype)
    with tf.GradientTape() as tape:
        t = tf.constant(x)
        tape.watch(t)
        want = TF_OF[name](t)
    y = _run(UNARY[name], target, x)
    assert y.dtype == dtype
    rtol = 1e-15 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(y, np.asarray(want), rtol=rtol)
    if name in GRAD_OF:
        cls, through_output = GRAD_OF[name]
        g = _run(cls, target, y if through_output else x)
        assert g.dtype == dtype
        np.testing.assert_allclose(g, np.asarray(tape.gradient(want, t)), rtol=4 * rtol)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("target", ["numpy", "tf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_helpers_match_tensorflow(name, target, dtype):
    a = np.array([p[0] for p in PAIRS], dtype)
    b = np.array([p[1] for p in PAIRS], dtype)
    with tf.GradientTape() as tape:
        ta, tb = tf.constant(a), tf.constant(b)
        tape.watch([ta, tb])
        want = TF_OF[name](ta, tb)
    want_a = np.asarray(tape.gradient(want, ta))
    grad = {"max": act.AtLeast, "min": act.AtMost}[name]
    np.testing.assert_array_equal(_run(BINARY[name], target, a, b), np.asarray(want))
    np.testing.assert_array_equal(_run(grad, target, a, b), want_a)
    for args in ((a, b), (a, 0.5), (0.5, b)):  # a Python number on either side
        value = _run(BINARY[name], target, *args)
        g = _run(grad, target, *args)
        assert value.dtype == g.dtype == dtype
        want_g = [1.0 if g_ else 0.0 for g_ in np.asarray(_exact_indicator(name, *args))]
        np.testing.assert_array_equal(g, want_g)


def _exact_indicator(name, a, b):
    return np.greater_equal(a, b) if name == "max" else np.less_equal(a, b)


def test_large_inputs_do_not_warn():
    big = np.array([-1e4, -800.0, -30.0, 0.0, 30.0, 800.0, 1e4], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        y = _run(act.LogSigmoid, "numpy", big)
        assert np.all(np.isfinite(y))
        g = _run(act.LogSigmoidGrad, "numpy", y)
        np.testing.assert_allclose(g, [1, 1, 1, 0.5, 9.357623e-14, 0, 0], rtol=1e-6)
        assert np.isinf(_run(act.Exponential, "numpy", big)[-1])  # inf like TF, no warning
        assert np.isnan(_run(act.NaturalLog, "numpy", big)[0])
        assert np.isnan(_run(act.SquareRoot, "numpy", big)[0])
        assert _run(act.NaturalLog, "numpy", big)[3] == -np.inf


# --- whole cells: every new function through the exact, numeric and autodiff checks ----------

SLSTM = """\
name = "xlstm_slstm"
summary = "xLSTM sLSTM cell: exponential gating with a log-domain stabilizer m"
blocks = ["i", "f", "z", "o"]
states = ["h", "c", "n", "m"]

[equations]
lf = "m_tm1 + log_sigmoid(a_f)"
m = "max(a_i, lf)"
i = "exp(a_i - m)"
f = "exp(lf - m)"
c = "f * c_tm1 + i * tanh(a_z)"
n = "f * n_tm1 + i"
h = "sigmoid(a_o) * c / n"
"""

# A softmax stabilized by stop_gradient(max(...)): its value does not depend on s, so finite
# differences of the forward agree with the derived backward.
MISC = """\
name = "misc"
blocks = ["z", "h"]
states = ["h", "c"]

[equations]
s = "stop_gradient(max(a_z, a_h))"
p = "exp(a_z - s) / (exp(a_z - s) + exp(a_h - s))"
r = "sqrt(1 + c_tm1**2) - abs(a_h) / 4"
q = "log(1 + a_z**2) + min(a_h, h_tm1) * (1 + h_tm1**2)**-2"
c = "p * r + (1 - p) * q"
h = "tanh(c) + 0.5 * log_sigmoid(c_tm1)"
"""


@pytest.mark.parametrize("text", [SLSTM, MISC], ids=["slstm", "misc"])
def test_cells_with_every_new_function_pass_every_check(tmp_path, text):
    path = tmp_path / "cell.toml"
    path.write_text(text)
    spec = load_spec(path)
    assert numeric_check(spec).status == "PASS"
    assert autodiff_check(spec).status == "PASS"
    assert exact_check(spec, shapes=Shapes(time=2)).status == "PASS"
    # The NumPy and TF modules agree, forward and backward.
    numpy_module = load_module(emit.build(spec, "numpy"), f"test_functions_np_{spec.name}")
    tf_module = load_module(emit.build(spec, "tf"), f"test_functions_tf_{spec.name}")
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s) * 0.5 for k, s in numpy_module.param_shapes(3, 4).items()}
    x = rng.normal(size=(2, 5, 3))
    d_outputs = rng.normal(size=(2, 5, 4))
    outputs, _, tape = numpy_module.forward(params, x)
    tf_outputs, _, tf_tape = tf_module.forward(params, x)
    np.testing.assert_allclose(np.asarray(tf_outputs), outputs, rtol=1e-12, atol=1e-12)
    d_params, d_x, _ = numpy_module.backward(params, tape, d_outputs)
    tf_d_params, tf_d_x, _ = tf_module.backward(params, tf_tape, d_outputs)
    np.testing.assert_allclose(np.asarray(tf_d_x), d_x, rtol=1e-10, atol=1e-12)
    for name in numpy_module.PARAM_NAMES:
        np.testing.assert_allclose(
            np.asarray(tf_d_params[name]), d_params[name], rtol=1e-10, atol=1e-12
        )
