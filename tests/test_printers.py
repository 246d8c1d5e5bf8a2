from __future__ import annotations

import pytest
import sympy as sp

from lstmgen import activations as act
from lstmgen.printers import HELPERS, CellPrinter, _helper_source, jax_body

A, B = sp.symbols("a_i d_h")


@pytest.mark.parametrize(
    ("expr", "numpy", "tf"),
    [
        (act.Sigmoid(A), "_sigmoid(a_i)", "_sigmoid(a_i)"),
        (
            B * act.HardSigmoidGrad(A),
            "d_h * _hard_sigmoid_grad(a_i)",
            "d_h * _hard_sigmoid_grad(a_i)",
        ),
        (B * (1 - A**2), "d_h * (1 - a_i**2)", "d_h * (1 - tf.square(a_i))"),
        (B / (1 + sp.Abs(A)), "d_h / (np.abs(a_i) + 1)", "d_h / (tf.abs(a_i) + 1)"),
        (1 / A, "1 / a_i", "1 / a_i"),
        (sp.Rational(1, 6) * B, "(1 / 6) * d_h", "(1 / 6) * d_h"),
        ((1 - sp.Abs(A)) ** 2, "(1 - np.abs(a_i))**2", "tf.square(1 - tf.abs(a_i))"),
        (act.Clip(A + B, -3, 3), "_clip(a_i + d_h, -3, 3)", "_clip(a_i + d_h, -3, 3)"),
        (
            B * act.ClipGrad(A, sp.Rational(-5, 2), sp.Rational(5, 2)),
            "d_h * _clip_grad(a_i, -2.5, 2.5)",
            "d_h * _clip_grad(a_i, -2.5, 2.5)",
        ),
        (act.Clip(A, sp.Rational(-3, 10), 1), "_clip(a_i, -0.3, 1)", "_clip(a_i, -0.3, 1)"),
    ],
)
def test_exact_strings(expr, numpy, tf):
    assert CellPrinter("numpy").doprint(expr) == numpy
    assert CellPrinter("tf").doprint(expr) == tf


def test_unsupported_nodes_raise():
    with pytest.raises(TypeError, match="Cannot print power"):
        CellPrinter("numpy").doprint(sp.sqrt(A))
    with pytest.raises(TypeError, match="No numpy printer for function"):
        CellPrinter("numpy").doprint(sp.Function("mystery")(A))
    with pytest.raises(Exception):  # noqa: B017 - strict printing of Heaviside
        CellPrinter("numpy").doprint(sp.Heaviside(A))


def test_clip_helper_sources():
    assert _helper_source(act.Clip, "numpy") == (
        "def _clip(x, lo, hi):",
        '    """min(max(x, lo), hi) for numeric bounds, in the dtype of x."""',
        "    return np.clip(x, lo, hi)",
    )
    assert _helper_source(act.Clip, "tf")[-1] == "    return tf.clip_by_value(x, lo, hi)"
    assert _helper_source(act.ClipGrad, "numpy") == (
        "def _clip_grad(x, lo, hi):",
        '    """clip\' through x: 1 where lo <= x <= hi, 0 only outside (TF clip_by_value)."""',
        "    return ((x >= lo) & (x <= hi)).astype(x.dtype)",
    )
    assert _helper_source(act.ClipGrad, "tf")[-1] == (
        "    return tf.cast((x >= lo) & (x <= hi), x.dtype)"
    )


def test_jax_prints_jnp_and_derives_helpers_from_numpy():
    assert CellPrinter("jax").doprint(B / (1 + sp.Abs(A))) == "d_h / (jnp.abs(a_i) + 1)"
    assert _helper_source(act.Clip, "jax")[-1] == "    return jnp.clip(x, lo, hi)"
    assert _helper_source(act.AtLeast, "jax")[-1] == (
        "    return jnp.greater_equal(a, b).astype(jnp.result_type(a, b))"
    )
    # NumPy bodies that write in place or silence warnings have JAX bodies of their own.
    assert _helper_source(act.Sigmoid, "jax") == (
        "def _sigmoid(x):",
        '    """Logistic sigmoid, overflow-free for any |x|."""',
        "    return 0.5 * jnp.tanh(0.5 * x) + 0.5",
    )
    assert jax_body(act.Exponential) == "jnp.exp(x)"
    assert jax_body(act.StopGradient) == "jax.lax.stop_gradient(x)"
    for cls in HELPERS:
        body = jax_body(cls)
        assert "np." not in body.replace("jnp.", "") and "out=" not in body, cls
        assert "errstate" not in body and "+=" not in body and "*=" not in body, cls
