"""lstmgen's expression language: text -> SymPy expression, through an allowlist of AST nodes.

The language has numbers, declared names, ``+ - * /``, unary minus, parentheses, integer
powers ``x**n`` (a literal ``n`` with ``|n| <= 8``), calls of declared activation functions
and of ``exp log sqrt abs log_sigmoid stop_gradient`` with one argument, ``max(a, b)`` and
``min(a, b)``, and ``clip(x, lo, hi)`` whose bounds are numeric literals
(``clip(f * c_tm1 + i * g, -3, 3)``; ``activations.FUNCTIONS``). Text is parsed with
Python's ``ast`` and every node is checked against the allowlist before anything is built:
no ``eval``, no ``sympify`` of raw text (both execute code). An expression is at most
``MAX_LENGTH`` characters and ``MAX_DEPTH`` levels deep, so neither ``ast`` nor SymPy can
run out of stack; a function of numbers is evaluated at once, and a number that is not
finite in float64 (``1e308 * 1e308``, ``a_h / 0``) is refused.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from fractions import Fraction

import sympy as sp

from .activations import BINARY, FUNCTIONS, UNARY, to_elementary

MAX_LENGTH = 1000
MAX_DEPTH = 40
MAX_POWER = 8
ECHO = 80
_CHARACTERS = re.compile(r"[A-Za-z0-9_.+\-*/(),=@\[\] \t]*")

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


def shorten(text: str, limit: int = ECHO) -> str:
    """``repr`` of ``text`` cut to about ``limit`` characters (with an ellipsis), one line."""
    text = str(text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)


def check_text(text: str) -> str:
    """The stripped text of one expression, if it is short and plain enough to parse.

    Raises:
        ExpressionError: text longer than ``MAX_LENGTH``, or characters outside the
            language (comments, quotes, backslashes, line breaks, non-ASCII).
    """
    text = text.strip()
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"expression too long ({len(text)} characters, at most {MAX_LENGTH}): "
            f"{shorten(text)}; split it into several lines"
        )
    bad = _CHARACTERS.match(text).end()
    if bad < len(text):
        raise ExpressionError(
            f"character {text[bad]!r} is not part of the language in {shorten(text)}", bad + 1
        )
    return text


def _parse(text: str) -> ast.expr:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise ExpressionError(
            f"syntax error in {shorten(text)}: {error.msg}", error.offset or 0
        ) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(_too_deep(text)) from None
    stack = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(_too_deep(text), getattr(node, "col_offset", -1) + 1)
        for child in ast.iter_child_nodes(node):
            # A chain of one operator (a + b + c + ...) is one level, as SymPy flattens it.
            flat = (
                isinstance(node, ast.BinOp)
                and child is node.left
                and isinstance(child, ast.BinOp)
                and type(child.op) is type(node.op)
            )
            stack.append((child, depth if flat else depth + 1))
    return tree.body


def _too_deep(text: str) -> str:
    return (
        f"expression too deep (more than {MAX_DEPTH} levels of nesting): {shorten(text)}; "
        "split it into several lines"
    )


def parse_expression(
    text: str,
    names: Mapping[str, sp.Symbol],
    functions: Mapping[str, Callable[[sp.Expr], sp.Expr]],
) -> sp.Expr:
    """Parse one expression.

    Args:
        text: the expression, e.g. ``"f * c_tm1 + i * g"``.
        names: the names the expression may use.
        functions: the callables it may call, each with one argument (``clip``, ``max``,
            ``min`` and ``activations.UNARY`` are part of the language and need no entry).

    Returns:
        The SymPy expression.

    Raises:
        ExpressionError: a syntax error, an unknown name or function, an operator outside
            the language, ``clip`` bounds that are not numbers with ``lo < hi``, a power
            that is not an integer literal, text too long or too deep, or a number that is
            not finite in float64 (``1e308 * 1e308``, a division by zero).
    """
    text = check_text(text)
    try:
        expr = _build(_parse(text), names, functions)
    except RecursionError:
        raise ExpressionError(_too_deep(text)) from None
    problem = non_finite(expr)
    if problem:
        raise ExpressionError(f"{problem} in {shorten(text)}")
    return expr


def non_finite(expr: sp.Expr) -> str:
    """A description of the first number in ``expr`` that is not finite in float64
    (``zoo`` from a division by zero, ``nan``, ``oo``, a rational beyond 1.8e308), or ""."""
    for atom in sorted(expr.atoms(sp.Number, sp.NumberSymbol), key=sp.default_sort_key):
        if atom.has(sp.zoo):
            return "division by zero"
        if not atom.is_finite or atom is sp.nan:
            return f"number {atom} is not finite"
        try:
            value = float(atom)
        except (OverflowError, TypeError):
            value = math.inf
        if not math.isfinite(value):
            return f"number {_short_number(atom)} is not finite in float64"
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo, sp.I):
        return "division by zero or a value that is not a real number"
    return ""


def _short_number(number: sp.Expr) -> str:
    return sp.Float(number, 3).__str__() if number.is_real else str(number)[:ECHO]


def _build(node, names, functions) -> sp.Expr:
    col = getattr(node, "col_offset", -1) + 1
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        exponent = _number(node.right) if _is_int_literal(node.right) else None
        if exponent is None or abs(exponent) > MAX_POWER:
            raise ExpressionError(
                f"a power must be an integer literal from -{MAX_POWER} to {MAX_POWER} "
                f"(x**2); got {shorten(ast.unparse(node))}; use sqrt(x), or exp(p * log(x)) "
                "for other powers",
                col,
            )
        base = _build(node.left, names, functions)
        if base.is_zero and exponent < 0:
            raise ExpressionError(f"division by zero in {shorten(ast.unparse(node))}", col)
        return base**exponent
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _build(node.left, names, functions)
        right = _build(node.right, names, functions)
        if isinstance(node.op, ast.Div) and right.is_zero:
            raise ExpressionError(f"division by zero in {shorten(ast.unparse(node))}", col)
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
            raise ExpressionError(
                f"unknown name {shorten(node.id)}; expected one of {_listed(names)}", col
            )
        return names[node.id]
    if isinstance(node, ast.Subscript) and _block_read(node) is not None:
        # A block of a vector that spans gate blocks: gamma[i].
        key = _block_read(node)
        if key not in names:
            raise ExpressionError(
                f"unknown name {shorten(key)}; expected one of {_listed(names)}", col
            )
        return names[key]
    if isinstance(node, ast.Call):
        func = node.func.id if isinstance(node.func, ast.Name) else None
        if func in REDUCTIONS:
            raise ExpressionError(
                f"{func}() must be the whole right-hand side of its line "
                f"(m = {func}([u, v])); got {shorten(ast.unparse(node))}",
                col,
            )
        if func in FUNCTIONS:
            return _bounded_call(node, func, names, functions)
        if func in BINARY:
            if len(node.args) != 2 or node.keywords:
                raise ExpressionError(
                    f"{func}() takes exactly two arguments, {func}(a, b); "
                    f"got {shorten(ast.unparse(node))}",
                    col,
                )
            args = [_build(arg, names, functions) for arg in node.args]
            return _fold(BINARY[func](*args), node)
        known = {**UNARY, **functions}
        if func not in known:
            raise ExpressionError(
                f"unknown function {shorten(func or ast.unparse(node.func))}; "
                f"expected one of {sorted(known)}, {sorted(BINARY)} (two arguments) "
                f"or {_CLIP_FORM}",
                col,
            )
        if len(node.args) != 1 or node.keywords:
            raise ExpressionError(
                f"{func}() takes exactly one argument; got {shorten(ast.unparse(node))}", col
            )
        return _fold(known[func](_build(node.args[0], names, functions)), node)
    what = type(getattr(node, "op", node)).__name__
    raise ExpressionError(
        f"unsupported syntax {what} ({shorten(ast.unparse(node))}); the language has "
        "numbers, names, + - * /, unary minus, parentheses, integer powers x**n, function "
        f"calls and {_CLIP_FORM} with numeric bounds",
        col,
    )


def _block_read(node: ast.Subscript) -> str | None:
    """``gamma[i]`` -> ``"gamma[i]"``, the key a vector's block is known by; else None."""
    if isinstance(node.value, ast.Name) and isinstance(node.slice, ast.Name):
        return f"{node.value.id}[{node.slice.id}]"
    return None


# Reductions across units, each the whole right-hand side of its line.
REDUCTIONS = ("mean", "sum")


def parse_reduction(
    text: str,
    names: Mapping[str, sp.Symbol],
    functions: Mapping[str, Callable[[sp.Expr], sp.Expr]],
) -> tuple[str, tuple[sp.Expr, ...]] | None:
    """A reduction line ``mean(e)`` / ``mean([e1, ..., ek])`` (``sum`` likewise): one value
    per batch row over the units of every term. None if ``text`` is not one.

    Returns:
        (``"mean"`` or ``"sum"``, the terms).

    Raises:
        ExpressionError: a reduction of another form, or a bad term.
    """
    text = check_text(text)
    node = _parse(text)
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in REDUCTIONS
    ):
        return None
    func = node.func.id
    if len(node.args) != 1 or node.keywords:
        raise ExpressionError(
            f"{func}() takes one term or a list of terms, {func}([u, v]); "
            f"got {shorten(ast.unparse(node))}",
            node.col_offset + 1,
        )
    items = node.args[0].elts if isinstance(node.args[0], ast.List) else [node.args[0]]
    if not items:
        raise ExpressionError(f"{func}() of an empty list", node.col_offset + 1)
    terms = []
    for item in items:
        try:
            term = _build(item, names, functions)
        except RecursionError:
            raise ExpressionError(_too_deep(text)) from None
        problem = non_finite(term)
        if problem:
            raise ExpressionError(f"{problem} in {shorten(text)}")
        terms.append(term)
    return func, tuple(terms)


def _listed(names) -> str:
    """The sorted names, cut to about ``ECHO`` characters."""
    text = repr(sorted(names))
    return f"{text[: ECHO - 4]}...]" if len(text) > ECHO else text


def _fold(call: sp.Expr, node: ast.Call) -> sp.Expr:
    """A function of numbers, evaluated at once (``tanh(2)`` is a number, as in ``clip``);
    refused if the value is not a finite real number (``log(0)``, ``sqrt(-1)``)."""
    if call.free_symbols or not isinstance(call, sp.Function):
        return call
    exact = to_elementary(call)
    if exact.is_Rational:  # exp(0), sqrt(4), relu(-1): keep exact numbers exact
        return exact
    value = sp.N(exact, 30)
    if not (value.is_real and value.is_finite and value.is_Number):
        raise ExpressionError(
            f"{shorten(ast.unparse(node))} is not a finite real number",
            node.col_offset + 1,
        )
    return value


_CLIP_FORM = "clip(x, lo, hi)"


def _bounded_call(node: ast.Call, func: str, names, functions) -> sp.Expr:
    """``clip(x, lo, hi)``: any expression, then two numeric literals with ``lo < hi``."""
    col = node.col_offset + 1
    if len(node.args) != 3 or node.keywords:
        raise ExpressionError(
            f"{func}() takes exactly three arguments, {func}(x, lo, hi); "
            f"got {shorten(ast.unparse(node))}",
            col,
        )
    bounds = tuple(_number(arg) for arg in node.args[1:])
    if None in bounds:
        raise ExpressionError(
            f"{func}() bounds must be numbers (e.g. {func}(c, -3, 3)); "
            f"got {shorten(ast.unparse(node))}",
            col,
        )
    lo, hi = bounds
    if not lo < hi:
        raise ExpressionError(
            f"{func}() needs lower bound < upper bound; got {shorten(ast.unparse(node))}",
            col,
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


def _is_int_literal(node) -> bool:
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


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
        node = _parse(check_text(text))
    except ExpressionError:
        return None  # parse_expression reports the problem
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult)):
        return None
    form = "a product is `source @ weight[block]`, the source a name or a list of names"
    left = node.left.elts if isinstance(node.left, ast.List) else [node.left]
    if not left or not all(isinstance(item, ast.Name) for item in left):
        raise ExpressionError(f"{form}; got {shorten(ast.unparse(node.left))}", node.col_offset + 1)
    for item in left:
        if item.id not in names:
            raise ExpressionError(
                f"unknown name {shorten(item.id)}; expected one of {_listed(names)}",
                item.col_offset + 1,
            )
    right, block = node.right, None
    if isinstance(right, ast.Subscript) and isinstance(right.slice, ast.Name):
        right, block = right.value, right.slice.id
    if not isinstance(right, ast.Name) or right.id not in weights:
        raise ExpressionError(
            f"{form}; the weight must be one of {sorted(weights)}, "
            f"got {shorten(ast.unparse(node.right))}",
            node.right.col_offset + 1,
        )
    blocks = weights[right.id]
    if block is None and len(blocks) == 1:
        block = blocks[0]
    if block not in blocks:
        raise ExpressionError(
            f"{right.id} has column blocks {list(blocks)}; write {right.id}[<block>], "
            f"got {shorten(ast.unparse(node.right))}",
            node.right.col_offset + 1,
        )
    return tuple(names[item.id] for item in left), right.id, block
