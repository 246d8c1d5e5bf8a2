from __future__ import annotations

import re

import pytest
import sympy as sp

from lstmgen.activations import Clip, Sigmoid
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


def test_clip_with_numeric_bounds():
    assert parse("clip(x * y + 1, -3, 3)") == Clip(X * Y + 1, -3, 3)
    assert parse("clip(sigmoid(x), -0.25, +2.5)") == Clip(
        Sigmoid(X), sp.Rational(-1, 4), sp.Rational(5, 2)
    )
    assert parse("clip(2, -1, 1)") == 1  # a number evaluates at once
    assert parse("-clip(x, -(1), 1)") == -Clip(X, -1, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("z + 1", "unknown name 'z'"),
        ("gelu(x)", "unknown function 'gelu'"),
        ("x ** 0.5", "a power must be an integer literal"),
        ("x ** y", "a power must be an integer literal"),
        ("x ** 9", "a power must be an integer literal"),
        ("x ** 2.0", "a power must be an integer literal"),
        ("x // 2", "unsupported syntax FloorDiv"),
        ("x.real", "unsupported syntax Attribute"),
        ("__import__('os').system('true')", 'character "\'" is not part of the language'),
        ("(lambda: 1)()", "character ':' is not part of the language"),
        ("lambda_(1)", "unknown function 'lambda_'"),
        ("sigmoid(x, y)", "exactly one argument"),
        ("x if y else x", "unsupported syntax IfExp"),
        ("'text'", "is not part of the language"),
        ("x +", "syntax error"),
        ("x < y", "character '<' is not part of the language"),
        ("x # comment", "character '#' is not part of the language"),
        ("1j * x", "unsupported syntax Constant"),
        ("clip(x, y, 1)", "clip() bounds must be numbers"),
        ("clip(x, -1, 2 * 1)", "clip() bounds must be numbers"),
        ("clip(x, 1e999, 2e999)", "clip() bounds must be numbers"),
        ("clip(x, 1)", "clip() takes exactly three arguments"),
        ("clip(x, lo=-1, hi=1)", "clip() takes exactly three arguments"),
        ("clip(x, 1, -1)", "lower bound < upper bound"),
        ("clip(x, 1, 1)", "lower bound < upper bound"),
        ("x * 1e999", "number inf is not finite"),
    ],
)
def test_rejects_everything_outside_the_language(text, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        parse(text)
