"""The zoo's spec-file examples (``examples/ugrnn.toml``, ``examples/ligru.toml``): lstmgen's
exact and numeric checks pass, and the emitted NumPy module's forward and backward equal
tf.GradientTape over an independent TensorFlow transcription of the authors' code (float64).

Sources:
    UGRNN   tensorflow/tensorflow ``tensorflow/contrib/rnn/python/ops/rnn_cell.py``
            (``UGRNNCell.call``, TF 1.x contrib)
    Li-GRU  mravanelli/pytorch-kaldi ``neural_networks.py`` (class ``liGRU``, forward;
            no batch or layer norm, ReLU activation, evaluation-mode dropout of 0)
    RAN     kentonl/ran ``ran.py`` (``RANCell.__call__``, use_tanh=True, num_proj=None)
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


def reference_ran(params, x, h0, c0):
    """RANCell.__call__ looped over time. The source's ``content`` is ``inputs @ w`` with no
    bias: our kernel's c block, plus our bias's c block (a bias the source lacks; zero, it is
    the source's). Its gates are one ``linear(concat([inputs, h]), 2 * units)`` with bias:
    our kernel's i|f blocks stacked over the recurrent kernel (rows), and the bias's i|f
    blocks. ``new_c = i * content + f * c``, ``new_h = tanh(new_c)``, output ``new_h``."""
    units = c0.shape[1]
    content_w = params["kernel"][:, 2 * units :]
    content_b = params["bias"][2 * units :]
    gates_w = tf.concat([params["kernel"][:, : 2 * units], params["recurrent_kernel"]], axis=0)
    gates_b = params["bias"][: 2 * units]
    c, h, outputs = c0, h0, []
    for t in range(x.shape[1]):
        content = tf.matmul(x[:, t], content_w) + content_b
        gates = tf.sigmoid(tf.matmul(tf.concat([x[:, t], h], axis=1), gates_w) + gates_b)
        i, f = tf.split(gates, 2, axis=1)
        c = i * content + f * c
        h = tf.tanh(c)
        outputs.append(h)
    return tf.stack(outputs, axis=1), (h, c)


EXAMPLES = {"ugrnn": reference_ugrnn, "ligru": reference_ligru, "ran": reference_ran}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_passes_exact_and_numeric_checks(example):
    spec = load_spec(ROOT / "examples" / f"{example}.toml")
    assert spec.name == example and spec.states[0] == "h"
    assert exact_check(spec).status == "PASS"
    assert numeric_check(spec).status == "PASS"


def source_problem(spec, shapes, seed=0):
    """Random float64 parameters, x, initial states and output/final-state adjoints."""
    rng = np.random.default_rng(seed)
    params = {name: rng.normal(0.0, 0.5, shape) for name, shape in shapes.items()}
    x = rng.normal(0.0, 1.0, (BATCH, TIME, FEATURES))
    initial = tuple(rng.normal(0.0, 1.0, (BATCH, UNITS)) for _ in spec.states)
    d_outputs = rng.normal(0.0, 1.0, (BATCH, TIME, UNITS))
    d_final = tuple(rng.normal(0.0, 1.0, (BATCH, UNITS)) for _ in spec.states)
    return params, x, initial, d_outputs, d_final


def source_gradients(example, params, x, initial, d_outputs, d_final):
    """The transcription's outputs, final states and tf.GradientTape gradients w.r.t. x,
    the initial states and the parameters (in that order)."""
    p = {name: tf.constant(value) for name, value in params.items()}
    x_t = tf.constant(x)
    initial_t = [tf.constant(s) for s in initial]
    watched = [x_t, *initial_t, *p.values()]
    with tf.GradientTape() as g:
        g.watch(watched)
        outputs, final = EXAMPLES[example](p, x_t, *initial_t)
        loss = weighted_loss(outputs, final, d_outputs, d_final)
    return outputs, final, g.gradient(loss, watched)


def test_ran_recurrent_kernel_has_the_gate_blocks_alone():
    """RAN's content reads x alone: its recurrent kernel is (units, 2 * units), and the
    recurrent product feeds the i and f blocks."""
    spec = load_spec(ROOT / "examples" / "ran.toml")
    for target in ("numpy", "tf", "jax"):
        module = load_module(emit.build(spec, target), f"test_zoo_examples_ran_{target}")
        shapes = module.param_shapes(FEATURES, UNITS)
        assert shapes["recurrent_kernel"] == (UNITS, 2 * UNITS), target
        assert shapes["kernel"] == (FEATURES, 3 * UNITS), target


@pytest.mark.parametrize("training", [True, False])
def test_ran_keras_layer_matches_source_transcription(training):
    """The TF target's Keras layer, in training (its gradient is the generated backward)
    and in inference (TensorFlow's gradient of the forward), against kentonl/ran."""
    spec = load_spec(ROOT / "examples" / "ran.toml")
    module = load_module(emit.build(spec, "tf"), f"test_zoo_examples_ran_layer_{training}")
    params, x, initial, d_outputs, d_final = source_problem(
        spec, module.param_shapes(FEATURES, UNITS), seed=1
    )
    outputs, final, expected = source_gradients("ran", params, x, initial, d_outputs, d_final)
    layer = module.LAYER(UNITS, return_sequences=True, return_state=True, dtype="float64")
    layer.build((None, None, FEATURES))
    layer.set_weights([params[name] for name in module.PARAM_NAMES])
    x_t, state = tf.constant(x), [tf.constant(s) for s in initial]
    with tf.GradientTape() as tape:
        tape.watch([x_t, *state])
        got_outputs, *got_final = layer(x_t, initial_state=state, training=training)
        loss = weighted_loss(got_outputs, got_final, d_outputs, d_final)
    grads = tape.gradient(loss, [x_t, *state, *layer.trainable_weights])
    tol = TOLERANCE["float64"]
    assert_all_close([got_outputs, *got_final], [outputs, *final], tol, "forward")
    assert_all_close(grads, expected, tol, "gradients")


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_matches_source_transcription(example):
    spec = load_spec(ROOT / "examples" / f"{example}.toml")
    module = load_module(emit.build(spec, "numpy"), f"test_zoo_examples_{example}")
    shapes = module.param_shapes(FEATURES, UNITS)
    assert tuple(shapes) == ("kernel", "recurrent_kernel", "bias")
    params, x, initial, d_outputs, d_final = source_problem(spec, shapes)

    outputs, final, tape = module.forward(params, x, initial)
    d_params, d_x, d_initial = module.backward(params, tape, d_outputs, d_final)

    expected_outputs, expected_final, expected = source_gradients(
        example, params, x, initial, d_outputs, d_final
    )
    tol = TOLERANCE["float64"]
    assert_all_close([outputs, *final], [expected_outputs, *expected_final], tol, "forward")
    assert_all_close([d_x, *d_initial, *d_params.values()], expected, tol, "backward")
