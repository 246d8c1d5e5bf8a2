"""Self-tests of the cell-zoo references (``zoo_references.py``), independent of lstmgen.

* minGRU / minLSTM: the sequential transcription equals the source's parallel log-space
  scan, from a zero state and from ``g(prev_hidden)`` (how the parallel mode takes one).
* Layer-normalised LSTM: the transcription equals a second reference assembled from real
  ``keras.layers.LayerNormalization(epsilon=1e-3)`` layers and a ``keras.layers.LSTMCell``
  (its kernels and ``_compute_carry_and_output_fused``), outputs, states and gradients.
* sLSTM: from a zero state the source's ``m = iraw`` rule and ``max(iraw, logfplusm)`` give
  the same h (outputs, final h, gradients of a loss on the outputs) but different c, n, m.
* Every reference: finite outputs and gradients, and the gradient matches a central finite
  difference along a random direction (float64).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from tf_helpers import assert_all_close, relative_error
from zoo_references import (
    DTYPE,
    LAYER_NORM_EPSILON,
    PARAM_SHAPES,
    REFERENCES,
    STATES,
    min_g,
    parallel_mingru,
    parallel_minlstm,
    random_problem,
    reference_gradients,
    reference_layernorm_lstm,
    reference_mingru,
    reference_minlstm,
    reference_slstm,
    weighted_loss,
)

TOL = 1e-10
CELLS = sorted(REFERENCES)


def test_tables_cover_the_same_cells():
    assert sorted(PARAM_SHAPES) == sorted(STATES) == CELLS


@pytest.mark.parametrize(
    ("sequential", "parallel"),
    [(reference_mingru, parallel_mingru), (reference_minlstm, parallel_minlstm)],
    ids=["mingru", "minlstm"],
)
def test_min_rnn_sequential_equals_parallel_scan(sequential, parallel):
    cell = sequential.__name__.removeprefix("reference_")
    params, x, (h0,), _, _ = random_problem(cell, seed=3)
    x = x * 2  # both branches of g, and gates near 0 and 1
    zeros = np.zeros_like(h0)
    outputs, _ = sequential(params, x, (tf.constant(zeros),))
    assert_all_close([outputs], [parallel(params, x)], TOL, "zero state")
    # The parallel mode takes prev_hidden through log_g: the sequential one from g(h0).
    outputs, (final,) = sequential(params, x, (min_g(tf.constant(h0)),))
    expected = parallel(params, x, tf.constant(h0))
    assert_all_close([outputs, final], [expected, expected[:, -1]], TOL, "from g(h0)")


def keras_layernorm_lstm(units, input_dim, params):
    """TF Addons' LayerNormLSTMCell.call assembled from Keras pieces (float64): a function
    (x, state) -> (outputs, final_state) and its variables in PARAM_NAMES order."""
    cell = keras.layers.LSTMCell(units, dtype="float64")
    cell.build((None, input_dim))
    cell.set_weights([params["kernel"], params["recurrent_kernel"], params["bias"]])
    norms = {}
    for name, width in (("kernel", 4 * units), ("recurrent", 4 * units), ("state", units)):
        norm = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, dtype="float64")
        norm.build((None, width))
        norm.set_weights([params[f"{name}_norm_gamma"], params[f"{name}_norm_beta"]])
        norms[name] = norm

    def run(x, state):
        h, c = state
        outputs = []
        for t in range(x.shape[1]):
            z = norms["kernel"](tf.matmul(x[:, t], cell.kernel))
            z += norms["recurrent"](tf.matmul(h, cell.recurrent_kernel))
            z = tf.nn.bias_add(z, cell.bias)
            c, o = cell._compute_carry_and_output_fused(tf.split(z, 4, axis=1), c)
            c = norms["state"](c)
            h = o * cell.activation(c)
            outputs.append(h)
        return tf.stack(outputs, axis=1), (h, c)

    variables = [cell.kernel, cell.recurrent_kernel, cell.bias]
    for name in ("kernel", "recurrent", "state"):
        variables += [norms[name].gamma, norms[name].beta]
    return run, variables


def test_layernorm_lstm_transcription_matches_keras_pieces():
    params, x, state, d_outputs, d_final = random_problem("layernorm_lstm", seed=4)
    run, variables = keras_layernorm_lstm(3, 4, params)
    assert [v.shape for v in variables] == list(PARAM_SHAPES["layernorm_lstm"](4, 3).values())
    x, state = tf.constant(x), tuple(tf.constant(s) for s in state)
    with tf.GradientTape() as tape:
        tape.watch([x, *state])
        outputs, final = run(x, state)
        loss = weighted_loss(outputs, final, d_outputs, d_final)
    keras_grads = tape.gradient(loss, [x, *state, *variables])
    ours = reference_gradients(reference_layernorm_lstm, params, x, state, d_outputs, d_final)
    assert_all_close([ours[0], *ours[1]], [outputs, *final], TOL, "forward")
    assert_all_close(
        [ours[3], *ours[4], *ours[2].values()], [g.numpy() for g in keras_grads], TOL, "grads"
    )


def test_slstm_zero_state_rule_leaves_h_unchanged():
    params, x, _, d_outputs, _ = random_problem("slstm", seed=5)
    zeros = tuple(np.zeros((3, 3)) for _ in range(4))

    def source_rule(p, x, s):
        return reference_slstm(p, x, s, source_zero_n_rule=True)

    def max_rule(p, x, s):
        return reference_slstm(p, x, s, source_zero_n_rule=False)

    source = reference_gradients(source_rule, params, x, zeros, d_outputs)
    ours = reference_gradients(max_rule, params, x, zeros, d_outputs)
    assert_all_close([ours[0], ours[1][0]], [source[0], source[1][0]], TOL, "h")
    assert_all_close(
        [ours[3], *ours[2].values()], [source[3], *source[2].values()], TOL, "d_x, d_params"
    )
    # The rule does change the carried c, n, m after the first step (where the forget path
    # wins the max), so only h is comparable from a zero state.
    first = [rule(params, x[:, :1], zeros)[1] for rule in (source_rule, max_rule)]
    assert all(relative_error(a, b) > 1e-6 for a, b in zip(first[0][1:], first[1][1:], strict=True))


@pytest.mark.parametrize("cell", CELLS)
def test_reference_is_finite_and_differentiable(cell):
    params, x, state, d_outputs, d_final = random_problem(cell, seed=6)
    outputs, final, d_params, d_x, d_state = reference_gradients(
        REFERENCES[cell], params, x, state, d_outputs, d_final
    )
    assert outputs.shape == (3, 5, 3)
    assert [f.shape for f in final] == [(3, 3)] * len(STATES[cell])
    grads = [d_x, *d_state, *d_params.values()]
    assert all(np.all(np.isfinite(g)) for g in [outputs, *final, *grads])
    assert all(np.any(g != 0) for g in [d_x, *d_params.values()])
    # Directional central difference of the loss vs the gradient.
    rng = np.random.default_rng(7)
    values = [x, *state, *params.values()]
    directions = [rng.normal(size=np.shape(v)) for v in values]

    def loss_at(step):
        moved = [v + step * d for v, d in zip(values, directions, strict=True)]
        p = dict(zip(params, moved[1 + len(state) :], strict=True))
        s = tuple(tf.constant(v) for v in moved[1 : 1 + len(state)])
        out, fin = REFERENCES[cell](p, tf.constant(moved[0]), s)
        return float(weighted_loss(out, fin, d_outputs, d_final))

    step = 1e-6
    numeric = (loss_at(step) - loss_at(-step)) / (2 * step)
    analytic = sum(float(np.sum(g * d)) for g, d in zip(grads, directions, strict=True))
    assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), (numeric, analytic)


def test_states_pass_through_as_float64():
    params, x, state, _, _ = random_problem("qrnn")
    outputs, final = REFERENCES["qrnn"](params, x, tuple(tf.constant(s) for s in state))
    assert outputs.dtype == DTYPE and all(f.dtype == DTYPE for f in final)
