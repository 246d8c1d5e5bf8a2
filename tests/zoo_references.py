"""Independent TensorFlow (float64) references for the cell zoo: params, x -> outputs, states.

Each ``reference_<cell>`` re-states, in TensorFlow and in our own words, the forward pass of
the authors' code named in its docstring; gradients come from ``tf.GradientTape`` over it, so
nothing here shares a line with lstmgen's derivation. All functions take parameters in our
layout (``PARAM_SHAPES``: Keras-style ``kernel`` (input_dim, blocks * units) with gate
blocks as column blocks, in the order the cell's table lists them), ``x`` (batch, time,
features) and one (batch, units) tensor per state (``STATES`` order), and return
``(outputs (batch, time, units), final_state)``, outputs being the first state at each step.

Where a source's layout differs from ours (column order of the fused projection, a bias the
source lacks, the meaning of a gate), the reference maps our parameters onto the source's
quantities at the top of the function and says so in a comment; the recurrence itself is
the source's. A Python loop over time is used throughout (sizes are tiny).

Sources (public GitHub repositories):
    indrnn          Sunnydreamrain/IndRNN_pytorch  IndRNN_onlyrecurrent.py
                    (IndRNNCell_onlyrecurrent.forward, IndRNN_onlyrecurrent.forward)
    mingru          lucidrains/minGRU-pytorch  minGRU_pytorch/minGRU.py (minGRU.forward, g,
                    log_g, heinsen_associative_scan_log)
    minlstm         lucidrains/minGRU-pytorch  minGRU_pytorch/minLSTM.py (minLSTM.forward)
    slstm           NX-AI/xlstm  xlstm/blocks/slstm/src/vanilla/slstm.py
                    (slstm_forward_pointwise) and .../vanilla/__init__.py (slstm_forward)
    layernorm_lstm  tensorflow/addons  tensorflow_addons/rnn/layer_norm_lstm_cell.py
                    (LayerNormLSTMCell.call), with keras.layers.LSTMCell's
                    _compute_carry_and_output_fused
    sru             asappresearch/sru  sru/ops.py (elementwise_recurrence_naive)
    qrnn            salesforce/pytorch-qrnn  torchqrnn/forget_mult.py (CPUForgetMult.forward)
                    and torchqrnn/qrnn.py (QRNNLayer.forward)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

DTYPE = tf.float64


def _tensors(params) -> dict[str, tf.Tensor]:
    """float64 tensors (tensors pass through unchanged, so a GradientTape still sees them)."""
    return {name: tf.convert_to_tensor(value, DTYPE) for name, value in params.items()}


def _projection(x_t, params, h_tm1=None):
    """``x_t @ kernel + bias`` (+ ``h_tm1 @ recurrent_kernel`` when given)."""
    a = tf.matmul(x_t, params["kernel"]) + params["bias"]
    if h_tm1 is not None:
        a = a + tf.matmul(h_tm1, params["recurrent_kernel"])
    return a


def _stack_time(steps):
    return tf.stack(steps, axis=1)


# --- IndRNN ---------------------------------------------------------------------------------


def reference_indrnn(params, x, initial_state):
    """IndRNN (Li et al., 2018): ``h = relu(x @ kernel + bias + recurrent_weight * h_tm1)``.

    Source: Sunnydreamrain/IndRNN_pytorch ``IndRNN_onlyrecurrent.py``. The authors' module is
    the recurrent part only; its input is already ``w_ih x + b_ih`` (our kernel and bias),
    and ``IndRNNCell_onlyrecurrent.forward`` adds the element-wise product of the previous
    hidden state with ``weight_hh`` (our ``recurrent_weight``) before the ReLU;
    ``IndRNN_onlyrecurrent.forward`` loops the cell over time (one direction here).
    """
    p = _tensors(params)
    x = tf.convert_to_tensor(x, DTYPE)
    (hx,) = initial_state
    outputs = []
    for t in range(x.shape[1]):
        preprocessed = tf.matmul(x[:, t], p["kernel"]) + p["bias"]
        hx = tf.nn.relu(preprocessed + hx * p["recurrent_weight"])
        outputs.append(hx)
    return _stack_time(outputs), (hx,)


# --- minGRU / minLSTM ---------------------------------------------------------------------


def min_g(v):
    """minGRU.py ``g``: ``v + 0.5`` where ``v >= 0``, ``sigmoid(v)`` below (positive)."""
    return tf.where(v >= 0, v + 0.5, tf.sigmoid(v))


def min_log_g(v):
    """minGRU.py ``log_g``: ``log(relu(v) + 0.5)`` where ``v >= 0``, ``-softplus(-v)`` below."""
    return tf.where(v >= 0, tf.math.log(tf.nn.relu(v) + 0.5), -tf.math.softplus(-v))


def heinsen_scan(log_coeffs, log_values):
    """minGRU.py ``heinsen_associative_scan_log`` over the time axis (1):
    ``h_t = coeff_t * h_{t-1} + value_t`` evaluated in log space with cumulative sums."""
    a_star = tf.cumsum(log_coeffs, axis=1)
    log_h0_plus_b_star = tf.math.cumulative_logsumexp(log_values - a_star, axis=1)
    return tf.exp(a_star + log_h0_plus_b_star)


def reference_mingru(params, x, initial_state):
    """minGRU (Feng et al., 2024), sequential mode:
    ``z = sigmoid(a_z)``, ``h = lerp(h_tm1, g(a_h), z)``.

    Source: lucidrains/minGRU-pytorch ``minGRU_pytorch/minGRU.py``, ``minGRU.forward`` with
    ``seq_len == 1`` (called once per step, the previous output as ``prev_hidden``).
    Layout: the source's fused projection is ``hidden | gate`` and has no bias; ours is
    ``z | h`` (gate first) with a bias, so ``gate = a_z`` and ``hidden = a_h``.
    """
    p = _tensors(params)
    x = tf.convert_to_tensor(x, DTYPE)
    (prev_hidden,) = initial_state
    outputs = []
    for t in range(x.shape[1]):
        gate, hidden = tf.split(_projection(x[:, t], p), 2, axis=-1)
        hidden = min_g(hidden)
        gate = tf.sigmoid(gate)
        prev_hidden = prev_hidden + gate * (hidden - prev_hidden)  # torch.lerp
        outputs.append(prev_hidden)
    return _stack_time(outputs), (prev_hidden,)


def parallel_mingru(params, x, prev_hidden=None):
    """minGRU.py's parallel (log-space) mode: outputs (batch, time, units).

    As in the source, a given ``prev_hidden`` enters the scan as ``log_g(prev_hidden)``,
    i.e. the sequential recurrence started from ``g(prev_hidden)``; with none, from zero.
    """
    p = _tensors(params)
    x = tf.convert_to_tensor(x, DTYPE)
    gate, hidden = tf.split(tf.matmul(x, p["kernel"]) + p["bias"], 2, axis=-1)
    log_coeffs = -tf.math.softplus(gate)
    log_values = -tf.math.softplus(-gate) + min_log_g(hidden)
    if prev_hidden is not None:
        log_values = tf.concat([min_log_g(prev_hidden)[:, None], log_values], axis=1)
        log_coeffs = tf.pad(log_coeffs, [[0, 0], [1, 0], [0, 0]])
    return heinsen_scan(log_coeffs, log_values)[:, -x.shape[1] :]


def reference_minlstm(params, x, initial_state):
    """minLSTM (Feng et al., 2024), sequential mode:
    ``h = (f * h_tm1 + i * g(a_h)) / (f + i)`` with ``f, i = sigmoid(a_f), sigmoid(a_i)``.

    Source: lucidrains/minGRU-pytorch ``minGRU_pytorch/minLSTM.py``, ``minLSTM.forward``
    with ``seq_len == 1``. Layout: the source's fused projection is ``hidden | f | i`` with
    no bias; ours is ``f | i | h`` with a bias.
    """
    p = _tensors(params)
    x = tf.convert_to_tensor(x, DTYPE)
    (prev_hidden,) = initial_state
    outputs = []
    for t in range(x.shape[1]):
        f_gate, i_gate, hidden = tf.split(_projection(x[:, t], p), 3, axis=-1)
        hidden = min_g(hidden)
        f_gate = tf.sigmoid(f_gate)
        i_gate = tf.sigmoid(i_gate)
        f_prime = f_gate / (f_gate + i_gate)
        i_prime = i_gate / (f_gate + i_gate)
        prev_hidden = prev_hidden * f_prime + hidden * i_prime
        outputs.append(prev_hidden)
    return _stack_time(outputs), (prev_hidden,)


def parallel_minlstm(params, x, prev_hidden=None):
    """minLSTM.py's parallel (log-space) mode; ``prev_hidden`` enters as in ``parallel_mingru``."""
    p = _tensors(params)
    x = tf.convert_to_tensor(x, DTYPE)
    f_gate, i_gate, hidden = tf.split(tf.matmul(x, p["kernel"]) + p["bias"], 3, axis=-1)
    diff = tf.math.softplus(-f_gate) - tf.math.softplus(-i_gate)
    log_f = -tf.math.softplus(diff)
    log_i = -tf.math.softplus(-diff)
    log_values = log_i + min_log_g(hidden)
    if prev_hidden is not None:
        log_values = tf.concat([min_log_g(prev_hidden)[:, None], log_values], axis=1)
        log_f = tf.pad(log_f, [[0, 0], [1, 0], [0, 0]])
    return heinsen_scan(log_f, log_values)[:, -x.shape[1] :]


# --- sLSTM ----------------------------------------------------------------------------------


def reference_slstm(params, x, initial_state, source_zero_n_rule=True):
    """sLSTM (Beck et al., 2024, xLSTM), one head, exponential input gate, stabiliser m.

    Source: NX-AI/xlstm ``xlstm/blocks/slstm/src/vanilla/slstm.py``
    (``slstm_forward_pointwise``), looped as in ``.../vanilla/__init__.py``
    (``slstm_forward``: the recurrent product is taken from the first state, y). Gate
    blocks i|f|z|o and states y|c|n|m are the source's order (our h|c|n|m); with one head
    ``Ry`` is ``h_tm1 @ recurrent_kernel``.

    Args:
        source_zero_n_rule: as the source, take ``m = iraw`` when every entry of ``n`` is 0
            (the first step from a zero state); False always takes ``max(iraw, logfplusm)``
            as our cell does. h is the same either way (m cancels in c / n).
    """
    p = _tensors(params)
    x = tf.convert_to_tensor(x, DTYPE)
    y, c, n, m = initial_state
    outputs = []
    for t in range(x.shape[1]):
        raw = tf.matmul(x[:, t], p["kernel"]) + tf.matmul(y, p["recurrent_kernel"]) + p["bias"]
        iraw, fraw, zraw, oraw = tf.split(raw, 4, axis=-1)
        logfplusm = m + tf.math.log_sigmoid(fraw)
        if source_zero_n_rule and bool(tf.reduce_all(tf.equal(n, 0.0))):
            m_new = iraw
        else:
            m_new = tf.maximum(iraw, logfplusm)
        ogate = tf.sigmoid(oraw)
        igate = tf.exp(iraw - m_new)
        fgate = tf.exp(logfplusm - m_new)
        c = fgate * c + igate * tf.tanh(zraw)
        n = fgate * n + igate
        y = ogate * c / n
        m = m_new
        outputs.append(y)
    return _stack_time(outputs), (y, c, n, m)


# --- Layer-normalised LSTM -----------------------------------------------------------------

LAYER_NORM_EPSILON = 1e-3  # LayerNormLSTMCell's norm_epsilon default


def layer_norm(v, gamma, beta, epsilon=LAYER_NORM_EPSILON):
    """keras.layers.LayerNormalization over the last axis: biased variance, eps inside."""
    mean, variance = tf.nn.moments(v, axes=[-1], keepdims=True)
    return (v - mean) / tf.sqrt(variance + epsilon) * gamma + beta


def reference_layernorm_lstm(params, x, initial_state):
    """LSTM with layer normalisation of the input product, the recurrent product (each over
    all 4 * units columns) and the new cell state (over units), which is carried normalised.

    Source: tensorflow/addons ``tensorflow_addons/rnn/layer_norm_lstm_cell.py``
    (``LayerNormLSTMCell.call``, no dropout): ``z = kernel_norm(x @ kernel) +
    recurrent_norm(h_tm1 @ recurrent_kernel) + bias``, split i|f|c|o, then Keras
    ``LSTMCell._compute_carry_and_output_fused`` (sigmoid i, f, o; tanh candidate;
    ``c = f * c_tm1 + i * tanh(z_c)``), ``c = state_norm(c)``, ``h = o * tanh(c)``.
    """
    p = _tensors(params)
    x = tf.convert_to_tensor(x, DTYPE)
    h_tm1, c_tm1 = initial_state
    outputs = []
    for t in range(x.shape[1]):
        z = layer_norm(
            tf.matmul(x[:, t], p["kernel"]), p["kernel_norm_gamma"], p["kernel_norm_beta"]
        )
        z += layer_norm(
            tf.matmul(h_tm1, p["recurrent_kernel"]),
            p["recurrent_norm_gamma"],
            p["recurrent_norm_beta"],
        )
        z += p["bias"]
        z0, z1, z2, z3 = tf.split(z, 4, axis=1)
        c = tf.sigmoid(z1) * c_tm1 + tf.sigmoid(z0) * tf.tanh(z2)
        o = tf.sigmoid(z3)
        c_tm1 = layer_norm(c, p["state_norm_gamma"], p["state_norm_beta"])
        h_tm1 = o * tf.tanh(c_tm1)
        outputs.append(h_tm1)
    return _stack_time(outputs), (h_tm1, c_tm1)


# --- SRU ------------------------------------------------------------------------------------


def reference_sru(params, x, initial_state):
    """SRU (Lei et al., 2018) with four projections (k = 4), identity activation, c-peepholes.

    Source: asappresearch/sru ``sru/ops.py`` (``elementwise_recurrence_naive``, one
    direction, no masks, ``activation_type = 0``, ``weight_c`` not custom): ``U[..., 0..3]``
    are our blocks c|f|r|s (the source interleaves the k projections per unit; we index
    them by block), ``weight_c`` is (``peephole_f``, ``peephole_r``), and with k = 4 the
    highway input ``x_prime`` is ``U[..., 3]``.

    The one extension: the source's ``bias`` holds only the forget and reset rows (our
    f and r bias blocks); our bias also has c and s blocks, which are added to ``U[..., 0]``
    and ``U[..., 3]`` here (the generated cell's ``a_c``, ``a_s`` include them).

    SRU's h is not recurrent: the initial h is unused (its gradient is zero).
    """
    p = _tensors(params)
    x = tf.convert_to_tensor(x, DTYPE)
    _, c_prev = initial_state
    b_c, forget_bias, reset_bias, b_s = tf.split(p["bias"], 4)
    k_c, k_f, k_r, k_s = tf.split(p["kernel"], 4, axis=1)
    fw, rw = p["peephole_f"], p["peephole_r"]
    h_t = None
    outputs = []
    for t in range(x.shape[1]):
        u0 = tf.matmul(x[:, t], k_c) + b_c  # extension: + c bias
        u1 = tf.matmul(x[:, t], k_f) + forget_bias
        u2 = tf.matmul(x[:, t], k_r) + reset_bias
        xp = tf.matmul(x[:, t], k_s) + b_s  # extension: + s bias
        forget_t = tf.sigmoid(u1 + c_prev * fw)
        reset_t = tf.sigmoid(u2 + c_prev * rw)
        c_t = u0 + (c_prev - u0) * forget_t
        c_prev = c_t
        g_c_t = c_t  # activation_type 0 (identity)
        h_t = xp + (g_c_t - xp) * reset_t
        outputs.append(h_t)
    return _stack_time(outputs), (h_t, c_prev)


# --- QRNN -----------------------------------------------------------------------------------


def reference_qrnn(params, x, initial_state):
    """QRNN (Bradbury et al., 2017), fo-pooling, window 1: ``c = f * c_tm1 + (1 - f) * z``,
    ``h = o * c`` with ``z = tanh(a_z)``, ``f = sigmoid(a_f)``, ``o = sigmoid(a_o)``.

    Source: salesforce/pytorch-qrnn ``torchqrnn/qrnn.py`` (``QRNNLayer.forward``, window 1,
    output gate, no zoneout: one linear layer, chunks Z|F|O, tanh Z, sigmoid F and O,
    ``H = sigmoid(O) * C``) and ``torchqrnn/forget_mult.py`` (``CPUForgetMult.forward``:
    ``h_t = F_t * x_t + (1 - F_t) * h_{t-1}`` with the initial state as ``h_{-1}``).

    Gate meaning: in the source's ForgetMult, F multiplies the *new* value and 1 - F the
    previous one, the complement of the paper's (and our cell's) f; so the source's F is
    our ``1 - sigmoid(a_f) = sigmoid(-a_f)`` here. QRNN's h is not recurrent: the initial h
    is unused (its gradient is zero).
    """
    p = _tensors(params)
    x = tf.convert_to_tensor(x, DTYPE)
    _, prev_h = initial_state  # ForgetMult's hidden_init is the previous c
    outputs = []
    c = prev_h
    h = None
    for t in range(x.shape[1]):
        z_pre, f_pre, o_pre = tf.split(_projection(x[:, t], p), 3, axis=-1)
        z = tf.tanh(z_pre)
        forget = tf.sigmoid(-f_pre)  # the source's F (see the docstring)
        c = forget * z + (1 - forget) * prev_h
        prev_h = c
        h = tf.sigmoid(o_pre) * c
        outputs.append(h)
    return _stack_time(outputs), (h, c)


# --- tables ---------------------------------------------------------------------------------

REFERENCES: dict[str, Callable] = {
    "indrnn": reference_indrnn,
    "layernorm_lstm": reference_layernorm_lstm,
    "mingru": reference_mingru,
    "minlstm": reference_minlstm,
    "qrnn": reference_qrnn,
    "slstm": reference_slstm,
    "sru": reference_sru,
}


def _layernorm_lstm_shapes(input_dim, units):
    return {
        "kernel": (input_dim, 4 * units),
        "recurrent_kernel": (units, 4 * units),
        "bias": (4 * units,),
        "kernel_norm_gamma": (4 * units,),
        "kernel_norm_beta": (4 * units,),
        "recurrent_norm_gamma": (4 * units,),
        "recurrent_norm_beta": (4 * units,),
        "state_norm_gamma": (units,),
        "state_norm_beta": (units,),
    }


# Our layout, in PARAM_NAMES order.
PARAM_SHAPES: dict[str, Callable[[int, int], dict[str, tuple[int, ...]]]] = {
    "indrnn": lambda input_dim, units: {
        "kernel": (input_dim, units),
        "bias": (units,),
        "recurrent_weight": (units,),
    },
    "layernorm_lstm": _layernorm_lstm_shapes,
    "mingru": lambda input_dim, units: {
        "kernel": (input_dim, 2 * units),
        "bias": (2 * units,),
    },
    "minlstm": lambda input_dim, units: {
        "kernel": (input_dim, 3 * units),
        "bias": (3 * units,),
    },
    "qrnn": lambda input_dim, units: {
        "kernel": (input_dim, 3 * units),
        "bias": (3 * units,),
    },
    "slstm": lambda input_dim, units: {
        "kernel": (input_dim, 4 * units),
        "recurrent_kernel": (units, 4 * units),
        "bias": (4 * units,),
    },
    "sru": lambda input_dim, units: {
        "kernel": (input_dim, 4 * units),
        "bias": (4 * units,),
        "peephole_f": (units,),
        "peephole_r": (units,),
    },
}

STATES: dict[str, tuple[str, ...]] = {
    "indrnn": ("h",),
    "layernorm_lstm": ("h", "c"),
    "mingru": ("h",),
    "minlstm": ("h",),
    "qrnn": ("h", "c"),
    "slstm": ("h", "c", "n", "m"),
    "sru": ("h", "c"),
}


# --- random problems and reference gradients -------------------------------------------------


def random_problem(cell: str, batch=3, time=5, features=4, units=3, seed=0):
    """(params, x, initial_state, d_outputs, d_final_state) as float64 NumPy arrays: weights
    normal * 0.5, x and states normal (sLSTM's n = 0.5 + |normal| > 0), loss seeds normal."""
    rng = np.random.default_rng(seed)
    shapes = PARAM_SHAPES[cell](features, units)
    params = {name: rng.normal(0.0, 0.5, shape) for name, shape in shapes.items()}
    x = rng.normal(0.0, 1.0, (batch, time, features))
    state = [rng.normal(0.0, 1.0, (batch, units)) for _ in STATES[cell]]
    if cell == "slstm":
        state[2] = 0.5 + np.abs(state[2])
    d_outputs = rng.normal(0.0, 1.0, (batch, time, units))
    d_final = tuple(rng.normal(0.0, 1.0, (batch, units)) for _ in STATES[cell])
    return params, x, tuple(state), d_outputs, d_final


def weighted_loss(outputs, final_state, d_outputs, d_final_state=None):
    """``sum(d_outputs * outputs) + sum_s sum(d_final_s * final_s)`` (module contract)."""
    loss = tf.reduce_sum(tf.convert_to_tensor(d_outputs, DTYPE) * outputs)
    for d_final, final in zip(d_final_state or (), final_state, strict=False):
        loss += tf.reduce_sum(tf.convert_to_tensor(d_final, DTYPE) * final)
    return loss


def reference_gradients(reference, params, x, initial_state, d_outputs, d_final_state=None):
    """Forward of ``reference`` and tf.GradientTape gradients of ``weighted_loss``.

    Returns:
        (outputs, final_state, d_params dict, d_x, d_initial_state tuple); an input that
        does not reach the loss gets a zero gradient.
    """
    p = {name: tf.constant(value, DTYPE) for name, value in params.items()}
    x = tf.constant(x, DTYPE)
    state = tuple(tf.constant(s, DTYPE) for s in initial_state)
    watched = [x, *state, *p.values()]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        outputs, final_state = reference(p, x, state)
        loss = weighted_loss(outputs, final_state, d_outputs, d_final_state)
    grads = tape.gradient(loss, watched, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    d_x, d_state, d_params = grads[0], grads[1 : 1 + len(state)], grads[1 + len(state) :]
    return outputs, final_state, dict(zip(p, d_params, strict=True)), d_x, tuple(d_state)
