"""The zoo's spec-file examples (``examples/ugrnn.toml``, ``examples/ligru.toml``): lstmgen's
exact and numeric checks pass, and the emitted NumPy module's forward and backward equal
tf.GradientTape over an independent TensorFlow transcription of the authors' code (float64).

Sources:
    UGRNN   tensorflow/tensorflow ``tensorflow/contrib/rnn/python/ops/rnn_cell.py``
            (``UGRNNCell.call``, TF 1.x contrib)
    Li-GRU  mravanelli/pytorch-kaldi ``neural_networks.py`` (class ``liGRU``, forward;
            no batch or layer norm, ReLU activation, evaluation-mode dropout of 0)
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from generated_modules import ROOT
from tf_helpers import TOLERANCE, assert_all_close
from zoo_references import weighted_loss

from lstmgen import emit
from lstmgen.specfile import load_spec
from lstmgen.verify import exact_check, load_module, numeric_check

BATCH, TIME, FEATURES, UNITS = 3, 5, 4, 3


def reference_ugrnn(params, x, h0, forget_bias=1.0):
    """UGRNNCell.call looped over time. The source's single ``_Linear`` over
    ``concat([inputs, state])`` is our kernel stacked over recurrent_kernel (rows), plus
    bias; its output splits ``[g_act, c_act]``; ``c = tanh(c_act)``,
    ``g = sigmoid(g_act + forget_bias)``, ``new_state = g * state + (1 - g) * c``."""
    weights = tf.concat([params["kernel"], params["recurrent_kernel"]], axis=0)
    state, outputs = h0, []
    for t in range(x.shape[1]):
        rnn_matrix = tf.matmul(tf.concat([x[:, t], state], axis=1), weights) + params["bias"]
        g_act, c_act = tf.split(rnn_matrix, 2, axis=1)
        c = tf.tanh(c_act)
        g = tf.sigmoid(g_act + forget_bias)
        state = g * state + (1.0 - g) * c
        outputs.append(state)
    return tf.stack(outputs, axis=1), (state,)


def reference_ligru(params, x, h0):
    """pytorch-kaldi liGRU.forward, one layer, one direction: the feed-forward products
    ``wz x``, ``wh x`` (with bias; our kernel blocks z|h and bias) for all steps, then per
    step ``zt = sigmoid(wz_out + uz(ht))``, ``at = wh_out + uh(ht)`` (recurrent_kernel
    blocks z|h, no bias), ``hcand = relu(at) * drop_mask`` (mask 1: no dropout),
    ``ht = zt * ht + (1 - zt) * hcand``."""
    wz, wh = tf.split(params["kernel"], 2, axis=1)
    uz, uh = tf.split(params["recurrent_kernel"], 2, axis=1)
    bz, bh = tf.split(params["bias"], 2)
    wz_out = tf.einsum("btf,fu->btu", x, wz) + bz
    wh_out = tf.einsum("btf,fu->btu", x, wh) + bh
    ht, hiddens = h0, []
    for k in range(x.shape[1]):
        zt = tf.sigmoid(wz_out[:, k] + tf.matmul(ht, uz))
        at = wh_out[:, k] + tf.matmul(ht, uh)
        hcand = tf.nn.relu(at) * 1.0
        ht = zt * ht + (1 - zt) * hcand
        hiddens.append(ht)
    return tf.stack(hiddens, axis=1), (ht,)


EXAMPLES = {"ugrnn": reference_ugrnn, "ligru": reference_ligru}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_passes_exact_and_numeric_checks(example):
    spec = load_spec(ROOT / "examples" / f"{example}.toml")
    assert spec.name == example and spec.states == ("h",)
    assert exact_check(spec).status == "PASS"
    assert numeric_check(spec).status == "PASS"


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_matches_source_transcription(example):
    spec = load_spec(ROOT / "examples" / f"{example}.toml")
    module = load_module(emit.build(spec, "numpy"), f"test_zoo_examples_{example}")
    shapes = module.param_shapes(FEATURES, UNITS)
    assert tuple(shapes) == ("kernel", "recurrent_kernel", "bias")
    rng = np.random.default_rng(0)
    params = {name: rng.normal(0.0, 0.5, shape) for name, shape in shapes.items()}
    x = rng.normal(0.0, 1.0, (BATCH, TIME, FEATURES))
    h0 = rng.normal(0.0, 1.0, (BATCH, UNITS))
    d_outputs = rng.normal(0.0, 1.0, (BATCH, TIME, UNITS))
    d_final = (rng.normal(0.0, 1.0, (BATCH, UNITS)),)

    outputs, final, tape = module.forward(params, x, (h0,))
    d_params, d_x, d_initial = module.backward(params, tape, d_outputs, d_final)

    p = {name: tf.constant(value) for name, value in params.items()}
    x_t, h0_t = tf.constant(x), tf.constant(h0)
    watched = [x_t, h0_t, *p.values()]
    with tf.GradientTape() as g:
        g.watch(watched)
        expected_outputs, expected_final = EXAMPLES[example](p, x_t, h0_t)
        loss = weighted_loss(expected_outputs, expected_final, d_outputs, d_final)
    expected = g.gradient(loss, watched)
    tol = TOLERANCE["float64"]
    assert_all_close([outputs, *final], [expected_outputs, *expected_final], tol, "forward")
    assert_all_close([d_x, *d_initial, *d_params.values()], expected, tol, "backward")
