"""The committed JAX modules: against the NumPy modules, JAX autodiff, the TF modules' mask,
and JAX's own reference LSTM (``jax.experimental.rnn.lstm_ref``).

* Every built-in variant, float64, under ``jax.jit``: ``rnn`` and its VJP (the generated
  backward, a ``jax.custom_vjp``) equal the NumPy module's forward and backward. For cells
  of each kind (and ``lstmgen verify --target jax`` for all), the VJP equals JAX's autodiff
  through the generated ``forward``'s ``lax.scan``, and ``forward`` / ``backward`` equal it.
* ``rnn`` under ``jax.vmap`` over a leading axis of sequences, float32, ``step``, and the
  Keras mask semantics against the generated TF module.
* ``lstm`` against ``lstm_ref`` (PyTorch layout ``W_ih``, ``W_hh``, ``b_ih``, ``b_hh``, gate
  order i, f, g, o: Keras's kernel transposed, our bias as ``b_ih``, ``b_hh`` zero).

Sizes are small and few: each jitted function costs a compile, made with XLA's cheap
optimization level (the tests time compiles, not the code).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from generated_modules import ROOT, load_generated, param_shapes, state_widths
from jax.experimental import rnn as jax_rnn

from lstmgen import emit
from lstmgen.specfile import all_variants, load_spec
from lstmgen.verify import load_module, relative_error

ALL_VARIANTS = sorted(all_variants())
TOL64, TOL32 = 1e-10, 1e-5
BATCH, TIME, FEATURES, UNITS = 2, 5, 3, 4
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
# A leading masked step, gaps and a fully masked sequence.
MASK = np.array([[0, 1, 0, 1, 1], [1, 0, 0, 1, 0], [0, 0, 0, 0, 0]], bool)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def problem(module, batch=BATCH, dtype=np.float64, seed=0):
    """(params, x, initial state, d_outputs, d_final_state) as NumPy arrays of ``dtype``."""
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=s) * 0.6 for k, s in param_shapes(module, FEATURES, UNITS).items()}
    widths = state_widths(module, UNITS)
    x = rng.normal(size=(batch, TIME, FEATURES)) * 2
    init = tuple(rng.normal(size=(batch, w)) for w in widths)
    d_out = rng.normal(size=(batch, TIME, widths[0]))
    d_final = tuple(rng.normal(size=(batch, w)) for w in widths)
    cast = lambda a: np.asarray(a, dtype)  # noqa: E731
    return (
        {k: cast(v) for k, v in params.items()},
        cast(x),
        tuple(map(cast, init)),
        cast(d_out),
        tuple(map(cast, d_final)),
    )


def assert_close(got, want, tol, what):
    got, want = jax.tree.leaves(got), jax.tree.leaves(want)
    assert len(got) == len(want), what
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        error = relative_error(np.asarray(g, np.float64), np.asarray(w, np.float64))
        assert error <= tol, f"{what} [{k}]: {error:.2e} > {tol:.0e}"


def jitted(function, *args):
    """``jax.jit(function)(*args)``, compiled with ``FAST_COMPILE``."""
    return jax.jit(function).lower(*args).compile(compiler_options=FAST_COMPILE)(*args)


def rnn_and_vjp(module, *args):
    """Jitted: ``rnn``'s (outputs, final state) and its VJP for (d_out, d_final)."""

    def run(params, x, init, d_out, d_final):
        primal, vjp = jax.vjp(module.rnn, params, x, init)
        return primal, vjp((d_out, d_final))

    return jitted(run, *args)


def all_vjps(module, *args, mask=None):
    """Jitted: forward, backward, the VJP of ``rnn`` and JAX's autodiff VJP through
    ``forward``, for (params, x, init, d_out, d_final)."""

    def run(params, x, init, d_out, d_final):
        outputs, final, tape = module.forward(params, x, init, mask)
        backward = module.backward(params, tape, d_out, d_final)
        cotangents = (d_out, d_final)
        _, custom = jax.vjp(lambda *a: module.rnn(*a, mask=mask), params, x, init)
        _, autodiff = jax.vjp(lambda *a: module.forward(*a, mask)[:2], params, x, init)
        return (outputs, final), backward, custom(cotangents), autodiff(cotangents)

    return jitted(run, *args)


def numpy_results(reference, params, x, init, d_out, d_final):
    outputs, final, tape = reference.forward(params, x, init)
    return (outputs, final), reference.backward(params, tape, d_out, d_final)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_jitted_rnn_and_its_vjp_match_numpy(variant):
    module, reference = load_generated("jax", variant), load_generated("numpy", variant)
    assert module.FINGERPRINT == reference.FINGERPRINT
    assert module.PARAM_NAMES == reference.PARAM_NAMES
    assert module.STATE_NAMES == reference.STATE_NAMES
    assert module.STATE_SIZES == reference.STATE_SIZES
    args = problem(reference)
    primal, custom = rnn_and_vjp(module, *args)
    forward, backward = numpy_results(reference, *args)
    assert primal[0].dtype == jnp.float64
    assert_close(primal, forward, TOL64, "rnn vs NumPy forward")
    assert_close(custom, backward, TOL64, "rnn VJP vs NumPy backward")


@pytest.mark.parametrize("example", ["janet", "ugrnn"])
def test_spec_file_cells_emit_a_working_jax_module(example):
    spec = load_spec(ROOT / "examples" / f"{example}.toml")
    module = load_module(emit.build(spec, "jax"), f"{example}_jax")
    reference = load_module(emit.build(spec, "numpy"), f"{example}_numpy")
    args = problem(reference)
    primal, custom = rnn_and_vjp(module, *args)
    forward, backward = numpy_results(reference, *args)
    assert_close(primal, forward, TOL64, "rnn vs NumPy forward")
    assert_close(custom, backward, TOL64, "rnn VJP vs NumPy backward")


# One cell of each kind: projection sizes, an in-step product of some recurrent kernel
# columns, in-step weight blocks with unit parameters, no recurrent kernel, normalizers.
@pytest.mark.parametrize(
    "variant", ["lstm_projection", "gru_reset_before", "lstm_peephole_fgr", "sru", "slstm"]
)
def test_vjp_matches_jax_autodiff_and_forward_backward(variant):
    module, reference = load_generated("jax", variant), load_generated("numpy", variant)
    args = problem(reference)
    forward, backward, custom, autodiff = all_vjps(module, *args)
    assert_close(custom, autodiff, TOL64, "rnn VJP vs jax autodiff of forward")
    assert_close(forward, numpy_results(reference, *args)[0], TOL64, "forward vs NumPy")
    assert_close(backward, custom, TOL64, "backward vs rnn VJP")


@pytest.mark.parametrize("variant", ["lstm", "gru", "qrnn"])
def test_mask_matches_the_tf_module(variant):
    import tensorflow as tf

    module, tf_module = load_generated("jax", variant), load_generated("tf", variant)
    params, x, init, d_out, d_final = problem(module, batch=len(MASK))
    forward, backward, custom, autodiff = all_vjps(
        module, params, x, init, d_out, d_final, mask=MASK
    )
    as_tf = {k: tf.constant(v) for k, v in params.items()}
    outputs, final, tape = tf_module.forward(as_tf, tf.constant(x), init, mask=MASK)
    want = tf_module.backward(as_tf, tape, d_out, d_final)
    to_numpy = lambda tree: jax.tree.map(np.asarray, tree)  # noqa: E731
    assert_close(forward, (outputs.numpy(), to_numpy(final)), TOL64, "masked forward vs TF")
    assert_close(backward, to_numpy(want), TOL64, "masked backward vs TF")
    assert_close(custom, to_numpy(want), TOL64, "masked rnn VJP vs TF")
    assert_close(custom, autodiff, TOL64, "masked rnn VJP vs jax autodiff")
    # Zeros before the first unmasked step; a masked step repeats the previous output.
    assert not np.asarray(forward[0])[2].any() and not np.asarray(forward[0])[0, 0].any()
    np.testing.assert_array_equal(forward[0][1, 2], forward[0][1, 0])


def test_vmap_over_sequences_equals_one_call_on_their_rows():
    """vmap over three sequences of two rows each: their rows' gradients are those of one
    call on all six rows, and their parameter gradients add up to its."""
    module = load_generated("jax", "lstm")
    params, x, init, d_out, _ = problem(module, batch=6)

    def loss(params, x, init, d_out):
        outputs, final = module.rnn(params, x, init)
        return jnp.sum(outputs * d_out) + jnp.sum(final[1])

    grad = jax.grad(loss, (0, 1, 2))
    whole = jitted(grad, params, x, init, d_out)
    split = lambda a: a.reshape(3, 2, *a.shape[1:])  # noqa: E731
    batched = jitted(
        jax.vmap(grad, in_axes=(None, 0, 0, 0)),
        params,
        split(x),
        tuple(map(split, init)),
        split(d_out),
    )
    d_params, d_x, d_init = batched
    assert_close(jax.tree.map(lambda a: a.sum(axis=0), d_params), whole[0], TOL64, "d_params")
    assert_close((d_x, d_init), jax.tree.map(split, whole[1:]), TOL64, "d_x, d_init")


def test_float32_computes_in_float32_close_to_float64_numpy():
    module, reference = load_generated("jax", "lstm"), load_generated("numpy", "lstm")
    params, x, init, d_out, d_final = problem(reference)
    as32 = lambda tree: jax.tree.map(lambda a: np.asarray(a, np.float32), tree)  # noqa: E731
    forward, custom = rnn_and_vjp(module, *map(as32, (params, x, init, d_out, d_final)))
    assert forward[0].dtype == jnp.float32
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(custom))
    outputs, final, tape = reference.forward(params, x, init)
    want = reference.backward(params, tape, d_out, d_final)
    assert_close(forward, (outputs, final), TOL32, "float32 forward")
    assert_close(custom, want, TOL32, "float32 rnn VJP")


def test_step_equals_forward_on_one_step():
    module = load_generated("jax", "lstm_projection")
    params, x, init, _, _ = problem(module)
    out, state = module.step(params, x[:, 0], init)
    outputs, final, _ = module.forward(params, x[:, :1], init)
    np.testing.assert_array_equal(out, outputs[:, 0])
    for a, b in zip(state, final, strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_arguments_name_what_is_wrong():
    module = load_generated("jax", "lstm")
    params, x, init, _, _ = problem(module)
    with pytest.raises(ValueError, match="missing \\['bias'\\]"):
        module.rnn({k: v for k, v in params.items() if k != "bias"}, x)
    with pytest.raises(ValueError, match="x must be 3-D"):
        module.rnn(params, x[0])
    with pytest.raises(ValueError, match="mask must have shape"):
        module.rnn(params, x, init, mask=MASK)


def test_lstm_matches_jax_lstm_ref():
    """``lstm_ref`` computes PyTorch's LSTM: i, f, g, o blocks of ``x @ W_ih.T + b_ih +
    h @ W_hh.T + b_hh``; Keras's (and our) kernel is ``W_ih.T`` with the same block order."""
    module = load_generated("jax", "lstm")
    params, x, init, d_out, d_final = problem(module)

    def reference(params, x, init):
        outputs, h_n, c_n = jax_rnn.lstm_ref(
            x,
            init[0][None],
            init[1][None],
            {0: params["kernel"].T},
            {0: params["recurrent_kernel"].T},
            {0: params["bias"]},
            {0: jnp.zeros_like(params["bias"])},
            jnp.full((x.shape[0],), x.shape[1], jnp.int32),
            FEATURES,
            UNITS,
            1,
            0.0,
            False,
        )
        return outputs, (h_n[0], c_n[0])

    def both(params, x, init, d_out, d_final):
        want, reference_vjp = jax.vjp(reference, params, x, init)
        got, custom_vjp = jax.vjp(module.rnn, params, x, init)
        cotangents = (d_out, d_final)
        return got, want, custom_vjp(cotangents), reference_vjp(cotangents)

    got, want, custom, autodiff = jitted(both, params, x, init, d_out, d_final)
    assert_close(got, want, TOL64, "forward vs lstm_ref")
    assert_close(custom, autodiff, TOL64, "VJP vs autodiff of lstm_ref")
