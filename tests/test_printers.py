from __future__ import annotations

import pytest
import sympy as sp

from lstmgen import activations as act
from lstmgen.printers import CellPrinter

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
        (B * (1 - A**2), "d_h * (1 - a_i**2)", "d_h * (1 - a_i**2)"),
        (B / (1 + sp.Abs(A)), "d_h / (np.abs(a_i) + 1)", "d_h / (tf.abs(a_i) + 1)"),
        (1 / A, "1 / a_i", "1 / a_i"),
        (sp.Rational(1, 6) * B, "(1 / 6) * d_h", "(1 / 6) * d_h"),
        ((1 - sp.Abs(A)) ** 2, "(1 - np.abs(a_i))**2", "(1 - tf.abs(a_i))**2"),
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
