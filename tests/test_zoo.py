"""The cell zoo's generated modules vs the independent references of ``zoo_references.py``.

For every cell in ``REFERENCES`` and both targets, ``generated/<target>/<cell>.py``:
* declares ``PARAM_NAMES`` / ``param_shapes`` / ``STATE_NAMES`` as ``PARAM_SHAPES`` / ``STATES``;
* ``forward`` gives the reference's outputs and final states, and ``backward`` the
  tf.GradientTape gradients of ``sum(d_outputs * outputs) + sum_s sum(d_final_s * final_s)``
  w.r.t. x, every parameter and every initial state (float64, relative error <= 1e-10),
  from random non-zero initial states (sLSTM: n > 0);
* the TF target's Keras ``LAYER`` (weights set in ``PARAM_NAMES`` order) gives the same
  outputs, final states and gradients, in training (the generated backward) and inference.
sLSTM from the default zero state: the reference's ``m = iraw`` rule changes c, n, m but not
h, so outputs, final h and the gradients of a loss on the outputs alone are compared.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from generated_modules import load_generated
from tf_helpers import TOLERANCE, assert_all_close
from zoo_references import (
    PARAM_SHAPES,
    REFERENCES,
    STATES,
    random_problem,
    reference_gradients,
    weighted_loss,
)

BATCH, TIME, FEATURES, UNITS = 3, 5, 4, 3
TOL = TOLERANCE["float64"]
CELLS = sorted(REFERENCES)
TARGETS = ("numpy", "tf")


def as_target(target, value):
    return np.asarray(value, np.float64) if target == "numpy" else tf.constant(value, tf.float64)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("cell", CELLS)
def test_declared_layout(cell, target):
    module = load_generated(target, cell)
    expected = PARAM_SHAPES[cell](FEATURES, UNITS)
    assert tuple(module.PARAM_NAMES) == tuple(expected)
    assert list(module.param_shapes(FEATURES, UNITS).items()) == list(expected.items())
    assert tuple(module.STATE_NAMES) == STATES[cell]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("cell", CELLS)
def test_forward_and_backward_match_reference(cell, target):
    module = load_generated(target, cell)
    params, x, state, d_outputs, d_final = random_problem(
        cell, BATCH, TIME, FEATURES, UNITS, seed=0
    )
    outputs, final, d_params, d_x, d_state = reference_gradients(
        REFERENCES[cell], params, x, state, d_outputs, d_final
    )
    ours = {name: as_target(target, value) for name, value in params.items()}
    got_outputs, got_final, tape = module.forward(
        ours, as_target(target, x), tuple(as_target(target, s) for s in state)
    )
    assert_all_close([got_outputs, *got_final], [outputs, *final], TOL, "forward")
    got = module.backward(
        ours,
        tape,
        as_target(target, d_outputs),
        tuple(as_target(target, d) for d in d_final),
    )
    assert_all_close(
        [*(got[0][name] for name in params), got[1], *got[2]],
        [*d_params.values(), d_x, *d_state],
        TOL,
        "backward",
    )


@pytest.mark.parametrize("target", TARGETS)
def test_slstm_from_zero_state_matches_reference_h(target):
    module = load_generated(target, "slstm")
    params, x, _, d_outputs, _ = random_problem("slstm", BATCH, TIME, FEATURES, UNITS, seed=1)
    zeros = tuple(np.zeros((BATCH, UNITS)) for _ in STATES["slstm"])
    outputs, final, d_params, d_x, _ = reference_gradients(
        REFERENCES["slstm"], params, x, zeros, d_outputs
    )
    ours = {name: as_target(target, value) for name, value in params.items()}
    got_outputs, got_final, tape = module.forward(ours, as_target(target, x))
    assert_all_close([got_outputs, got_final[0]], [outputs, final[0]], TOL, "h")
    got = module.backward(ours, tape, as_target(target, d_outputs))
    assert_all_close(
        [*(got[0][name] for name in params), got[1]], [*d_params.values(), d_x], TOL, "grads"
    )


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("cell", CELLS)
def test_keras_layer_matches_reference(cell, training):
    """In training the layer's gradient is the generated backward; in inference it is
    TensorFlow's gradient of the forward: both against the reference."""
    module = load_generated("tf", cell)
    params, x, state, d_outputs, d_final = random_problem(
        cell, BATCH, TIME, FEATURES, UNITS, seed=2
    )
    outputs, final, d_params, d_x, d_state = reference_gradients(
        REFERENCES[cell], params, x, state, d_outputs, d_final
    )
    layer = module.LAYER(UNITS, return_sequences=True, return_state=True, dtype="float64")
    layer.build((None, None, FEATURES))
    layer.set_weights([params[name] for name in module.PARAM_NAMES])
    x, state = tf.constant(x), [tf.constant(s) for s in state]
    with tf.GradientTape() as tape:
        tape.watch([x, *state])
        got_outputs, *got_final = layer(x, initial_state=state, training=training)
        loss = weighted_loss(got_outputs, got_final, d_outputs, d_final)
    grads = tape.gradient(
        loss,
        [x, *state, *layer.trainable_weights],
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
    )
    assert_all_close([got_outputs, *got_final], [outputs, *final], TOL, "forward")
    assert_all_close(grads, [d_x, *d_state, *d_params.values()], TOL, "gradients")
