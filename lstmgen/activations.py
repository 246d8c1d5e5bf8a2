"""Element-wise activations as SymPy functions: name -> Function class with a declared derivative.

Each activation declares its derivative with ``fdiff``. Where the derivative can be written
through the activation's own output (``sigmoid' = s * (1 - s)``), it is, so the backward pass
reads the value from the tape instead of recomputing ``exp``. Kinked activations return a
dedicated gradient function (``HardSigmoidGrad``) that the printers turn into TensorFlow's kink
convention; ``Max``/``Min``/``Heaviside``/``Piecewise`` never reach a printer. ``elementary``
gives each function's closed form, used only to evaluate at exact points (verification).
``Clip(x, lo, hi)`` (the language's ``clip`` with numeric bounds, in ``FUNCTIONS``) is not an
activation: it has three arguments and no Keras name; its gradient ``ClipGrad`` follows
``tf.clip_by_value``'s (1 at the bounds). The language's own functions (``UNARY``: exp, log,
sqrt, abs, log_sigmoid, stop_gradient; ``BINARY``: max, min) follow TF's gradient kernels
too: ``abs'(0) = 0``, and a tie of ``max``/``min`` gives the whole gradient to the first
argument.

Definitions follow Keras 3's TensorFlow backend (``keras.activations.<name>``).
"""

from __future__ import annotations

import sympy as sp
from mpmath.libmp import prec_to_dps
from sympy.core.function import ArgumentIndexError

SELU_ALPHA = sp.Float("1.6732632423543772848170429916717", 40)
SELU_SCALE = sp.Float("1.0507009873554804934193349852946", 40)
# TensorFlow's LeakyRelu kernel holds alpha as a float32 attribute, so Keras's default
# negative_slope=0.2 acts as float32(0.2) = 13421773 / 2**26 in every dtype.
LEAKY_RELU_SLOPE = sp.Rational(13421773, 2**26)


class Activation(sp.Function):
    """An element-wise function of one argument with a closed form for exact evaluation."""

    nargs = 1

    @classmethod
    def elementary(cls, x: sp.Expr) -> sp.Expr:  # pragma: no cover - abstract
        raise NotImplementedError(cls.__name__)

    def _eval_evalf(self, prec):
        arg = self.args[0]._eval_evalf(prec)
        if arg is None or not arg.is_number:
            return None
        return self.elementary(arg).evalf(prec_to_dps(prec) + 5)


def _through_output(grad_of_output: type[Activation]):
    """fdiff for an activation whose derivative is a function of its output."""

    def fdiff(self, argindex=1):
        return grad_of_output(self)

    return fdiff


def _through_input(grad_of_input: type[Activation]):
    """fdiff for an activation whose derivative needs its input (kinks the output hides)."""

    def fdiff(self, argindex=1):
        return grad_of_input(self.args[0])

    return fdiff


# --- activations whose derivative is a polynomial of the output -------------------------


class Sigmoid(Activation):
    """Logistic sigmoid 1 / (1 + exp(-x)); derivative s * (1 - s)."""

    def fdiff(self, argindex=1):
        return self * (1 - self)

    @classmethod
    def elementary(cls, x):
        return 1 / (1 + sp.exp(-x))


class Tanh(Activation):
    """Hyperbolic tangent; derivative 1 - t**2."""

    def fdiff(self, argindex=1):
        return 1 - self**2

    @classmethod
    def elementary(cls, x):
        return sp.tanh(x)


class Exponential(Activation):
    """exp(x); derivative is its own output."""

    def fdiff(self, argindex=1):
        return self

    @classmethod
    def elementary(cls, x):
        return sp.exp(x)


class Linear(Activation):
    """Identity; derivative 1."""

    @classmethod
    def eval(cls, x):
        return x

    @classmethod
    def elementary(cls, x):
        return x


# --- gradients of kinked or non-polynomial activations, as functions of one value ----------
#
# Each is 0/1-valued or piecewise at a kink; its name says which value it takes (``Of`` the
# output ``y`` or of the input ``x``). ``elementary`` follows TensorFlow's gradient kernels.


class ReluGrad(Activation):
    """relu'(x) through y = relu(x): 1 where y > 0 (TF: 0 at the kink)."""

    @classmethod
    def elementary(cls, y):
        return sp.Piecewise((1, y > 0), (0, True))


class Relu6Grad(Activation):
    """relu6'(x) through y: 1 where 0 < y < 6 (TF's Relu6Grad)."""

    @classmethod
    def elementary(cls, y):
        return sp.Piecewise((1, (y > 0) & (y < 6)), (0, True))


class HardSigmoidGrad(Activation):
    """hard_sigmoid'(x) through s = relu6(x + 3) / 6: 1/6 where 0 < s < 1, else 0."""

    @classmethod
    def elementary(cls, s):
        return sp.Piecewise((sp.Rational(1, 6), (s > 0) & (s < 1)), (0, True))


class HardSigmoidKeras2Grad(Activation):
    """Keras 2 hard_sigmoid'(x) through x: 0.2 where 0 <= 0.2 x + 0.5 <= 1 (TF clip gradient)."""

    @classmethod
    def elementary(cls, x):
        z = sp.Rational(1, 5) * x + sp.Rational(1, 2)
        return sp.Piecewise((sp.Rational(1, 5), (z >= 0) & (z <= 1)), (0, True))


class HardTanhGrad(Activation):
    """hard_tanh'(x) through x: 1 where -1 <= x <= 1 (TF clip_by_value gradient)."""

    @classmethod
    def elementary(cls, x):
        return sp.Piecewise((1, (x >= -1) & (x <= 1)), (0, True))


class SparseSigmoidGrad(Activation):
    """sparse_sigmoid'(x) through x: 1/2 where -1 < x < 1 (tf.where branches)."""

    @classmethod
    def elementary(cls, x):
        return sp.Piecewise((sp.Rational(1, 2), (x > -1) & (x < 1)), (0, True))


class LeakyReluGrad(Activation):
    """leaky_relu'(x) through y: 1 where y > 0, else the slope float32(0.2) (TF)."""

    @classmethod
    def elementary(cls, y):
        return sp.Piecewise((1, y > 0), (LEAKY_RELU_SLOPE, True))


class EluGrad(Activation):
    """elu'(x) through y: 1 where y > 0, else y + 1 (TF's EluGrad)."""

    @classmethod
    def elementary(cls, y):
        return sp.Piecewise((1, y > 0), (y + 1, True))


class SeluGrad(Activation):
    """selu'(x) through y: y + scale * alpha where y < 0, else scale (TF's SeluGrad)."""

    @classmethod
    def elementary(cls, y):
        return sp.Piecewise((y + SELU_SCALE * SELU_ALPHA, y < 0), (SELU_SCALE, True))


class SoftplusGrad(Activation):
    """softplus'(x) = sigmoid(x) through y = softplus(x): -expm1(-y), exact for tiny y."""

    @classmethod
    def elementary(cls, y):
        return 1 - sp.exp(-y)


class SiluGrad(Activation):
    """silu'(x) through x: sigmoid(x) * (1 + x * (1 - sigmoid(x)))."""

    @classmethod
    def elementary(cls, x):
        s = 1 / (1 + sp.exp(-x))
        return s * (1 + x * (1 - s))


# --- activations with kinks or non-polynomial derivatives ---------------------------------


class Relu(Activation):
    """max(x, 0)."""

    fdiff = _through_output(ReluGrad)

    @classmethod
    def elementary(cls, x):
        return sp.Piecewise((x, x > 0), (0, True))


class Relu6(Activation):
    """min(max(x, 0), 6)."""

    fdiff = _through_output(Relu6Grad)

    @classmethod
    def elementary(cls, x):
        return sp.Piecewise((0, x <= 0), (6, x >= 6), (x, True))


class HardSigmoid(Activation):
    """Keras 3 hard_sigmoid: relu6(x + 3) / 6 (slope 1/6, kinks at -3 and 3)."""

    fdiff = _through_output(HardSigmoidGrad)

    @classmethod
    def elementary(cls, x):
        return sp.Piecewise((0, x <= -3), (1, x >= 3), (x / 6 + sp.Rational(1, 2), True))


class HardSigmoidKeras2(Activation):
    """Keras 2 / tf-keras hard_sigmoid: clip(0.2 x + 0.5, 0, 1) (kinks at -2.5 and 2.5)."""

    fdiff = _through_input(HardSigmoidKeras2Grad)

    @classmethod
    def elementary(cls, x):
        z = sp.Rational(1, 5) * x + sp.Rational(1, 2)
        return sp.Piecewise((0, z <= 0), (1, z >= 1), (z, True))


class HardTanh(Activation):
    """clip(x, -1, 1)."""

    fdiff = _through_input(HardTanhGrad)

    @classmethod
    def elementary(cls, x):
        return sp.Piecewise((-1, x <= -1), (1, x >= 1), (x, True))


class SparseSigmoid(Activation):
    """0 for x <= -1, 1 for x >= 1, (x + 1) / 2 between."""

    fdiff = _through_input(SparseSigmoidGrad)

    @classmethod
    def elementary(cls, x):
        return sp.Piecewise((0, x <= -1), (1, x >= 1), ((x + 1) / 2, True))


class LeakyRelu(Activation):
    """x for x > 0, float32(0.2) * x otherwise (Keras default negative_slope, as TF runs it)."""

    fdiff = _through_output(LeakyReluGrad)

    @classmethod
    def elementary(cls, x):
        return sp.Piecewise((x, x > 0), (LEAKY_RELU_SLOPE * x, True))


class Elu(Activation):
    """x for x > 0, exp(x) - 1 otherwise (alpha = 1)."""

    fdiff = _through_output(EluGrad)

    @classmethod
    def elementary(cls, x):
        return sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True))


class Selu(Activation):
    """scale * (x for x > 0, alpha * (exp(x) - 1) otherwise)."""

    fdiff = _through_output(SeluGrad)

    @classmethod
    def elementary(cls, x):
        return SELU_SCALE * sp.Piecewise((x, x > 0), (SELU_ALPHA * (sp.exp(x) - 1), True))


class Softplus(Activation):
    """log(1 + exp(x))."""

    fdiff = _through_output(SoftplusGrad)

    @classmethod
    def elementary(cls, x):
        return sp.log(1 + sp.exp(x))


class Softsign(Activation):
    """x / (1 + |x|); derivative 1 / (1 + |x|)**2 = (1 - |y|)**2."""

    def fdiff(self, argindex=1):
        return (1 - sp.Abs(self)) ** 2

    @classmethod
    def elementary(cls, x):
        return x / (1 + sp.Abs(x))


class Silu(Activation):
    """x * sigmoid(x) (also called swish)."""

    fdiff = _through_input(SiluGrad)

    @classmethod
    def elementary(cls, x):
        return x / (1 + sp.exp(-x))


# --- functions of the expression language (not Keras activations) -----------------------
#
# Kink conventions follow TensorFlow's gradient kernels: abs'(0) = sign(0) = 0 (``Abs``);
# ``tf.maximum`` / ``tf.minimum`` give the whole gradient to the first argument on a tie.


class NaturalLog(Activation):
    """Natural logarithm (nan below 0, -inf at 0, as in TF); derivative 1 / x."""

    def fdiff(self, argindex=1):
        return 1 / self.args[0]

    @classmethod
    def elementary(cls, x):
        return sp.log(x)


class SquareRoot(Activation):
    """Square root; derivative 1 / (2 y) through its output y."""

    def fdiff(self, argindex=1):
        return 1 / (2 * self)

    @classmethod
    def elementary(cls, x):
        return sp.sqrt(x)


class LogSigmoidGrad(Activation):
    """log_sigmoid'(x) = 1 - sigmoid(x) through y = log_sigmoid(x): -expm1(y)."""

    @classmethod
    def elementary(cls, y):
        return 1 - sp.exp(y)


class LogSigmoid(Activation):
    """log(sigmoid(x)) = -softplus(-x), overflow-free for any |x|."""

    fdiff = _through_output(LogSigmoidGrad)

    @classmethod
    def elementary(cls, x):
        return -sp.log(1 + sp.exp(-x))


class AbsGrad(Activation):
    """abs'(x) through x: sign(x), 0 at 0 (TF's Abs gradient)."""

    @classmethod
    def elementary(cls, x):
        return sp.Piecewise((1, x > 0), (-1, x < 0), (0, True))


class AbsoluteValue(Activation):
    """|x| (``abs`` in the language; not ``sympy.Abs``, which simplifies on its own)."""

    fdiff = _through_input(AbsGrad)

    @classmethod
    def elementary(cls, x):
        return sp.Piecewise((x, x >= 0), (-x, True))


class StopGradient(Activation):
    """Value x, derivative 0 (``tf.stop_gradient``)."""

    def fdiff(self, argindex=1):
        return sp.Integer(0)

    @classmethod
    def elementary(cls, x):
        return x


class Binary(sp.Function):
    """An element-wise function of two arguments with a closed form for exact evaluation."""

    nargs = 2

    @classmethod
    def elementary(cls, a: sp.Expr, b: sp.Expr) -> sp.Expr:  # pragma: no cover - abstract
        raise NotImplementedError(cls.__name__)

    def _eval_evalf(self, prec):
        args = [a._eval_evalf(prec) for a in self.args]
        if any(a is None or not a.is_number for a in args):
            return None
        return self.elementary(*args).evalf(prec_to_dps(prec) + 5)


class AtLeast(Binary):
    """1 where a >= b, else 0: d max(a, b) / da (a tie goes to the first argument, as TF)."""

    @classmethod
    def elementary(cls, a, b):
        return sp.Piecewise((1, a >= b), (0, True))


class AtMost(Binary):
    """1 where a <= b, else 0: d min(a, b) / da (a tie goes to the first argument, as TF)."""

    @classmethod
    def elementary(cls, a, b):
        return sp.Piecewise((1, a <= b), (0, True))


class Maximum(Binary):
    """max(a, b) (``tf.maximum``): d/da = [a >= b], d/db = [a < b]."""

    def fdiff(self, argindex=1):
        first = AtLeast(*self.args)
        return first if argindex == 1 else 1 - first

    @classmethod
    def elementary(cls, a, b):
        return sp.Piecewise((a, a >= b), (b, True))


class Minimum(Binary):
    """min(a, b) (``tf.minimum``): d/da = [a <= b], d/db = [a > b]."""

    def fdiff(self, argindex=1):
        first = AtMost(*self.args)
        return first if argindex == 1 else 1 - first

    @classmethod
    def elementary(cls, a, b):
        return sp.Piecewise((a, a <= b), (b, True))


# --- functions with numeric bounds (not activations: no Keras name, more than one argument) ---


class Bounded(sp.Function):
    """An element-wise function of ``(x, lo, hi)`` whose bounds are numbers, ``lo < hi``.

    Only ``x`` is differentiated; a numeric ``x`` evaluates at once (keeping a Float's
    precision), so exact checks do not carry unevaluated calls around.
    """

    nargs = 3
    # The value is one of x's (a Float x gives a Float of its precision, even at a bound);
    # otherwise it stays exact (a gradient's 0 or 1).
    value_like_x = False

    @classmethod
    def eval(cls, x, lo, hi):
        if not (lo.is_Number and hi.is_Number and lo < hi):
            raise ValueError(f"{cls.__name__} bounds must be numbers lo < hi, got {lo}, {hi}")
        if x.is_Number:
            value = cls.elementary(x, lo, hi)
            return sp.Float(value, precision=x._prec) if x.is_Float and cls.value_like_x else value
        return None

    @classmethod
    def elementary(cls, x: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:  # pragma: no cover
        raise NotImplementedError(cls.__name__)

    def _eval_evalf(self, prec):
        arg = self.args[0]._eval_evalf(prec)
        if arg is None or not arg.is_number:
            return None
        return self.elementary(arg, *self.args[1:]).evalf(prec_to_dps(prec) + 5)


class ClipGrad(Bounded):
    """clip'(x) w.r.t. x: 1 where lo <= x <= hi, else 0 (TF's clip_by_value gradient:
    zero only where x < lo or x > hi, so the bounds themselves pass the gradient)."""

    @classmethod
    def elementary(cls, x, lo, hi):
        return sp.Piecewise((1, (x >= lo) & (x <= hi)), (0, True))


class Clip(Bounded):
    """clip(x, lo, hi) = min(max(x, lo), hi) (tf.clip_by_value); derivative ClipGrad(x)."""

    value_like_x = True

    def fdiff(self, argindex=1):
        if argindex != 1:  # the bounds are numbers: nothing to differentiate
            raise ArgumentIndexError(self, argindex)
        return ClipGrad(*self.args)

    @classmethod
    def elementary(cls, x, lo, hi):
        return sp.Piecewise((lo, x < lo), (hi, x > hi), (x, True))


# Functions of the expression language besides the activations: name -> class. Their
# arguments after the first are numeric literals (``clip(c, -3, 3)``).
FUNCTIONS: dict[str, type[Bounded]] = {"clip": Clip}

# Element-wise functions of the language, one argument each (``exp`` is ``exponential``).
UNARY: dict[str, type[Activation]] = {
    "abs": AbsoluteValue,
    "exp": Exponential,
    "log": NaturalLog,
    "log_sigmoid": LogSigmoid,
    "sqrt": SquareRoot,
    "stop_gradient": StopGradient,
}

# Element-wise functions of two arguments, any expressions.
BINARY: dict[str, type[Binary]] = {"max": Maximum, "min": Minimum}

ACTIVATIONS: dict[str, type[Activation]] = {
    "elu": Elu,
    "exponential": Exponential,
    "hard_sigmoid": HardSigmoid,
    "hard_sigmoid_keras2": HardSigmoidKeras2,
    "hard_tanh": HardTanh,
    "leaky_relu": LeakyRelu,
    "linear": Linear,
    "relu": Relu,
    "relu6": Relu6,
    "selu": Selu,
    "sigmoid": Sigmoid,
    "silu": Silu,
    "softplus": Softplus,
    "softsign": Softsign,
    "sparse_sigmoid": SparseSigmoid,
    "tanh": Tanh,
}

GRADIENTS: tuple[type[Activation], ...] = (
    AbsGrad,
    EluGrad,
    HardSigmoidGrad,
    HardSigmoidKeras2Grad,
    HardTanhGrad,
    LeakyReluGrad,
    LogSigmoidGrad,
    Relu6Grad,
    ReluGrad,
    SeluGrad,
    SiluGrad,
    SoftplusGrad,
    SparseSigmoidGrad,
)


def to_elementary(expr: sp.Expr) -> sp.Expr:
    """Replace every activation, gradient and bounded function by its closed form (for exact
    checks; ``Piecewise`` there never reaches a printer)."""
    return expr.replace(
        lambda e: isinstance(e, (Activation, Binary, Bounded)),
        lambda e: type(e).elementary(*e.args),
    )
