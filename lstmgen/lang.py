"""lstmgen's expression language: text -> SymPy expression, through an allowlist of AST nodes.

The language has numbers, declared names, ``+ - * /``, unary minus, parentheses, calls of
declared activation functions with one argument, and ``clip(x, lo, hi)`` whose bounds are
numeric literals (``clip(f * c_tm1 + i * g, -3, 3)``; ``activations.FUNCTIONS``). Text is
parsed with Python's ``ast`` and every node is checked against the allowlist before anything
is built: no ``eval``, no ``sympify`` of raw text (both execute code).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from fractions import Fraction

import sympy as sp

from .activations import FUNCTIONS

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


class ExpressionError(ValueError):
    """A problem in one expression; ``column`` is 1-based within the expression text."""

    def __init__(self, message: str, column: int = 0):
        super().__init__(message)
        self.message = message
        self.column = column


def parse_expression(
    text: str,
    names: Mapping[str, sp.Symbol],
    functions: Mapping[str, Callable[[sp.Expr], sp.Expr]],
) -> sp.Expr:
    """Parse one expression.

    Args:
        text: the expression, e.g. ``"f * c_tm1 + i * g"``.
        names: the names the expression may use.
        functions: the callables it may call, each with one argument (``clip`` is part
            of the language and needs no entry).

    Returns:
        The SymPy expression.

    Raises:
        ExpressionError: a syntax error, an unknown name or function, an operator outside
            the language, or ``clip`` bounds that are not numbers with ``lo < hi``.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(
            f"syntax error in {text.strip()!r}: {error.msg}", error.offset or 0
        ) from None
    return _build(tree.body, names, functions)


def _build(node, names, functions) -> sp.Expr:
    col = getattr(node, "col_offset", -1) + 1
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _build(node.left, names, functions)
        right = _build(node.right, names, functions)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _build(node.operand, names, functions)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        if not math.isfinite(node.value):
            raise ExpressionError(f"number {node.value!r} is not finite", col)
        return _rational(node.value)
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ExpressionError(f"unknown name {node.id!r}; expected one of {sorted(names)}", col)
        return names[node.id]
    if isinstance(node, ast.Call):
        func = node.func.id if isinstance(node.func, ast.Name) else None
        if func in FUNCTIONS:
            return _bounded_call(node, func, names, functions)
        if func not in functions:
            raise ExpressionError(
                f"unknown function {func or ast.unparse(node.func)!r}; "
                f"expected one of {sorted(functions)} or {_CLIP_FORM}",
                col,
            )
        if len(node.args) != 1 or node.keywords:
            raise ExpressionError(f"{func}() takes exactly one argument", col)
        return functions[func](_build(node.args[0], names, functions))
    what = type(getattr(node, "op", node)).__name__
    raise ExpressionError(
        f"unsupported syntax {what} ({ast.unparse(node)!r}); the language has numbers, "
        f"names, + - * /, unary minus, parentheses, activation calls and {_CLIP_FORM} "
        "with numeric bounds",
        col,
    )


_CLIP_FORM = "clip(x, lo, hi)"


def _bounded_call(node: ast.Call, func: str, names, functions) -> sp.Expr:
    """``clip(x, lo, hi)``: any expression, then two numeric literals with ``lo < hi``."""
    col = node.col_offset + 1
    if len(node.args) != 3 or node.keywords:
        raise ExpressionError(
            f"{func}() takes exactly three arguments, {func}(x, lo, hi); got {ast.unparse(node)!r}",
            col,
        )
    bounds = tuple(_number(arg) for arg in node.args[1:])
    if None in bounds:
        raise ExpressionError(
            f"{func}() bounds must be numbers (e.g. {func}(c, -3, 3)); got {ast.unparse(node)!r}",
            col,
        )
    lo, hi = bounds
    if not lo < hi:
        raise ExpressionError(
            f"{func}() needs lower bound < upper bound; got {ast.unparse(node)!r}", col
        )
    return FUNCTIONS[func](_build(node.args[0], names, functions), lo, hi)


def _number(node) -> sp.Rational | None:
    """A numeric literal, possibly signed, as an exact rational; None for anything else."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if (
        isinstance(node, ast.Constant)
        and type(node.value) in (int, float)
        and math.isfinite(node.value)
    ):
        return sign * _rational(node.value)
    return None


def _rational(value: int | float) -> sp.Rational:
    # Decimal text becomes an exact rational: 0.2 means 1/5, as written.
    return sp.Rational(Fraction(str(value)))


def parse_product(
    text: str, names: Mapping[str, sp.Symbol], weights: Mapping[str, tuple[str, ...]]
) -> tuple[tuple[sp.Symbol, ...], str, str] | None:
    """A matrix product line ``source @ weight[block]``, or None if ``text`` is not one.

    The source is a name or a list of names (concatenated along the features); the weight
    is a declared matrix with its column blocks; ``[block]`` picks one block and may be left
    out when the weight has only one.

    Returns:
        (sources, weight, block name).

    Raises:
        ExpressionError: a product whose parts are not of that form, or unknown names.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return None  # parse_expression reports the syntax error
    node = tree.body
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult)):
        return None
    form = "a product is `source @ weight[block]`, the source a name or a list of names"
    left = node.left.elts if isinstance(node.left, ast.List) else [node.left]
    if not left or not all(isinstance(item, ast.Name) for item in left):
        raise ExpressionError(f"{form}; got {ast.unparse(node.left)!r}", node.col_offset + 1)
    for item in left:
        if item.id not in names:
            raise ExpressionError(
                f"unknown name {item.id!r}; expected one of {sorted(names)}", item.col_offset + 1
            )
    right, block = node.right, None
    if isinstance(right, ast.Subscript) and isinstance(right.slice, ast.Name):
        right, block = right.value, right.slice.id
    if not isinstance(right, ast.Name) or right.id not in weights:
        raise ExpressionError(
            f"{form}; the weight must be one of {sorted(weights)}, got {ast.unparse(node.right)!r}",
            node.right.col_offset + 1,
        )
    blocks = weights[right.id]
    if block is None and len(blocks) == 1:
        block = blocks[0]
    if block not in blocks:
        raise ExpressionError(
            f"{right.id} has column blocks {list(blocks)}; write {right.id}[<block>], "
            f"got {ast.unparse(node.right)!r}",
            node.right.col_offset + 1,
        )
    return tuple(names[item.id] for item in left), right.id, block
