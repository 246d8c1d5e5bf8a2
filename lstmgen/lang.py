"""lstmgen's expression language: text -> SymPy expression, through an allowlist of AST nodes.

The language has numbers, declared names, ``+ - * /``, unary minus, parentheses and calls of
declared activation functions with one argument. Text is parsed with Python's ``ast`` and
every node is checked against the allowlist before anything is built: no ``eval``, no
``sympify`` of raw text (both execute code).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from fractions import Fraction

import sympy as sp

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
        functions: the callables it may call, each with one argument.

    Returns:
        The SymPy expression.

    Raises:
        ExpressionError: a syntax error, an unknown name or function, or an operator
            outside the language.
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
        # Decimal text becomes an exact rational: 0.2 means 1/5, as written.
        return sp.Rational(Fraction(str(node.value)))
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ExpressionError(f"unknown name {node.id!r}; expected one of {sorted(names)}", col)
        return names[node.id]
    if isinstance(node, ast.Call):
        func = node.func.id if isinstance(node.func, ast.Name) else None
        if func not in functions:
            raise ExpressionError(
                f"unknown function {func or ast.unparse(node.func)!r}; "
                f"expected one of {sorted(functions)}",
                col,
            )
        if len(node.args) != 1 or node.keywords:
            raise ExpressionError(f"{func}() takes exactly one argument", col)
        return functions[func](_build(node.args[0], names, functions))
    what = type(getattr(node, "op", node)).__name__
    raise ExpressionError(
        f"unsupported syntax {what} ({ast.unparse(node)!r}); the language has numbers, "
        "names, + - * /, unary minus, parentheses and activation calls",
        col,
    )
