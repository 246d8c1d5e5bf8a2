"""Verification: CellSpec -> CheckResults (exact derivation, finite differences, real Keras).

Checks, each returning a ``CheckResult``:

* ``exact``: the derived adjoint recurrence against ``sympy.diff`` of the whole unrolled
  scalar loss, both evaluated at 60 digits at a random rational point (tolerance 1e-40).
* ``numeric``: the generated NumPy ``backward`` against central finite differences of the
  generated ``forward`` in float64.
* ``keras-numpy`` / ``keras-tf``: the generated forward and backward against
  ``keras.layers.LSTM(dtype="float64")`` with the same weights and ``tf.GradientTape``.
* ``autodiff-tf``: the generated TF ``backward`` against TensorFlow's autodiff of the
  generated TF ``forward``.
* ``autodiff-jax``: the gradient of the generated JAX ``rnn`` (a custom VJP: the generated
  ``backward``) against ``jax.grad`` through the generated JAX ``forward``, in float64.
* ``numpy-jax``: the generated JAX forward and backward against the generated NumPy ones.

Errors are normwise relative: ``max|got - want| / max|want|`` over each compared array, the
largest over all arrays of a check.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import time
import types
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import sympy as sp

from . import derive, emit, equations
from .activations import to_elementary
from .program import Product, ProductAdjoint, Reduction, ReductionAdjoint
from .spec import CellSpec

EXACT_DIGITS = 60
EXACT_TOLERANCE = 1e-40
NUMERIC_TOLERANCE = 1e-7
FLOAT64_TOLERANCE = 1e-10
INSTALL_TF = "pip install 'lstmgen[tf]'"
INSTALL_JAX = "pip install 'jax[cpu]'"


@dataclass(frozen=True)
class CheckResult:
    """One row of the verification table."""

    variant: str
    check: str
    max_error: float | None
    tolerance: float
    status: str  # PASS, FAIL or NOT RUN
    detail: str = ""
    seconds: float | None = None  # wall time of the check (run_checks sets it)


def _result(spec: CellSpec, check: str, error: float, tolerance: float, detail="") -> CheckResult:
    ok = bool(np.isfinite(error)) and error <= tolerance
    return CheckResult(spec.name, check, float(error), tolerance, "PASS" if ok else "FAIL", detail)


def relative_error(got, want) -> float:
    """``max|got - want| / max|want|`` (absolute when ``want`` is all zeros)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        return float("inf")
    scale = np.max(np.abs(want)) if want.size else 0.0
    diff = np.max(np.abs(got - want)) if want.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


def load_module(source: str, name: str) -> types.ModuleType:
    """Execute generated source as a fresh module (what ``emit`` would write)."""
    module = types.ModuleType(name)
    exec(compile(source, f"<lstmgen {name}>", "exec"), module.__dict__)
    return module


# --- exact check -------------------------------------------------------------------------


@dataclass(frozen=True)
class Shapes:
    """Sizes of the unrolled problem of the exact check.

    SymPy differentiates the loss as a tree, and the tree grows like (4 * units + 1)**time:
    the default (three steps, one unit, one sequence) takes seconds per variant; the tests
    also run two units and two sequences, which couples units through the recurrent product.
    """

    batch: int = 1
    time: int = 3
    input_dim: int = 2
    units: int = 1
    proj_units: int = 1

    def size(self, name: str) -> int:
        """A size by name: ``units`` or ``proj_units``."""
        return getattr(self, name)


def extra_sizes(spec: CellSpec) -> tuple[str, ...]:
    """The sizes besides ``units`` that ``param_shapes`` takes (LSTMP: ``proj_units``)."""
    widths = equations.forward_program(spec).state_widths
    return tuple(dict.fromkeys(w for w in widths if w != "units"))


def _point(spec: CellSpec, shapes: Shapes, seed: int) -> dict[str, np.ndarray]:
    """Random rationals for every parameter, input, initial state and loss weight."""
    rng = random.Random(seed)
    width = len(spec.blocks) * shapes.units
    b, t, i, h = shapes.batch, shapes.time, shapes.input_dim, shapes.units
    state_widths = equations.forward_program(spec).state_widths
    sizes = {s: shapes.size(w) for s, w in zip(spec.states, state_widths, strict=True)}

    def fill(*shape):
        # Rationals, carried as EXACT_DIGITS-digit floats: a function of a number then
        # evaluates at once, so the loss expression holds only the differentiated variable.
        values = [
            sp.Float(sp.Rational(rng.randint(-30, 30), rng.randint(10, 20)), EXACT_DIGITS)
            for _ in range(int(np.prod(shape)))
        ]
        array = np.empty(int(np.prod(shape)), dtype=object)
        array[:] = values
        return array.reshape(shape)

    point = {
        "kernel": fill(i, width),
        "recurrent_kernel": fill(sizes[spec.states[0]], width),
        "bias": fill(2, width) if spec.recurrent_bias else fill(width),
        "x": fill(b, t, i),
        "d_outputs": fill(b, t, sizes[spec.states[0]]),
    }
    for name in spec.unit_params:
        point[name] = fill(h)
    for vector in spec.vectors:
        point[vector.name] = fill(max(len(vector.blocks), 1) * h)
    for matrix in spec.matrix_params:
        point[matrix.name] = fill(matrix.rows * h, len(matrix.blocks) * shapes.size(matrix.width))
    for state in spec.states:
        point[f"initial_{state}"] = fill(b, sizes[state])
        point[f"d_final_{state}"] = fill(b, sizes[state])
    return point


def _evaluate(expr: sp.Expr, env: dict) -> sp.Expr:
    return to_elementary(expr.xreplace(env)).evalf(EXACT_DIGITS)


def _elementwise(expr: sp.Expr, env: dict, evaluate: Callable, shape) -> np.ndarray:
    """``expr`` at every (batch, unit), reading each name's (batch, units) array in env."""
    out = np.empty(shape, dtype=object)
    symbols = expr.free_symbols
    for index in np.ndindex(shape):
        out[index] = evaluate(expr, {s: env[s][index] for s in symbols})
    return out


def _weight_block(point, product) -> np.ndarray:
    """The columns of a Product's weight block."""
    return np.split(point[product.weight], product.count, axis=1)[product.block]


def _recurrent_columns(forward, shapes: Shapes) -> np.ndarray:
    """1 on the columns of the blocks the recurrent product feeds, else 0."""
    apart = forward.recurrent_bias or forward.products_apart
    blocks = len(forward.preactivations) // (2 if apart else 1)
    fed = [1 if k in forward.recurrent_blocks else 0 for k in range(blocks)]
    return np.repeat(fed, shapes.units)


def _unrolled_forward(forward, point, shapes: Shapes, evaluate: Callable):
    """Run the forward program over the sequence; returns outputs, final states, envs.

    Each statement runs on whole (batch, units) arrays: a per-unit line element by element,
    a Product as the matrix product it is (it couples the units).
    """
    b_n, t_n, h_n = shapes.batch, shapes.time, shapes.units
    state_names = [s.name for s in forward.states]
    states = {s: point[f"initial_{s}"].copy() for s in state_names}
    outputs = np.empty((b_n, t_n, point["d_outputs"].shape[-1]), dtype=object)
    envs = {}
    for t in range(t_n):
        a_x = point["x"][:, t, :].dot(point["kernel"])
        if forward.recurrent_kernel:
            a_h = states[state_names[0]].dot(point["recurrent_kernel"])
            a_h = a_h * _recurrent_columns(forward, shapes)
        else:
            a_h = np.zeros_like(a_x)
        if forward.products_apart:  # the bare products wx_<block>, then uh_<block>
            a = np.concatenate((a_x, a_h), axis=-1)
        elif forward.recurrent_bias:  # the inputs ax_<block>, then ah_<block>
            a = np.concatenate((a_x + point["bias"][0], a_h + point["bias"][1]), axis=-1)
        else:
            a = a_x + a_h + point["bias"]
        env = {p: a[:, k * h_n : (k + 1) * h_n] for k, p in enumerate(forward.preactivations)}
        env.update(
            {
                p: np.tile(_unit_values(point, source, h_n), (b_n, 1))
                for p, source in zip(forward.unit_params, forward.unit_sources, strict=True)
            }
        )
        env.update({tm1: states[s] for s, tm1 in zip(state_names, forward.states_tm1, strict=True)})
        for statement in forward.assignments:
            if isinstance(statement, Product):
                source = np.concatenate([env[s] for s in statement.sources], axis=-1)
                env[statement.target] = source.dot(_weight_block(point, statement))
            elif isinstance(statement, Reduction):
                env[statement.target] = _reduced(statement, env, evaluate, (b_n, h_n))
            else:
                env[statement.target] = _elementwise(statement.expr, env, evaluate, (b_n, h_n))
        states = {s.name: env[s] for s in forward.states}
        outputs[:, t, :] = states[state_names[0]]
        envs[t] = env
    return outputs, states, envs


def _unit_values(point, source: tuple[str, int], units: int) -> np.ndarray:
    """A unit parameter's values: the whole (units,) parameter, or its gate block k."""
    name, k = source
    return point[name] if k < 0 else point[name][k * units : (k + 1) * units]


def _reduced(reduction: Reduction, env: dict, evaluate: Callable, shape) -> np.ndarray:
    """A Reduction's row values, repeated across the units (as the targets broadcast)."""
    rows = sum(_elementwise(t, env, evaluate, shape).sum(axis=1) for t in reduction.terms)
    if reduction.op == "mean":
        rows = rows / (len(reduction.terms) * shape[1])
    return np.repeat(rows[:, None], shape[1], axis=1)


def _reduction_share(adjoint: ReductionAdjoint, env: dict, shape) -> np.ndarray:
    """What each reduced element receives: the row sum of the per-unit shares, divided by
    the count of elements for a mean; repeated across the units."""
    rows = env[adjoint.d_output].sum(axis=1)
    if adjoint.reduction.op == "mean":
        rows = rows / (len(adjoint.reduction.terms) * shape[1])
    return np.repeat(rows[:, None], shape[1], axis=1)


def _derived_gradients(forward, backward, point, shapes: Shapes) -> dict[str, np.ndarray]:
    """The gradient by the derived adjoint recurrence, at EXACT_DIGITS digits."""
    b_n, t_n, h_n = shapes.batch, shapes.time, shapes.units
    _, _, envs = _unrolled_forward(forward, point, shapes, _evaluate)
    names = [s.name for s in forward.states]
    carry = {s: point[f"d_final_{s}"].copy() for s in names}
    recurrent = ("recurrent_kernel",) if forward.recurrent_kernel else ()
    keys = ("kernel", *recurrent, "bias", "x", *forward.matrix_params)
    grads = {k: np.zeros_like(point[k]) for k in keys}
    grads.update({name: np.zeros_like(point[name]) for name, _ in forward.unit_sources})
    grads = {k: v + sp.Integer(0) for k, v in grads.items()}
    h_seq = {0: point[f"initial_{names[0]}"]}
    for t in range(t_n):
        h_seq[t + 1] = envs[t][forward.states[0]]
    for t in reversed(range(t_n)):
        carry[names[0]] = carry[names[0]] + point["d_outputs"][:, t, :]
        env = dict(envs[t])
        env.update({seed: carry[s] for s, seed in zip(names, backward.seeds, strict=True)})
        for block in backward.blocks:
            for statement in block.assignments:
                if isinstance(statement, ReductionAdjoint):
                    env[statement.each] = _reduction_share(statement, env, (b_n, h_n))
                elif isinstance(statement, ProductAdjoint):
                    product = statement.product
                    weight = _weight_block(point, product)
                    d_output = env[statement.d_output]
                    parts = np.split(d_output.dot(weight.T), len(product.sources), axis=-1)
                    for d_s, add, part in zip(
                        statement.d_sources, statement.accumulate, parts, strict=True
                    ):
                        env[d_s] = env[d_s] + part if add else part
                    source = np.concatenate([env[s] for s in product.sources], axis=-1)
                    size = weight.shape[1]
                    columns = slice(product.block * size, (product.block + 1) * size)
                    grads[product.weight][:, columns] += source.T.dot(d_output)
                else:
                    env[statement.target] = _elementwise(statement.expr, env, _evaluate, (b_n, h_n))
        d_a = np.concatenate([env[d_p] for d_p in backward.d_preactivations], axis=-1)
        for (name, k), d_p in zip(forward.unit_sources, backward.d_unit_params, strict=True):
            columns = slice(None) if k < 0 else slice(k * h_n, (k + 1) * h_n)
            grads[name][columns] += env[d_p].sum(axis=0)
        direct = {
            s: env[d_tm1] if d_tm1 is not None else np.zeros_like(carry[s]) + 0
            for s, d_tm1 in zip(names, backward.d_states_tm1, strict=True)
        }
        if forward.products_apart:  # the bias: among the unit parameters
            d_a_x, d_a_h = np.split(d_a, 2, axis=-1)
        elif forward.recurrent_bias:
            d_a_x, d_a_h = np.split(d_a, 2, axis=-1)
            grads["bias"] += np.stack((d_a_x.sum(axis=0), d_a_h.sum(axis=0)))
        else:
            d_a_x = d_a_h = d_a
            grads["bias"] += d_a.sum(axis=0)
        d_a_h = d_a_h * _recurrent_columns(forward, shapes)
        grads["kernel"] += point["x"][:, t, :].T.dot(d_a_x)
        if forward.recurrent_kernel:
            grads["recurrent_kernel"] += h_seq[t].T.dot(d_a_h)
        grads["x"][:, t, :] = d_a_x.dot(point["kernel"].T)
        carry = dict(direct)
        if forward.recurrent_kernel:
            carry[names[0]] = carry[names[0]] + d_a_h.dot(point["recurrent_kernel"].T)
    for s in names:
        grads[f"initial_{s}"] = carry[s]
    return grads


def exact_check(spec: CellSpec, seed: int = 0, shapes: Shapes = Shapes()) -> CheckResult:
    """Derived adjoints vs ``sympy.diff`` of the unrolled loss, at a random rational point.

    The loss is ``sum(d_outputs * outputs) + sum(d_final_s * final_s)``, built as one SymPy
    expression in the variable being differentiated (every other value exact), then
    ``sympy.diff`` w.r.t. that variable, evaluated at ``EXACT_DIGITS`` digits.
    """
    forward = equations.forward_program(spec)
    backward = derive.adjoint_program(forward)
    return compare_exact(spec, forward, backward, seed, shapes)


def compare_exact(spec, forward, backward, seed: int = 0, shapes: Shapes = Shapes()) -> CheckResult:
    """The exact check for given programs (tests pass a deliberately wrong ``backward``)."""
    point = _point(spec, shapes, seed)
    derived = _derived_gradients(forward, backward, point, shapes)
    worst = 0.0
    names = [s.name for s in forward.states]
    v = sp.Symbol("v")
    for key, values in derived.items():
        for index in np.ndindex(values.shape):
            local = {k: a.copy() for k, a in point.items()}
            local[key][index] = v
            outputs, finals, _ = _unrolled_forward(
                forward, local, shapes, lambda e, env: e.xreplace(env)
            )
            loss = (outputs * point["d_outputs"]).sum() + sum(
                (finals[s] * point[f"d_final_{s}"]).sum() for s in names
            )
            exact = _evaluate(sp.diff(loss, v), {v: point[key][index]})
            diff = abs(sp.Float(values[index], EXACT_DIGITS) - exact)
            scale = max(abs(exact), sp.Float(1e-30))
            worst = max(worst, float(diff / scale))
    return _result(spec, "exact (sympy.diff, 60 digits)", worst, EXACT_TOLERANCE)


# --- numeric checks -----------------------------------------------------------------------


def _random_problem(
    module,
    spec: CellSpec,
    dtype=np.float64,
    seed=0,
    batch=2,
    time=4,
    input_dim=3,
    units=3,
    scale=1.0,
):
    rng = np.random.default_rng(seed)
    # Other sizes differ from units, so that a mixed-up size cannot pass.
    size = {"units": units, **{name: units + 2 for name in extra_sizes(spec)}}
    shapes = module.param_shapes(input_dim, units, *(size[n] for n in extra_sizes(spec)))
    widths = [size[w] for w in equations.forward_program(spec).state_widths]
    params = {k: (rng.normal(size=s) * 0.6).astype(dtype) for k, s in shapes.items()}
    x = (rng.normal(size=(batch, time, input_dim)) * scale).astype(dtype)
    init = tuple(rng.normal(size=(batch, w)).astype(dtype) for w in widths)
    d_out = rng.normal(size=(batch, time, widths[0])).astype(dtype)
    d_final = tuple(rng.normal(size=(batch, w)).astype(dtype) for w in widths)
    return params, x, init, d_out, d_final


def numeric_check(spec: CellSpec, module=None, seed: int = 0, step: float = 1e-6) -> CheckResult:
    """Generated NumPy ``backward`` vs central finite differences of ``forward`` (float64)."""
    module = module or load_module(emit.build(spec, "numpy"), spec.name)
    params, x, init, d_out, d_final = _random_problem(module, spec, seed=seed)

    def loss(params, x, init):
        outputs, final, _ = module.forward(params, x, init)
        return float(
            np.sum(outputs * d_out)
            + sum(np.sum(f * w) for f, w in zip(final, d_final, strict=True))
        )

    _, _, tape = module.forward(params, x, init)
    d_params, d_x, d_init = module.backward(params, tape, d_out, d_final)
    arrays = {**{f"params[{k!r}]": (params[k], d_params[k]) for k in params}, "x": (x, d_x)}
    arrays.update({f"initial_state[{k}]": (init[k], d_init[k]) for k in range(len(init))})
    worst = 0.0
    for _, (value, analytic) in arrays.items():
        fd = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            saved = value[index]
            value[index] = saved + step
            up = loss(params, x, init)
            value[index] = saved - step
            down = loss(params, x, init)
            value[index] = saved
            fd[index] = (up - down) / (2 * step)
        worst = max(worst, relative_error(analytic, fd))
    return _result(spec, "numeric (numpy vs finite differences)", worst, NUMERIC_TOLERANCE)


# --- Keras checks -------------------------------------------------------------------------


def keras_activation(name: str):
    """The Keras activation for one of ours (Keras 2 hard_sigmoid as a clip, as tf-keras)."""
    import keras

    if name == "hard_sigmoid_keras2":
        return lambda x: keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)
    return keras.activations.get(name)


def keras_reference(spec: CellSpec, params, x, init, d_out, d_final):
    """Outputs, final states and gradients of the real ``keras.layers.<spec.keras_layer>``
    (``LSTM`` or ``GRU``), float64."""
    import keras
    import tensorflow as tf

    batch, _, input_dim = x.shape
    layer = getattr(keras.layers, spec.keras_layer)(
        init[0].shape[-1],
        activation=keras_activation(spec.activation),
        recurrent_activation=keras_activation(spec.recurrent_activation),
        return_sequences=True,
        return_state=True,
        dtype="float64",
        **dict(spec.keras_options),
    )
    layer.build((batch, None, input_dim))
    layer.set_weights([params[k] for k in ("kernel", "recurrent_kernel", "bias")])
    xt = tf.constant(x)
    init_t = [tf.constant(s) for s in init]
    with tf.GradientTape() as tape:
        tape.watch([xt, *init_t])
        outputs, *final = layer(xt, initial_state=init_t)
        loss = tf.reduce_sum(outputs * d_out) + sum(
            tf.reduce_sum(f * w) for f, w in zip(final, d_final, strict=True)
        )
    grads = tape.gradient(loss, [xt, *init_t, *layer.trainable_weights])
    grads = [np.asarray(g) for g in grads]
    n = len(init)
    d_params = dict(zip(("kernel", "recurrent_kernel", "bias"), grads[1 + n :], strict=True))
    return (
        outputs.numpy(),
        tuple(np.asarray(f) for f in final),
        d_params,
        grads[0],
        tuple(grads[1 : 1 + n]),
    )


def _tf_available() -> bool:
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def _compare_all(got, want) -> float:
    (o, f, dp, dx, di), (ko, kf, kdp, kdx, kdi) = got, want
    errors = [relative_error(o, ko), relative_error(dx, kdx)]
    errors += [relative_error(a, b) for a, b in zip(f, kf, strict=True)]
    errors += [relative_error(a, b) for a, b in zip(di, kdi, strict=True)]
    errors += [relative_error(dp[k], kdp[k]) for k in kdp]
    return max(errors)


def _run_generated(module, params, x, init, d_out, d_final, to_numpy=np.asarray):
    outputs, final, tape = module.forward(params, x, init)
    d_params, d_x, d_init = module.backward(params, tape, d_out, d_final)
    return (
        to_numpy(outputs),
        tuple(to_numpy(f) for f in final),
        {k: to_numpy(v) for k, v in d_params.items()},
        to_numpy(d_x),
        tuple(to_numpy(d) for d in d_init),
    )


def keras_check(spec: CellSpec, target: str = "numpy", seed: int = 0) -> CheckResult:
    """Generated forward and backward vs ``keras.layers.LSTM`` in float64."""
    check = f"keras-{target} (vs keras.layers.{spec.keras_layer or 'LSTM'}, float64)"
    if not spec.keras_layer:
        return CheckResult(
            spec.name, check, None, FLOAT64_TOLERANCE, "NOT RUN", "no Keras counterpart"
        )
    if not _tf_available():
        return CheckResult(
            spec.name, check, None, FLOAT64_TOLERANCE, "NOT RUN", f"needs TensorFlow: {INSTALL_TF}"
        )
    import tensorflow as tf

    module = load_module(emit.build(spec, target), spec.name)
    problem = _random_problem(
        module, spec, seed=seed, batch=3, time=5, input_dim=4, units=4, scale=2.0
    )
    want = keras_reference(spec, *problem)
    if target == "numpy":
        got = _run_generated(module, *problem)
    else:
        params, x, init, d_out, d_final = problem
        as_tensor = lambda a: tf.constant(a)  # noqa: E731
        got = _run_generated(
            module,
            {k: as_tensor(v) for k, v in params.items()},
            as_tensor(x),
            tuple(as_tensor(s) for s in init),
            as_tensor(d_out),
            tuple(as_tensor(s) for s in d_final),
            to_numpy=lambda t: np.asarray(t),
        )
    return _result(spec, check, _compare_all(got, want), FLOAT64_TOLERANCE)


def autodiff_check(spec: CellSpec, seed: int = 0) -> CheckResult:
    """Generated TF ``backward`` vs ``tf.GradientTape`` over the generated TF ``forward``."""
    check = "autodiff-tf (backward vs GradientTape of forward, float64)"
    if not _tf_available():
        return CheckResult(
            spec.name, check, None, FLOAT64_TOLERANCE, "NOT RUN", f"needs TensorFlow: {INSTALL_TF}"
        )
    import tensorflow as tf

    module = load_module(emit.build(spec, "tf"), spec.name)
    params, x, init, d_out, d_final = _random_problem(module, spec, seed=seed, scale=2.0)
    params = {k: tf.constant(v) for k, v in params.items()}
    x, init = tf.constant(x), tuple(tf.constant(s) for s in init)
    with tf.GradientTape() as tape:
        tape.watch([x, *init, *params.values()])
        outputs, final, record = module.forward(params, x, init)
        loss = tf.reduce_sum(outputs * d_out) + sum(
            tf.reduce_sum(f * w) for f, w in zip(final, d_final, strict=True)
        )
    want = tape.gradient(loss, [x, *init, *params.values()])
    d_params, d_x, d_init = module.backward(
        params, record, tf.constant(d_out), tuple(tf.constant(d) for d in d_final)
    )
    got = [d_x, *d_init, *d_params.values()]
    error = max(
        relative_error(np.asarray(g), np.asarray(w)) for g, w in zip(got, want, strict=True)
    )
    return _result(spec, check, error, FLOAT64_TOLERANCE)


def _jax_available() -> bool:
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


def _not_run_without_jax(spec: CellSpec, check: str) -> CheckResult | None:
    if _jax_available():
        return None
    return CheckResult(
        spec.name, check, None, FLOAT64_TOLERANCE, "NOT RUN", f"needs JAX: {INSTALL_JAX}"
    )


def jax_autodiff_check(spec: CellSpec, seed: int = 0) -> CheckResult:
    """The generated JAX ``rnn``'s gradient (its VJP is the generated ``backward``) vs
    ``jax.grad`` through the generated JAX ``forward``'s ``lax.scan``, in float64."""
    check = "autodiff-jax (rnn's VJP vs jax.grad of forward, float64)"
    not_run = _not_run_without_jax(spec, check)
    if not_run:
        return not_run
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        module = load_module(emit.build(spec, "jax"), spec.name)
        params, x, init, d_out, d_final = _random_problem(module, spec, seed=seed, scale=2.0)

        def loss(run, params, x, init):
            outputs, final = run(params, x, init)[:2]
            return jnp.sum(outputs * d_out) + sum(
                jnp.sum(f * w) for f, w in zip(final, d_final, strict=True)
            )

        got = jax.jit(jax.grad(partial(loss, module.rnn), (0, 1, 2)))(params, x, init)
        want = jax.jit(jax.grad(partial(loss, module.forward), (0, 1, 2)))(params, x, init)
        pairs = zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True)
        error = max(relative_error(np.asarray(g), np.asarray(w)) for g, w in pairs)
    return _result(spec, check, error, FLOAT64_TOLERANCE)


def numpy_jax_check(spec: CellSpec, seed: int = 0) -> CheckResult:
    """The generated JAX ``forward`` and ``backward`` vs the generated NumPy ones, float64."""
    check = "numpy-jax (JAX forward, backward vs NumPy's, float64)"
    not_run = _not_run_without_jax(spec, check)
    if not_run:
        return not_run
    import jax

    reference = load_module(emit.build(spec, "numpy"), spec.name)
    problem = _random_problem(reference, spec, seed=seed, scale=2.0)
    want = _run_generated(reference, *problem)
    with jax.enable_x64(True):
        module = load_module(emit.build(spec, "jax"), spec.name)
        jitted = types.SimpleNamespace(
            forward=jax.jit(module.forward), backward=jax.jit(module.backward)
        )
        got = _run_generated(jitted, *problem)
    return _result(spec, check, _compare_all(got, want), FLOAT64_TOLERANCE)


CHECK_WIDTH = len("autodiff-tf (backward vs GradientTape of forward, float64)")
COLUMNS = ("variant", "check", "max error", "tolerance", "time", "status")

Progress = Callable[[CellSpec, str, int, int], None]


def _timed(check: Callable[..., CheckResult], *args) -> CheckResult:
    start = time.perf_counter()
    result = check(*args)
    return replace(result, seconds=time.perf_counter() - start)


def _timed_exact(spec: CellSpec) -> CheckResult:
    """``exact_check`` with its wall time (a module-level function, for the process pool)."""
    return _timed(exact_check, spec)


def run_checks(
    specs: list[CellSpec],
    targets: list[str],
    workers: int = 0,
    progress: Progress | None = None,
) -> Iterator[CheckResult]:
    """Every check for each spec, yielded as each finishes, in table order: exact, numeric,
    then keras-<target> (and autodiff-tf after keras-tf) for each target; for ``jax``,
    autodiff-jax and numpy-jax.

    The exact checks (SymPy, CPU-bound, seconds each) are all submitted up front to
    ``workers`` processes (default: one per core) and run while the others run here, where
    TensorFlow is imported once. Each result carries its wall time in ``seconds``.

    Args:
        specs: the cells to check; targets: any of ``numpy``, ``tf``, ``jax``.
        workers: processes for the exact checks; 1 runs them here, in turn.
        progress: called as ``progress(spec, check, k, n)`` before the row of ``check``
            (``exact``, ``numeric``, ``keras-<target>``, ``autodiff-tf``, ...) of the
            ``k``-th of ``n`` specs is awaited or computed.
    """
    specs = list(specs)
    workers = workers or os.cpu_count() or 1
    pool = None
    if workers > 1 and len(specs) > 1:
        # Spawned, not forked: by now TensorFlow or JAX may run threads in this process,
        # and a fork of a multithreaded process can deadlock.
        spawn = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(min(workers, len(specs)), mp_context=spawn)
    try:
        exact = [pool.submit(_timed_exact, spec) for spec in specs] if pool else []
        for k, spec in enumerate(specs):
            steps: list[tuple[str, Callable[[], CheckResult]]] = [
                ("exact", exact[k].result if pool else partial(_timed_exact, spec)),
                ("numeric", partial(_timed, numeric_check, spec)),
            ]
            for target in targets:
                if target == "jax":
                    steps.append(("autodiff-jax", partial(_timed, jax_autodiff_check, spec)))
                    steps.append(("numpy-jax", partial(_timed, numpy_jax_check, spec)))
                    continue
                steps.append((f"keras-{target}", partial(_timed, keras_check, spec, target)))
                if target == "tf":
                    steps.append(("autodiff-tf", partial(_timed, autodiff_check, spec)))
            for check, compute in steps:
                if progress is not None:
                    progress(spec, check, k + 1, len(specs))
                yield compute()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _cells(r: CheckResult) -> tuple[str, ...]:
    error = "-" if r.max_error is None else f"{r.max_error:.2e}"
    seconds = "-" if r.seconds is None else f"{r.seconds:.1f}s"
    status = r.status + (f" ({r.detail})" if r.detail else "")
    return (r.variant, r.check, error, f"{r.tolerance:.0e}", seconds, status)


def table_widths(variants) -> tuple[int, ...]:
    """Column widths for rows printed as they come: the variant column fits ``variants``
    (names), the others fit their usual contents (longer cells push the row out)."""
    names = [len(name) for name in variants]
    return (max([len(COLUMNS[0]), *names]), CHECK_WIDTH, 9, 9, 6, 6)


def _line(cells, widths) -> str:
    return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()


def format_header(widths: tuple[int, ...]) -> str:
    """The table's two header lines: column names, then dashes."""
    return _line(COLUMNS, widths) + "\n" + "  ".join("-" * w for w in widths)


def format_row(result: CheckResult, widths: tuple[int, ...]) -> str:
    """One row: variant, check, max error, tolerance, time, status."""
    return _line(_cells(result), widths)


def format_table(results: list[CheckResult]) -> str:
    """A plain-text table: variant, check, max error, tolerance, time, status."""
    rows = [COLUMNS, *(_cells(r) for r in results)]
    widths = tuple(max(len(row[k]) for row in rows) for k in range(len(COLUMNS)))
    return "\n".join([format_header(widths), *(format_row(r, widths) for r in results)])
