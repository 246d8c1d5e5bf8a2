"""Op profile of the TF loops: TensorFlow ops per time step of the generated layer and of Keras's,
and the cost of one op inside a ``tf.while_loop`` measured in the same run.

Where the time of a recurrent layer goes beyond its GEMMs is per-step op overhead: at the
reference size each element-wise op is a (64, 256) tensor, and TensorFlow's executor costs a
few microseconds per op whatever its size. This script counts the ops of each
``tf.while_loop`` body that a training call's forward+backward runs (the generated layer with
``training=True``, whose backward is the generated one; Keras's layer, whose backward is
TensorFlow's gradient of its loop), grouped as GEMMs, tape reads and writes (TensorList
ops) and the rest, and times a while loop of chained element-wise ops to estimate what the
non-GEMM ops cost per pass::

    python benchmarks/ops.py                       # lstm and gru at the reference size
    python benchmarks/ops.py --variant layernorm_lstm,lstm --size 64,100,128,256
    python benchmarks/ops.py --numpy               # also: where the NumPy target's time goes
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402  (the benchmark's layers, shapes and weights)

# Ops that are bookkeeping of the loop, not work: constants, identities, arguments.
_FREE = {"Identity", "NoOp", "Const", "_Arg", "_Retval", "Placeholder", "IdentityN"}
_GEMM = {"MatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum"}


def loop_bodies(function, x) -> list[tuple[str, Counter]]:
    """(name, op counts) of every while-loop body in the traced graph of ``function(x)``."""
    graph = function.get_concrete_function(x).graph
    bodies = []
    for fdef in graph.as_graph_def().library.function:
        name = fdef.signature.name
        if "while_body" in name:
            bodies.append((name, Counter(n.op for n in fdef.node_def if n.op not in _FREE)))
    return bodies


def group(counts: Counter) -> dict[str, int]:
    """GEMMs, tape (TensorList) ops and the rest, of one loop body."""
    gemm = sum(n for op, n in counts.items() if op in _GEMM)
    tape = sum(n for op, n in counts.items() if op.startswith("TensorList"))
    return {"gemm": gemm, "tape": tape, "other": sum(counts.values()) - gemm - tape}


def training_calls(layer, tf):
    """The forward and the forward+backward of a training call under ``tf.function`` (no
    XLA)."""

    @tf.function
    def forward(x):
        return layer(x, training=True)

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True))
        return tape.gradient(loss, [x, *layer.trainable_weights])

    return forward, forward_backward


def op_cost_us(shape: bench.Shape, tf, ops: int = 40, repeats: int = 7) -> float:
    """Microseconds per chained element-wise (batch, units) op inside a while loop of
    ``shape.time`` steps: the slope between a loop of ``ops`` ops per step and one of none."""

    def loop(k):
        @tf.function
        def run(v, scale, shift):
            def body(t, v):
                # Alternating ops on a loop input: nothing that Grappler can fold.
                for j in range(k):
                    v = v * scale if j % 2 else v - shift
                return t + 1, v

            return tf.while_loop(lambda t, v: t < shape.time, body, (tf.constant(0), v))[1]

        return run

    v = tf.ones((shape.batch, shape.units))
    scale, shift = tf.fill(v.shape, 0.999), tf.fill(v.shape, 1e-3)
    medians = []
    for k in (0, ops):
        run = loop(k)
        run(v, scale, shift)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            run(v, scale, shift).numpy()
            samples.append(time.perf_counter() - start)
        medians.append(statistics.median(samples))
    return (medians[1] - medians[0]) / (ops * shape.time) * 1e6


def profile(variant: str, shape: bench.Shape, tf) -> list[dict]:
    """One row per implementation and loop body (forward, backward) of ``variant``."""
    problem = bench.make_problem(shape, variant)
    x = tf.constant(problem.x)
    makers = {"generated": bench.make_generated_tf_layer, "keras": bench.make_keras_layer}
    rows = []
    for impl, make in makers.items():
        try:
            layer = make(variant, problem)
        except bench.Unavailable as error:
            rows.append({"variant": variant, "impl": impl, "note": str(error)})
            continue
        forward, forward_backward = training_calls(layer, tf)
        forward_bodies = [counts for _, counts in loop_bodies(forward, x)]
        for _, counts in loop_bodies(forward_backward, x):
            # The backward loop is the one the forward call alone does not have; under
            # TensorFlow's gradient the forward loop also pushes its values (PushBack).
            taping = "TensorListPushBack" in counts
            pass_ = "forward" if counts in forward_bodies or taping else "backward"
            rows.append(
                {
                    "variant": variant,
                    "impl": impl,
                    "loop": pass_,
                    **group(counts),
                    "ops": dict(counts.most_common()),
                }
            )
    # Forward loops first, then backward, in each layer's rows (the graph lists them in
    # any order).
    order = {"forward": 0, "backward": 1}
    return sorted(rows, key=lambda r: (r["impl"], order.get(r.get("loop"), 2)))


def numpy_profile(variant: str, shape: bench.Shape, calls: int = 3) -> dict[str, float]:
    """Where the generated NumPy forward+backward spends its time, per call in ms: the
    element-wise step functions (``_cell``, ``_cell_backward``, under cProfile) and the rest
    of ``forward`` / ``backward`` (the GEMMs, the loop and the tape), median of ``calls``."""
    import cProfile
    import pstats

    problem = bench.make_problem(shape, variant)
    module = bench.load_generated("numpy", variant)
    _, _, tape = module.forward(problem.params, problem.x)
    samples: dict[str, list[float]] = {}
    for _ in range(calls):
        profiler = cProfile.Profile()
        profiler.enable()
        _, _, tape = module.forward(problem.params, problem.x)
        module.backward(problem.params, tape, problem.w)
        profiler.disable()
        stats = pstats.Stats(profiler).stats
        total = {name: (tt, ct) for (_, _, name), (_, _, tt, ct, _) in stats.items()}
        cell = total.get("_cell", (0, 0))[1]
        cell_backward = total.get("_cell_backward", (0, 0))[1]
        measured = {
            "forward": total["forward"][1],
            "backward": total["backward"][1],
            "_cell": cell,
            "_cell_backward": cell_backward,
        }
        for key, value in measured.items():
            samples.setdefault(key, []).append(value * 1e3)
    return {key: statistics.median(values) for key, values in samples.items()}


def format_numpy(profiles: dict[str, dict[str, float]], shape: bench.Shape) -> str:
    lines = [
        f"Generated NumPy forward+backward at {shape.label}, ms per call (cProfile, median of 3):"
        " element-wise step functions vs the rest (GEMMs, loop, tape)",
        f"{'variant':<22} {'forward':>8} {'_cell':>8} {'rest':>8} {'backward':>9}"
        f" {'_cell_backward':>15} {'rest':>8}",
    ]
    for variant, p in profiles.items():
        lines.append(
            f"{variant:<22} {p['forward']:>8.1f} {p['_cell']:>8.1f}"
            f" {p['forward'] - p['_cell']:>8.1f} {p['backward']:>9.1f}"
            f" {p['_cell_backward']:>15.1f} {p['backward'] - p['_cell_backward']:>8.1f}"
        )
    return "\n".join(lines)


def format_rows(rows: list[dict], shape: bench.Shape, cost_us: float) -> str:
    header = (
        f"{'variant':<22} {'layer':<10} {'loop':<9} {'gemm':>5} {'tape':>5} {'other':>6}"
        f" {'non-GEMM ms':>11}  ops per step"
    )
    lines = [
        f"Ops per time step of each tf.while_loop body, training call, at {shape.label};"
        f" one element-wise op in a loop costs {cost_us:.1f} us here, so non-GEMM ms ="
        f" (tape + other) x {shape.time} steps x {cost_us:.1f} us",
        header,
        "-" * len(header),
    ]
    for row in rows:
        if "note" in row:
            lines.append(f"{row['variant']:<22} {row['impl']:<10} not available: {row['note']}")
            continue
        estimate = (row["tape"] + row["other"]) * shape.time * cost_us / 1000
        ops = ", ".join(f"{op} {n}" for op, n in row["ops"].items())
        lines.append(
            f"{row['variant']:<22} {row['impl']:<10} {row['loop']:<9} {row['gemm']:>5}"
            f" {row['tape']:>5} {row['other']:>6} {estimate:>11.1f}  {ops}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--variant", default="lstm,gru", help="comma-separated variants")
    parser.add_argument("--size", help="B,T,I,H (default: the reference size)")
    parser.add_argument(
        "--numpy", action="store_true", help="also profile the generated NumPy modules"
    )
    args = parser.parse_args(argv)
    shape = bench.Shape(*map(int, args.size.split(","))) if args.size else bench.REFERENCE
    tf = bench._import_tf()
    machine = bench.machine_info()
    rows = [row for v in args.variant.split(",") for row in profile(v.strip(), shape, tf)]
    cost = op_cost_us(shape, tf)
    isa = machine["cpu"]["isa_env"]
    print(
        f"CPU: {machine['cpu_model']} ({machine['cpu_count']} cores){f', {isa}' if isa else ''};"
        f" TensorFlow {tf.__version__}"
    )
    print(format_rows(rows, shape, cost))
    if args.numpy:
        variants = [v.strip() for v in args.variant.split(",")]
        print()
        print(format_numpy({v: numpy_profile(v, shape) for v in variants}, shape))
    return 0


if __name__ == "__main__":
    sys.exit(main())
