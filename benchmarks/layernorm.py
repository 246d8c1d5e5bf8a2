"""A LayerNorm LSTM written by hand in TensorFlow: a yardstick for the generated one.

Issue 10 asks the generated ``layernorm_lstm`` (TF, forward+backward) to stay within 1.6x
``lstm``'s time per unit of GEMM work; both do the same matrix products, so that is 1.6x
``lstm``'s time. This script times, in interleaved rounds at one size (loss
``sum(outputs * w)``, gradients of every parameter and of ``x``, all in one ``tf.function``):

- ``generated lstm``: ``generated/tf/lstm.py`` ``forward`` + ``backward``;
- ``generated layernorm_lstm``: ``generated/tf/layernorm_lstm.py`` likewise;
- ``hand, fused``: a hand-written TF LayerNorm LSTM in as few ops as it could be written, each
  LayerNorm's ops once per step on the whole ``(batch, 4 * units)`` product, not per gate
  block (about half the generated loop's ops), one fused recurrent GEMM per step, the
  input product and its LayerNorm before the loop, and a hand-derived backward;
- ``hand, per block``: the same with the recurrent products per gate block, as the
  generated code runs them.

The hand-written versions follow TF Addons' ``LayerNormLSTMCell.call``
(tensorflow/addons, ``tensorflow_addons/rnn/layer_norm_lstm_cell.py``): ``z = LN_k(x @ kernel)
+ LN_r(h_tm1 @ recurrent_kernel) + bias`` over all ``4 * units`` columns, gates i, f, c, o
(sigmoid, sigmoid, tanh, sigmoid), ``c = LN_s(f * c_tm1 + i * g)``, ``h = o * tanh(c)``, with
``LN(v) = (v - mean(v)) / sqrt(var(v) + 1e-3) * gamma + beta``. Their gradients are checked
against the generated module's before timing (the largest relative difference is printed).

    python benchmarks/layernorm.py                          # reference size, 20 rounds
    python benchmarks/layernorm.py --size 64,100,128,512 --rounds 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402  (shapes, the generated modules and the weights of bench.py)

EPSILON = 1e-3


def _normalised(v, tf):
    """``(v - mean(v), 1 / sqrt(var(v) + eps))`` over the last axis, keepdims."""
    centred = v - tf.reduce_mean(v, axis=-1, keepdims=True)
    variance = tf.reduce_mean(tf.square(centred), axis=-1, keepdims=True)
    return centred, tf.math.rsqrt(variance + EPSILON)


def _normalised_adjoint(d_scaled, centred, scale, tf):
    """Adjoint of ``v`` for ``y = centred * scale`` (``_normalised``), given ``d_scaled`` =
    the adjoint of ``y``: the standard LayerNorm backward."""
    width = centred.shape[-1]
    d_var = -0.5 * tf.reduce_sum(d_scaled * centred, axis=-1, keepdims=True) * scale**3
    d_centred = d_scaled * scale + (2.0 / width) * d_var * centred
    return d_centred - tf.reduce_mean(d_centred, axis=-1, keepdims=True)


class HandLayerNormLSTM:
    """Forward and backward of the LayerNorm LSTM, written by hand in TF (see the module
    docstring); ``per_block``: the recurrent products per gate block."""

    def __init__(self, tf, per_block: bool):
        self.tf = tf
        self.per_block = per_block

    def recurrent_product(self, h, recurrent_kernel):
        tf = self.tf
        if not self.per_block:
            return tf.matmul(h, recurrent_kernel)
        blocks = tf.split(recurrent_kernel, 4, axis=-1)
        return tf.concat([tf.matmul(h, w) for w in blocks], axis=-1)

    def recurrent_product_adjoint(self, d_uh, recurrent_kernel_t):
        tf = self.tf
        if not self.per_block:
            return tf.matmul(d_uh, recurrent_kernel_t)
        pairs = zip(tf.split(d_uh, 4, axis=-1), tf.split(recurrent_kernel_t, 4), strict=True)
        return tf.add_n([tf.matmul(d, w) for d, w in pairs])

    def forward(self, p, x):
        """(outputs (batch, time, units), tape)."""
        tf = self.tf
        batch, time_, input_dim = x.shape
        units = p["recurrent_kernel"].shape[0]
        x = tf.transpose(x, (1, 0, 2))
        wx = tf.reshape(tf.matmul(tf.reshape(x, (-1, input_dim)), p["kernel"]), (time_, batch, -1))
        dx, rx = _normalised(wx, tf)
        shift = p["kernel_norm_beta"] + p["recurrent_norm_beta"] + p["bias"]
        z_in = dx * rx * p["kernel_norm_gamma"] + shift
        z_steps = tf.TensorArray(x.dtype, size=time_).unstack(z_in)

        def array(shape):
            return tf.TensorArray(x.dtype, size=time_, element_shape=shape, clear_after_read=False)

        def step(t, h, c, hs, cs, wide, narrow, rows):
            dh, rh = _normalised(self.recurrent_product(h, p["recurrent_kernel"]), tf)
            z = dh * rh * p["recurrent_norm_gamma"] + z_steps.read(t)
            a_i, a_f, a_g, a_o = tf.split(z, 4, axis=-1)
            gates = tf.concat((tf.sigmoid(a_i), tf.sigmoid(a_f), tf.tanh(a_g), tf.sigmoid(a_o)), -1)
            i, f, g, o = tf.split(gates, 4, axis=-1)
            ds, rs = _normalised(c * f + g * i, tf)
            c_new = ds * rs * p["state_norm_gamma"] + p["state_norm_beta"]
            tanh_c = tf.tanh(c_new)
            h_new = o * tanh_c
            return (
                t + 1,
                h_new,
                c_new,
                hs.write(t, h),
                cs.write(t, c),
                wide.write(t, tf.stack((dh, gates))),
                narrow.write(t, tf.stack((ds, tanh_c))),
                rows.write(t, tf.stack((rh, rs))),
            )

        zeros = tf.zeros((batch, units), x.dtype)
        arrays = (
            array((batch, units)),
            array((batch, units)),
            array((2, batch, 4 * units)),
            array((2, batch, units)),
            array((2, batch, 1)),
        )
        _, h, _, hs, cs, wide, narrow, rows = tf.while_loop(
            lambda t, *_: t < time_, step, (tf.constant(0), zeros, zeros, *arrays)
        )
        h_tm1 = hs.stack()
        outputs = tf.concat((h_tm1[1:], h[None]), axis=0)
        tape = {"x": x, "dx": dx, "rx": rx, "h_tm1": h_tm1, "c_tm1": cs}
        tape.update(wide=wide, narrow=narrow, rows=rows)
        return tf.transpose(outputs, (1, 0, 2)), tape

    def backward(self, p, tape, d_outputs):
        """(gradients by parameter name, d_x)."""
        tf = self.tf
        x = tape["x"]
        time_, batch, input_dim = x.shape
        units = p["recurrent_kernel"].shape[0]
        d_outputs = tf.transpose(d_outputs, (1, 0, 2))
        recurrent_kernel_t = tf.transpose(p["recurrent_kernel"])
        rg, sg = p["recurrent_norm_gamma"], p["state_norm_gamma"]

        def step(t, d_h, d_c, d_zs, d_uhs, sum_rg, sum_sg, sum_sb):
            d_h = d_h + d_outputs[t]
            dh, gates = tf.unstack(tape["wide"].read(t))
            ds, tanh_c = tf.unstack(tape["narrow"].read(t))
            rh, rs = tf.unstack(tape["rows"].read(t))
            c_tm1 = tape["c_tm1"].read(t)
            i, f, g, o = tf.split(gates, 4, axis=-1)
            d_c = d_c + d_h * o * (1 - tf.square(tanh_c))
            d_s = _normalised_adjoint(d_c * sg, ds, rs, tf)
            d_z = tf.concat(
                (
                    d_s * g * i * (1 - i),
                    d_s * c_tm1 * f * (1 - f),
                    d_s * i * (1 - tf.square(g)),
                    d_h * tanh_c * o * (1 - o),
                ),
                axis=-1,
            )
            d_uh = _normalised_adjoint(d_z * rg, dh, rh, tf)
            return (
                t - 1,
                self.recurrent_product_adjoint(d_uh, recurrent_kernel_t),
                d_s * f,
                d_zs.write(t, d_z),
                d_uhs.write(t, d_uh),
                sum_rg + d_z * dh * rh,
                sum_sg + d_c * ds * rs,
                sum_sb + d_c,
            )

        zeros = tf.zeros((batch, units), x.dtype)
        wide = tf.zeros((batch, 4 * units), x.dtype)
        arrays = [
            tf.TensorArray(x.dtype, size=time_, element_shape=(batch, 4 * units)) for _ in "zu"
        ]
        _, _, _, d_zs, d_uhs, sum_rg, sum_sg, sum_sb = tf.while_loop(
            lambda t, *_: t >= 0,
            step,
            (tf.constant(time_ - 1), zeros, zeros, *arrays, wide, zeros, zeros),
        )
        d_z = tf.reshape(d_zs.stack(), (-1, 4 * units))
        d_uh = tf.reshape(d_uhs.stack(), (-1, 4 * units))
        dx = tf.reshape(tape["dx"], (-1, 4 * units))
        rx = tf.reshape(tape["rx"], (-1, 1))
        d_wx = _normalised_adjoint(d_z * p["kernel_norm_gamma"], dx, rx, tf)
        rows_x = tf.reshape(x, (-1, input_dim))
        rows_h = tf.reshape(tape["h_tm1"], (-1, units))
        d_shift = tf.reduce_sum(d_z, axis=0)
        d_params = {
            "kernel": tf.matmul(rows_x, d_wx, transpose_a=True),
            "recurrent_kernel": tf.matmul(rows_h, d_uh, transpose_a=True),
            "bias": d_shift,
            "kernel_norm_gamma": tf.reduce_sum(d_z * dx * rx, axis=0),
            "kernel_norm_beta": d_shift,
            "recurrent_norm_gamma": tf.reduce_sum(sum_rg, axis=0),
            "recurrent_norm_beta": d_shift,
            "state_norm_gamma": tf.reduce_sum(sum_sg, axis=0),
            "state_norm_beta": tf.reduce_sum(sum_sb, axis=0),
        }
        d_x = tf.reshape(tf.matmul(d_wx, p["kernel"], transpose_b=True), (time_, batch, input_dim))
        return d_params, tf.transpose(d_x, (1, 0, 2))


class Generated:
    """A generated TF module's ``forward`` / ``backward`` in the shape the runner takes."""

    def __init__(self, module):
        self.module = module

    def forward(self, p, x):
        outputs, _, tape = self.module.forward(p, x)
        return outputs, tape

    def backward(self, p, tape, d_outputs):
        d_params, d_x, _ = self.module.backward(p, tape, d_outputs)
        return d_params, d_x


def runner(impl, problem, tf) -> bench.Runner:
    """A ``bench.Runner``: one forward+backward, its gradients as NumPy arrays by name
    (``x``, then the parameters), converted inside the call as ``bench.py`` times them."""
    params = {name: tf.constant(value) for name, value in problem.params.items()}
    x, w = tf.constant(problem.x), tf.constant(problem.w)

    @tf.function
    def forward_backward(params, x, w):
        _, tape = impl.forward(params, x)
        return impl.backward(params, tape, w)

    def run() -> bench.Results:
        d_params, d_x = forward_backward(params, x, w)
        return {"x": d_x.numpy(), **{name: d.numpy() for name, d in d_params.items()}}

    return run


def time_interleaved(calls: dict[str, bench.Runner], rounds: int) -> dict[str, list[float]]:
    """Milliseconds of each call in ``rounds`` rounds that call every one once (as
    ``bench.time_rounds``, whose rows name ``bench.py``'s implementations only)."""
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(1000 * (time.perf_counter() - start))
    return times


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="64,100,128,256", help="B,T,I,H")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    shape = bench.Shape(*map(int, args.size.split(",")))
    tf = bench._import_tf()
    layernorm = bench.make_problem(shape, "layernorm_lstm")
    # lstm's weights are different tensors of the same shapes: the same GEMM work.
    lstm = bench.make_problem(shape, "lstm")
    generated = {v: Generated(bench.load_generated("tf", v)) for v in ("lstm", "layernorm_lstm")}
    calls = {
        "generated lstm": runner(generated["lstm"], lstm, tf),
        "generated layernorm_lstm": runner(generated["layernorm_lstm"], layernorm, tf),
        "hand, fused": runner(HandLayerNormLSTM(tf, per_block=False), layernorm, tf),
        "hand, per block": runner(HandLayerNormLSTM(tf, per_block=True), layernorm, tf),
    }
    results = {name: bench.warm_up(call, args.warmup) for name, call in calls.items()}
    reference = results["generated layernorm_lstm"]
    print(f"{shape.label}, float32, forward+backward, {args.rounds} interleaved rounds")
    times = time_interleaved(calls, args.rounds)
    base = statistics.median(times["generated lstm"])
    print(f"{'implementation':26s} {'median ms':>10s} {'min ms':>8s} {'x lstm':>7s}  gradients")
    for name, samples in times.items():
        median = statistics.median(samples)
        check = ""
        if name.startswith("hand"):
            check = f"max rel diff {bench.max_rel_err(results[name], reference):.1e} vs generated"
        print(f"{name:26s} {median:10.1f} {min(samples):8.1f} {median / base:7.2f}  {check}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
