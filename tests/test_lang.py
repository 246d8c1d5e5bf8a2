from __future__ import annotations

import pytest
import sympy as sp

from lstmgen.activations import Sigmoid
from lstmgen.lang import ExpressionError, parse_expression

X, Y = sp.symbols("x y")
NAMES = {"x": X, "y": Y}
FUNCS = {"sigmoid": Sigmoid}


def parse(text):
    return parse_expression(text, NAMES, FUNCS)


def test_arithmetic_and_calls():
    assert parse("x * y + 2 - x / 4") == X * Y + 2 - X / 4
    assert parse("-(x + 1)") == -(X + 1)
    assert parse("sigmoid(x * y)") == Sigmoid(X * Y)
    assert parse("0.2 * x") == sp.Rational(1, 5) * X


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("z + 1", "unknown name 'z'"),
        ("exp(x)", "unknown function 'exp'"),
        ("x ** 2", "unsupported syntax Pow"),
        ("x.real", "unsupported syntax Attribute"),
        ("__import__('os').system('true')", "unknown function"),
        ("(lambda: 1)()", "unknown function"),
        ("sigmoid(x, y)", "exactly one argument"),
        ("x if y else x", "unsupported syntax IfExp"),
        ("'text'", "unsupported syntax Constant"),
        ("x +", "syntax error"),
        ("x < y", "unsupported syntax Compare"),
    ],
)
def test_rejects_everything_outside_the_language(text, message):
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(")):
        parse(text)
