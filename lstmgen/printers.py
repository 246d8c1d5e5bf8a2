"""Printing: forward/backward programs -> source lines for one target (``numpy``, ``tf``, ``jax``).

Every activation and gradient function prints as a call of a small private helper
(``_sigmoid(a_i)``, ``_hard_sigmoid_grad(i)``, ``_clip(c, -3, 3)``) whose source, per target,
is in ``HELPERS``; the generated module defines only the helpers its variant uses. Helpers
keep the input's dtype (float32 stays float32) and are overflow-free (``sigmoid`` goes
through ``tanh``).

Both printers derive from SymPy's ``PythonCodePrinter`` rather than ``NumPyPrinter`` /
``TensorflowPrinter``: every function call is ours, ``TensorflowPrinter`` imports TensorFlow
(emitting must not need it) and spells ``x**2`` as ``tensorflow.math.pow(x, 2)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp
from sympy.printing.precedence import precedence
from sympy.printing.pycode import PythonCodePrinter

from . import activations as act
from .program import (
    BackwardProgram,
    ForwardProgram,
    Product,
    ProductAdjoint,
    Reduction,
    ReductionAdjoint,
)

TARGETS = ("numpy", "tf", "jax")
ALIAS = {"numpy": "np", "tf": "tf", "jax": "jnp"}
# Targets with the NumPy array API (``jnp`` mirrors ``np``): one printing, another alias.
NUMPY_API = ("numpy", "jax")

# function class -> (helper name, argument name, docstring, NumPy body, TF body); the JAX
# body is the NumPy one on ``jnp`` (``jax_body``) unless ``JAX_BODIES`` has its own.
HELPERS: dict[type[sp.Function], tuple[str, str, str, str, str]] = {
    act.Sigmoid: (
        "_sigmoid",
        "x",
        "Logistic sigmoid, overflow-free for any |x|.",
        "y = np.multiply(x, 0.5)  # sigmoid(x) = 0.5 * tanh(0.5 * x) + 0.5\n"
        "np.tanh(y, out=y)\ny *= 0.5\ny += 0.5\nreturn y",
        "tf.sigmoid(x)",
    ),
    act.Tanh: ("_tanh", "x", "Hyperbolic tangent.", "np.tanh(x)", "tf.tanh(x)"),
    act.Exponential: (
        "_exponential",
        "x",
        "exp(x); inf past the float range, as in TensorFlow.",
        'with np.errstate(over="ignore"):\n    return np.exp(x)',
        "tf.exp(x)",
    ),
    act.Relu: ("_relu", "x", "max(x, 0).", "np.maximum(x, 0)", "tf.nn.relu(x)"),
    act.Relu6: ("_relu6", "x", "min(max(x, 0), 6).", "np.clip(x, 0, 6)", "tf.nn.relu6(x)"),
    act.HardSigmoid: (
        "_hard_sigmoid",
        "x",
        "Keras 3 hard_sigmoid: relu6(x + 3) / 6.",
        "np.clip(x + 3, 0, 6) / 6",
        "tf.nn.relu6(x + 3) / 6",
    ),
    act.HardSigmoidKeras2: (
        "_hard_sigmoid_keras2",
        "x",
        "Keras 2 hard_sigmoid: clip(0.2 x + 0.5, 0, 1).",
        "np.clip(0.2 * x + 0.5, 0, 1)",
        "tf.clip_by_value(0.2 * x + 0.5, 0, 1)",
    ),
    act.HardTanh: (
        "_hard_tanh",
        "x",
        "clip(x, -1, 1).",
        "np.clip(x, -1, 1)",
        "tf.clip_by_value(x, -1, 1)",
    ),
    act.SparseSigmoid: (
        "_sparse_sigmoid",
        "x",
        "clip((x + 1) / 2, 0, 1).",
        "np.clip(0.5 * (x + 1), 0, 1)",
        "tf.clip_by_value(0.5 * (x + 1), 0, 1)",
    ),
    act.LeakyRelu: (
        "_leaky_relu",
        "x",
        "x for x > 0, else float32(0.2) x (TF holds alpha as float32).",
        "np.where(x > 0, x, 0.20000000298023224 * x)",
        "tf.nn.leaky_relu(x, alpha=0.2)",
    ),
    act.Elu: (
        "_elu",
        "x",
        "x for x > 0, else exp(x) - 1.",
        "np.where(x > 0, x, np.expm1(np.minimum(x, 0)))",
        "tf.nn.elu(x)",
    ),
    act.Selu: (
        "_selu",
        "x",
        "Scaled ELU (scale, alpha as in Keras).",
        "_SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))",
        "tf.nn.selu(x)",
    ),
    act.Softplus: (
        "_softplus",
        "x",
        "log(1 + exp(x)), overflow-free.",
        "np.logaddexp(x, 0)",
        "tf.math.softplus(x)",
    ),
    act.Softsign: ("_softsign", "x", "x / (1 + |x|).", "x / (1 + np.abs(x))", "tf.nn.softsign(x)"),
    act.Silu: (
        "_silu",
        "x",
        "x * sigmoid(x).",
        "x * (0.5 * np.tanh(0.5 * x) + 0.5)",
        "tf.nn.silu(x)",
    ),
    act.NaturalLog: (
        "_log",
        "x",
        "Natural logarithm; nan below 0 and -inf at 0, as in TensorFlow.",
        'with np.errstate(divide="ignore", invalid="ignore"):\n    return np.log(x)',
        "tf.math.log(x)",
    ),
    act.SquareRoot: (
        "_sqrt",
        "x",
        "Square root; nan below 0, as in TensorFlow.",
        'with np.errstate(invalid="ignore"):\n    return np.sqrt(x)',
        "tf.sqrt(x)",
    ),
    act.LogSigmoid: (
        "_log_sigmoid",
        "x",
        "log(sigmoid(x)) = -softplus(-x), overflow-free for any |x|.",
        "-np.logaddexp(0, -x)",
        "tf.math.log_sigmoid(x)",
    ),
    act.LogSigmoidGrad: (
        "_log_sigmoid_grad",
        "y",
        "log_sigmoid' = 1 - sigmoid(x) through y = log_sigmoid(x): -expm1(y).",
        "-np.expm1(y)",
        "-tf.math.expm1(y)",
    ),
    act.AbsoluteValue: ("_abs", "x", "|x|.", "np.abs(x)", "tf.abs(x)"),
    act.AbsGrad: (
        "_abs_grad",
        "x",
        "abs' through x: sign(x), 0 at 0 (TF's Abs gradient).",
        "np.sign(x)",
        "tf.sign(x)",
    ),
    act.StopGradient: (
        "_stop_gradient",
        "x",
        "The value x; the derived backward treats it as a constant (derivative 0).",
        "x",
        "tf.stop_gradient(x)",
    ),
    act.Maximum: (
        "_maximum",
        "a, b",
        "max(a, b), element-wise.",
        "np.maximum(a, b)",
        "tf.maximum(*_as_tensors(a, b))",
    ),
    act.Minimum: (
        "_minimum",
        "a, b",
        "min(a, b), element-wise.",
        "np.minimum(a, b)",
        "tf.minimum(*_as_tensors(a, b))",
    ),
    act.AtLeast: (
        "_at_least",
        "a, b",
        "1 where a >= b, else 0: max' w.r.t. a (a tie goes to a, as tf.maximum's gradient).",
        "np.greater_equal(a, b).astype(np.result_type(a, b))",
        "a, b = _as_tensors(a, b)\nreturn tf.cast(a >= b, a.dtype)",
    ),
    act.AtMost: (
        "_at_most",
        "a, b",
        "1 where a <= b, else 0: min' w.r.t. a (a tie goes to a, as tf.minimum's gradient).",
        "np.less_equal(a, b).astype(np.result_type(a, b))",
        "a, b = _as_tensors(a, b)\nreturn tf.cast(a <= b, a.dtype)",
    ),
    act.Clip: (
        "_clip",
        "x, lo, hi",
        "min(max(x, lo), hi) for numeric bounds, in the dtype of x.",
        "np.clip(x, lo, hi)",
        "tf.clip_by_value(x, lo, hi)",
    ),
    act.ClipGrad: (
        "_clip_grad",
        "x, lo, hi",
        "clip' through x: 1 where lo <= x <= hi, 0 only outside (TF clip_by_value).",
        "((x >= lo) & (x <= hi)).astype(x.dtype)",
        "tf.cast((x >= lo) & (x <= hi), x.dtype)",
    ),
    act.ReluGrad: (
        "_relu_grad",
        "y",
        "relu' through y = relu(x): 1 where y > 0 (0 at the kink, as TF).",
        "(y > 0).astype(y.dtype)",
        "tf.cast(y > 0, y.dtype)",
    ),
    act.Relu6Grad: (
        "_relu6_grad",
        "y",
        "relu6' through its output: 1 where 0 < y < 6, as TF.",
        "((y > 0) & (y < 6)).astype(y.dtype)",
        "tf.cast((y > 0) & (y < 6), y.dtype)",
    ),
    act.HardSigmoidGrad: (
        "_hard_sigmoid_grad",
        "s",
        "hard_sigmoid' through s: 1/6 where 0 < s < 1, 0 at and beyond the kinks (TF).",
        "((s > 0) & (s < 1)).astype(s.dtype) / 6",
        "tf.cast((s > 0) & (s < 1), s.dtype) / 6",
    ),
    act.HardSigmoidKeras2Grad: (
        "_hard_sigmoid_keras2_grad",
        "x",
        "Keras 2 hard_sigmoid' through x: 0.2 where 0 <= 0.2 x + 0.5 <= 1 (TF clip).",
        "((0.2 * x + 0.5 >= 0) & (0.2 * x + 0.5 <= 1)).astype(x.dtype) * 0.2",
        "tf.cast((0.2 * x + 0.5 >= 0) & (0.2 * x + 0.5 <= 1), x.dtype) * 0.2",
    ),
    act.HardTanhGrad: (
        "_hard_tanh_grad",
        "x",
        "hard_tanh' through x: 1 where -1 <= x <= 1 (TF clip).",
        "((x >= -1) & (x <= 1)).astype(x.dtype)",
        "tf.cast((x >= -1) & (x <= 1), x.dtype)",
    ),
    act.SparseSigmoidGrad: (
        "_sparse_sigmoid_grad",
        "x",
        "sparse_sigmoid' through x: 1/2 where -1 < x < 1.",
        "((x > -1) & (x < 1)).astype(x.dtype) / 2",
        "tf.cast((x > -1) & (x < 1), x.dtype) / 2",
    ),
    act.LeakyReluGrad: (
        "_leaky_relu_grad",
        "y",
        "leaky_relu' through its output: 1 where y > 0, else float32(0.2), as TF.",
        "np.where(y > 0, y.dtype.type(1), y.dtype.type(0.20000000298023224))",
        "tf.where(y > 0, tf.ones_like(y),"
        " tf.fill(tf.shape(y), tf.constant(0.20000000298023224, y.dtype)))",
    ),
    act.EluGrad: (
        "_elu_grad",
        "y",
        "elu' through its output: 1 where y > 0, else y + 1 (TF EluGrad).",
        "np.where(y > 0, 1, y + 1)",
        "tf.where(y > 0, tf.ones_like(y), y + 1)",
    ),
    act.SeluGrad: (
        "_selu_grad",
        "y",
        "selu' through its output: y + scale * alpha where y < 0, else scale (TF's SeluGrad).",
        "np.where(y < 0, y + _SELU_SCALE * _SELU_ALPHA, _SELU_SCALE)",
        "tf.where(y < 0, y + _SELU_SCALE * _SELU_ALPHA,"
        " tf.fill(tf.shape(y), tf.constant(_SELU_SCALE, y.dtype)))",
    ),
    act.SoftplusGrad: (
        "_softplus_grad",
        "y",
        "softplus' = sigmoid(x) through y: 1 - exp(-y), via expm1.",
        "-np.expm1(-y)",
        "-tf.math.expm1(-y)",
    ),
    act.SiluGrad: (
        "_silu_grad",
        "x",
        "silu' through x: s * (1 + x * (1 - s)), s = sigmoid(x).",
        "(0.5 * np.tanh(0.5 * x) + 0.5) * (1 + x * (0.5 - 0.5 * np.tanh(0.5 * x)))",
        "tf.sigmoid(x) * (1 + x * (1 - tf.sigmoid(x)))",
    ),
}


# NumPy bodies that write in place, silence floating-point warnings (JAX has none) or have a
# JAX function of their own.
JAX_BODIES: dict[type[sp.Function], str] = {
    act.Sigmoid: "0.5 * jnp.tanh(0.5 * x) + 0.5",
    act.Exponential: "jnp.exp(x)",
    act.NaturalLog: "jnp.log(x)",
    act.SquareRoot: "jnp.sqrt(x)",
    act.StopGradient: "jax.lax.stop_gradient(x)",
}


def jax_body(cls: type[sp.Function]) -> str:
    """The JAX helper body of a function class: its own, or the NumPy body on ``jnp``."""
    if cls in JAX_BODIES:
        return JAX_BODIES[cls]
    return re.sub(r"\bnp\.", "jnp.", HELPERS[cls][3])


_EXACT_INTEGERS = 2**53
_BARE_OPERATOR = re.compile(r"(?<![*/ ])([*/])(?![*/ ])")


class CellPrinter(PythonCodePrinter):
    """Per-unit expressions -> source for one target; unsupported nodes raise (strict)."""

    printmethod = "_lstmgen_code"

    def __init__(self, target: str):
        super().__init__({"strict": True, "fully_qualified_modules": False})
        self.target = target
        self.used: set[type[sp.Function]] = set()

    def doprint(self, expr, assign_to=None):
        """Source of ``expr`` with spaces around ``*`` and ``/`` (``**`` stays tight)."""
        return _BARE_OPERATOR.sub(r" \1 ", super().doprint(expr, assign_to))

    def _print_Function(self, expr):
        cls = type(expr)
        if cls not in HELPERS:
            raise TypeError(f"No {self.target} printer for function {cls.__name__}.")
        self.used.add(cls)
        if issubclass(cls, act.Binary):
            args = ", ".join(self._print(a) for a in expr.args)
            return f"{HELPERS[cls][0]}({args})"
        # Arguments after the first are numeric bounds (``clip``): literals, ``-2.5`` not
        # ``-5 / 2`` (float(p / q) is the correctly rounded value either way).
        bounds = (self._print_Integer(a) if a.is_Integer else repr(float(a)) for a in expr.args[1:])
        return f"{HELPERS[cls][0]}({', '.join((self._print(expr.args[0]), *bounds))})"

    def _print_Add(self, expr, order=None):
        """A sum that starts with a term that is not negated, so ``wx_i - mean_x`` prints
        as one subtraction, not ``-mean_x + wx_i`` (a negation and an addition: one more
        op per step in TensorFlow's loop)."""
        printed = [(term, self._print(term)) for term in self._as_ordered_terms(expr, order)]
        first = next((k for k, (_, t) in enumerate(printed) if not t.startswith("-")), 0)
        printed.insert(0, printed.pop(first))
        parts = []
        for term, text in printed:
            sign = "-" if text.startswith("-") and not term.is_Add else "+"
            text = text[1:] if sign == "-" else text
            if precedence(term) < precedence(expr) or term.is_Add:
                text = f"({text})"
            parts.extend((sign, text))
        return ("" if parts[0] == "+" else "-") + " ".join(parts[1:])

    def _print_Abs(self, expr):
        return f"{ALIAS[self.target]}.abs({self._print(expr.args[0])})"

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.args
        if exp == -1:
            return f"1 / {self.parenthesize(base, sp.printing.precedence.PRECEDENCE['Pow'])}"
        if exp == 2 and self.target == "tf":
            # TensorFlow's Pow op is a general power; Square is one multiply.
            return f"tf.square({self._print(base)})"
        if exp.is_Integer and exp > 1:
            return f"{self.parenthesize(base, sp.printing.precedence.PRECEDENCE['Pow'])}**{exp}"
        if exp.is_Integer and exp < -1:
            return f"1 / {self._print_Pow(base**-exp)}"
        raise TypeError(f"Cannot print power {expr} for target {self.target!r}.")

    def _print_Rational(self, expr):
        if max(abs(expr.p), expr.q) > _EXACT_INTEGERS:
            return repr(float(expr))  # never a 300-digit literal
        return f"{expr.p} / {expr.q}"

    def _print_Integer(self, expr):
        return repr(float(expr)) if abs(expr.p) > _EXACT_INTEGERS else str(expr.p)

    def _print_Float(self, expr):
        return repr(float(expr))


@dataclass(frozen=True)
class PrintedPrograms:
    """Source lines of one cell for one target, ready for the template.

    Attributes:
        forward_lines: forward assignments (``i = _sigmoid(a_i)``), one per spec line.
        backward_lines: adjoint assignments, each block preceded by a comment naming the
            forward line it differentiates.
        helpers: helper function definitions used by either program, each a tuple of
            source lines.
        constants: module-level constant lines the helpers need.
    """

    forward_lines: tuple[str, ...]
    backward_lines: tuple[str, ...]
    helpers: tuple[tuple[str, ...], ...]
    constants: tuple[str, ...]


def print_programs(
    forward: ForwardProgram, backward: BackwardProgram, target: str
) -> PrintedPrograms:
    """Print both programs for ``target``."""
    if target not in TARGETS:
        raise ValueError(f"Unknown target {target!r}; expected one of {list(TARGETS)}.")
    printer = CellPrinter(target)
    forward_lines = tuple(_forward_line(a, printer) for a in forward.assignments)
    backward_lines: list[str] = []
    for block in backward.blocks:
        backward_lines.append(f"# {block.forward.text}")
        for a in block.assignments:
            if isinstance(a, ProductAdjoint):
                backward_lines.extend(_product_adjoint_lines(a, target))
            elif isinstance(a, ReductionAdjoint):
                backward_lines.append(_reduction_adjoint_line(a, target))
            elif a.expr.free_symbols:
                backward_lines.append(f"{a.target} = {printer.doprint(a.expr)}")
            else:
                # A constant adjoint (0 through stop_gradient) as an array of the block's.
                if a.expr != 0:
                    raise ValueError(f"Constant adjoint {a.target} = {a.expr}.")
                d_y = f"d_{block.forward.target.name}"
                backward_lines.append(f"{a.target} = {ALIAS[target]}.zeros_like({d_y})")
    used = sorted(printer.used, key=lambda cls: HELPERS[cls][0])
    helpers = tuple(_helper_source(cls, target) for cls in used)
    if target == "tf" and any(issubclass(cls, act.Binary) for cls in used):
        helpers = (_AS_TENSORS, *helpers)
    needs_selu = any(cls in (act.Selu, act.SeluGrad) for cls in used)
    constants = (
        (
            f"_SELU_SCALE = {float(act.SELU_SCALE)!r}",
            f"_SELU_ALPHA = {float(act.SELU_ALPHA)!r}",
        )
        if needs_selu
        else ()
    )
    return PrintedPrograms(forward_lines, tuple(backward_lines), helpers, constants)


def _forward_line(statement, printer: CellPrinter) -> str:
    if isinstance(statement, Product):
        return _product_line(statement, printer.target)
    if isinstance(statement, Reduction):
        return _reduction_line(statement, printer)
    return f"{statement.target} = {printer.doprint(statement.expr)}"


_REDUCE = {
    ("numpy", "mean"): "np.mean",
    ("numpy", "sum"): "np.sum",
    ("jax", "mean"): "jnp.mean",
    ("jax", "sum"): "jnp.sum",
    ("tf", "mean"): "tf.reduce_mean",
    ("tf", "sum"): "tf.reduce_sum",
}


def _reduction_line(reduction: Reduction, printer: CellPrinter) -> str:
    """``m = np.mean(np.concatenate((u, v), axis=-1), axis=-1, keepdims=True)``: one value
    per batch row, over the units of every term."""
    terms = [printer.doprint(t) for t in reduction.terms]
    joined = _concatenated_source(terms, printer.target)
    function = _REDUCE[printer.target, reduction.op]
    return f"{reduction.target} = {function}({joined}, axis=-1, keepdims=True)"


def _reduction_adjoint_line(adjoint: ReductionAdjoint, target: str) -> str:
    """``d_m_each = np.broadcast_to(np.mean(d_m, axis=-1, keepdims=True) / 4, d_m.shape)``:
    the row's adjoint (the sum of the per-unit shares) over the count of reduced elements,
    for a mean; as wide as the shares, so that a term's adjoint made of it alone (the
    adjoint of ``u`` in ``mean([u, v])``) is units wide too."""
    count = len(adjoint.reduction.terms)
    function = _REDUCE[target, adjoint.reduction.op]
    share = f"{function}({adjoint.d_output}, axis=-1, keepdims=True)"
    if adjoint.reduction.op == "mean" and count > 1:
        share = f"{share} / {count}"
    alias = ALIAS[target]
    shape = f"{adjoint.d_output}.shape" if target != "tf" else f"tf.shape({adjoint.d_output})"
    return f"{adjoint.each} = {alias}.broadcast_to({share}, {shape})"


def _concatenated_source(sources: list[str], target: str) -> str:
    """Sources joined along the features (one source: itself)."""
    if len(sources) == 1:
        return sources[0]
    joined = ", ".join(sources)
    if target in NUMPY_API:
        return f"{ALIAS[target]}.concatenate(({joined}), axis=-1)"
    return f"tf.concat(({joined}), axis=-1)"


# Two-argument TF ops need both arguments as tensors of one dtype (``max(a_h, 0.5)``).
_AS_TENSORS = (
    "def _as_tensors(a, b):",
    '    """Both arguments as tensors, a Python number in the dtype of the other."""',
    '    a = a if hasattr(a, "dtype") else tf.constant(a, b.dtype)',
    '    b = b if hasattr(b, "dtype") else tf.constant(b, a.dtype)',
    "    return tf.convert_to_tensor(a), tf.convert_to_tensor(b)",
)


def weight_block_name(weight: str, block: str, whole: bool) -> str:
    """The cell's argument holding a column block of a weight: ``gate_recurrent_kernel_i``,
    or the weight itself when it is one block (``whole``: ``projection``)."""
    return weight if whole else f"{weight}_{block}"


def _concatenated(names, target: str) -> str:
    """Source of the sources' concatenation along the features (one name: itself)."""
    return _concatenated_source([n.name for n in names], target)


def _matmul(a: str, b: str, target: str, transpose_a: bool = False) -> str:
    if target in NUMPY_API:
        return f"{a}.T @ {b}" if transpose_a else f"{a} @ {b}"
    return f"tf.matmul({a}, {b}, transpose_a=True)" if transpose_a else f"tf.matmul({a}, {b})"


def dropout_mask_name(product: Product) -> str:
    """The TF cell's recurrent dropout mask argument for a product with a block of the
    recurrent kernel (``recurrent_dropout_mask_h``), or ``""``: the recurrent dropout mask
    multiplies the input of every product with the recurrent kernel, as in Keras."""
    if product.weight != "recurrent_kernel":
        return ""
    return f"recurrent_dropout_mask_{product.block_name}"


def _masked_source(product: Product, target: str) -> str:
    source = _concatenated(product.sources, target)
    mask = dropout_mask_name(product) if target == "tf" else ""
    return f"_masked({source}, {mask})" if mask else source


def _product_line(product: Product, target: str) -> str:
    """``r_i = np.concatenate((i_tm1, f_tm1, o_tm1), axis=-1) @ gate_recurrent_kernel_i``."""
    source = _masked_source(product, target)
    weight = weight_block_name(product.weight, product.block_name, product.whole)
    return f"{product.target} = {_matmul(source, weight, target)}"


def _product_adjoint_lines(adjoint: ProductAdjoint, target: str) -> list[str]:
    """The sources' adjoints through the weight block's transpose, and this step's
    contribution to the weight block's gradient (``d_<weight>_<block>``)."""
    product = adjoint.product
    weight = weight_block_name(product.weight, product.block_name, product.whole)
    d_y = adjoint.d_output.name
    through = _matmul(d_y, f"{weight}_t", target)
    mask = dropout_mask_name(product) if target == "tf" else ""
    if mask:
        through = f"_masked({through}, {mask})"
    lines = []
    if len(product.sources) == 1:
        parts = [through]
    else:
        split = f"{ALIAS[target]}.split"
        temp = f"d_{product.target.name}_sources"
        lines.append(f"{temp} = {split}({through}, {len(product.sources)}, axis=-1)")
        parts = [f"{temp}[{k}]" for k in range(len(product.sources))]
    for d_s, add, part in zip(adjoint.d_sources, adjoint.accumulate, parts, strict=True):
        lines.append(f"{d_s.name} = {d_s.name} + {part}" if add else f"{d_s.name} = {part}")
    source = _masked_source(product, target)
    lines.append(f"d_{weight} = {_matmul(source, d_y, target, transpose_a=True)}")
    return lines


def _helper_source(cls: type[sp.Function], target: str) -> tuple[str, ...]:
    name, arg, doc, numpy_body, tf_body = HELPERS[cls]
    body = {"numpy": numpy_body, "tf": tf_body}.get(target) or jax_body(cls)
    lines = body.split("\n") if "return" in body else [f"return {body}"]
    return (f"def {name}({arg}):", f'    """{doc}"""', *(f"    {line}" for line in lines))
