"""Benchmark: generated LSTM modules vs Keras, PyTorch and a GEMM lower bound -> table + JSON.

Run on demand from the repository root (not part of the test suite)::

    python benchmarks/bench.py --quick                   # reference size only
    python benchmarks/bench.py                           # reference + every sweep
    python benchmarks/bench.py --variant lstm --sweep time --json benchmarks/results-time.json
    python benchmarks/bench.py --tape-bytes              # tape size only, no timing

Every implementation computes the same function at float32 with the same weights: an LSTM over
``x: (batch, time, input)`` returning every output, and, for the ``forward+backward`` pass, the
gradient of ``sum(outputs * w)`` w.r.t. ``x`` and every weight. Each timed call ends with its
results as NumPy arrays, so asynchronous work is inside the timing. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any TensorFlow import
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated"
DEFAULT_JSON = ROOT / "benchmarks" / "results.json"
DEFAULT_VARIANTS = ("lstm", "lstm_hard_sigmoid", "lstm_hard_sigmoid_keras2")
PARAM_NAMES = ("kernel", "recurrent_kernel", "bias")
PASSES = ("forward", "forward+backward")
MIN_REPEATS = 5
MISMATCH = 1e-3  # max rel err vs the generated NumPy module above which a row is flagged
BUSY_LOAD = 0.5  # 1-minute load average at start above which the header warns
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)

IMPLS = {
    "keras": "keras LSTM (tf.function)",
    "keras_xla": "keras LSTM (XLA)",
    "gen_tf": "generated TF (tf.function)",
    "gen_tf_xla": "generated TF (XLA)",
    "gen_numpy": "generated NumPy",
    "torch": "torch nn.LSTM",
    "bound": "GEMM bound (NumPy)",
    "bound_tf": "GEMM bound (TF graph)",
    "bound_tf_xla": "GEMM bound (TF XLA)",
}

Results = dict[str, np.ndarray]
Runner = Callable[[], Results]
Samples = tuple[float, ...]


class Unavailable(Exception):
    """An implementation cannot run here (missing module, library or feature)."""


@dataclass(frozen=True)
class Shape:
    """Problem size: x is (batch, time, input_dim); the layer has ``units`` units."""

    batch: int
    time: int
    input_dim: int
    units: int

    @property
    def label(self) -> str:
        return f"B={self.batch} T={self.time} I={self.input_dim} H={self.units}"


REFERENCE = Shape(batch=64, time=100, input_dim=128, units=256)
SWEEPS = {"time": (50, 100, 200, 400), "units": (128, 256, 512, 1024), "batch": (1, 16, 64)}


@dataclass(frozen=True)
class Problem:
    """Float32 inputs shared by every implementation at one shape."""

    shape: Shape
    params: dict[str, np.ndarray]
    x: np.ndarray  # (batch, time, input_dim)
    w: np.ndarray  # (batch, time, units): loss = sum(outputs * w), so d_outputs = w


@dataclass(frozen=True)
class Row:
    """One measurement: implementation x variant x pass x shape."""

    shape: Shape
    variant: str
    pass_: str
    impl: str
    status: str  # "ok", "not available" or "error"
    note: str = ""
    times_ms: Samples = ()  # wall time of each timed call
    cpu_ms: Samples = ()  # CPU time of the process (every thread) during each call
    max_rel_err: float | None = None
    ratio_keras: float | None = None
    ratio_bound: float | None = None

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.times_ms) if self.times_ms else None

    @property
    def min_ms(self) -> float | None:
        return min(self.times_ms) if self.times_ms else None

    @property
    def cpu_median_ms(self) -> float | None:
        return statistics.median(self.cpu_ms) if self.cpu_ms else None


@dataclass(frozen=True)
class Goal:
    """``impl``'s median over ``baseline``'s must stay <= ``limit``.

    ``baseline`` is ``"keras"`` (Keras tf.function, same variant and pass), ``"bound"`` (GEMM
    bound, same pass) or ``"lstm"`` (the same implementation and pass on variant lstm).
    """

    impl: str
    pass_: str
    baseline: str
    limit: float


GOALS = (
    Goal("gen_numpy", "forward+backward", "bound", 1.35),
    Goal("gen_tf", "forward+backward", "keras", 0.5),
    Goal("gen_tf_xla", "forward+backward", "keras", 0.5),
    Goal("gen_tf", "forward", "bound", 1.3),
    Goal("gen_tf_xla", "forward", "bound", 1.3),
    *(
        Goal(impl, pass_, "lstm", 1.10)
        for impl in ("gen_numpy", "gen_tf", "gen_tf_xla")
        for pass_ in PASSES
    ),
)


@dataclass(frozen=True)
class Settings:
    """Parsed command line."""

    variants: tuple[str, ...]
    shapes: tuple[Shape, ...]
    impls: tuple[str, ...]
    repeats: int
    warmup: int
    json_path: Path
    tape_only: bool
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------- problem, modules


def make_problem(shape: Shape, seed: int = 0) -> Problem:
    """Glorot-like weights so that gates sit in their active range, not saturated."""
    rng = np.random.default_rng(seed)
    b, t, i, h = shape.batch, shape.time, shape.input_dim, shape.units

    def uniform(*dims: int, scale: float) -> np.ndarray:
        return rng.uniform(-scale, scale, dims).astype(np.float32)

    params = {
        "kernel": uniform(i, 4 * h, scale=(6 / (i + 4 * h)) ** 0.5),
        "recurrent_kernel": uniform(h, 4 * h, scale=(6 / (h + 4 * h)) ** 0.5),
        "bias": uniform(4 * h, scale=0.1),
    }
    x = rng.standard_normal((b, t, i)).astype(np.float32)
    w = rng.standard_normal((b, t, h)).astype(np.float32)
    return Problem(shape, params, x, w)


@functools.cache
def load_generated(target: str, variant: str) -> ModuleType:
    """Import ``generated/<target>/<variant>.py`` by file path (once per process).

    Raises:
        Unavailable: the file does not exist (yet).
    """
    path = GENERATED / target / f"{variant}.py"
    if not path.is_file():
        raise Unavailable(f"{path.relative_to(ROOT)} missing")
    spec = importlib.util.spec_from_file_location(f"lstmgen_bench_{target}_{variant}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tape_bytes(module: ModuleType, problem: Problem) -> dict[str, float]:
    """Bytes of each tape entry of ``module.forward`` per unit per step: nbytes / (B*T*H)."""
    _, _, tape = module.forward(problem.params, problem.x)
    s = problem.shape
    per = s.batch * s.time * s.units
    return {name: _nbytes(value) / per for name, value in tape.items()}


def _nbytes(value) -> int:
    """Bytes of the arrays in ``value``: an array, or lists, tuples and dicts of them."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(item) for item in value)
    return np.asarray(value).nbytes


# --------------------------------------------------------------------------- runners
# Each make_* returns {pass: runner}; a runner is a zero-argument callable returning NumPy
# arrays: {"outputs"} for forward, {"x", "kernel", "recurrent_kernel", "bias"} for gradients.


def make_numpy_runners(module: ModuleType, problem: Problem) -> dict[str, Runner]:
    """The generated NumPy module's ``forward`` and ``forward`` + ``backward``."""
    params, x, w = problem.params, problem.x, problem.w

    def forward() -> Results:
        outputs, _, _ = module.forward(params, x)
        return {"outputs": outputs}

    def forward_backward() -> Results:
        _, _, tape = module.forward(params, x)
        d_params, d_x, _ = module.backward(params, tape, w)
        return {"x": d_x, **d_params}

    return {"forward": forward, "forward+backward": forward_backward}


def _bound_operands(shape: Shape) -> dict[str, np.ndarray]:
    """Random float32 operands of the GEMM bound (their values do not matter)."""
    rng = np.random.default_rng(1)
    b, t, i, h = shape.batch, shape.time, shape.input_dim, shape.units
    dims = {
        "x_rows": (t * b, i),
        "kernel": (i, 4 * h),
        "recurrent": (h, 4 * h),
        "h_rows": (t * b, h),
        "d_a_rows": (t * b, 4 * h),
    }
    return {name: rng.standard_normal(d).astype(np.float32) for name, d in dims.items()}


def make_bound_runners(shape: Shape) -> dict[str, Runner]:
    """Only the matrix products an LSTM must do, in NumPy, into preallocated outputs.

    Forward: (B*T, I) x (I, 4H) once, then T times (B, H) x (H, 4H). Backward adds T times
    (B, 4H) x (4H, H) and the weight / input gradients as single GEMMs over every step:
    (I, B*T) x (B*T, 4H), (H, B*T) x (B*T, 4H) and (B*T, 4H) x (4H, I).
    """
    ops = _bound_operands(shape)
    b, t, i, h = shape.batch, shape.time, shape.input_dim, shape.units
    x_rows, kernel, recurrent = ops["x_rows"], ops["kernel"], ops["recurrent"]
    h_rows, d_a_rows = ops["h_rows"], ops["d_a_rows"]
    recurrent_t, kernel_t = np.ascontiguousarray(recurrent.T), np.ascontiguousarray(kernel.T)
    a_x, a = np.empty((b * t, 4 * h), np.float32), np.empty((b, 4 * h), np.float32)
    d_h = np.empty((b, h), np.float32)
    d_kernel, d_recurrent = np.empty((i, 4 * h), np.float32), np.empty((h, 4 * h), np.float32)
    d_x = np.empty((b * t, i), np.float32)

    def forward() -> Results:
        np.matmul(x_rows, kernel, out=a_x)
        for step in range(t):
            np.matmul(h_rows[step * b : (step + 1) * b], recurrent, out=a)
        return {}

    def forward_backward() -> Results:
        forward()
        for step in range(t):
            np.matmul(d_a_rows[step * b : (step + 1) * b], recurrent_t, out=d_h)
        np.matmul(x_rows.T, d_a_rows, out=d_kernel)
        np.matmul(h_rows.T, d_a_rows, out=d_recurrent)
        np.matmul(d_a_rows, kernel_t, out=d_x)
        return {}

    return {"forward": forward, "forward+backward": forward_backward}


def make_tf_bound_runners(shape: Shape, jit_compile: bool) -> dict[str, Runner]:
    """The products of ``make_bound_runners`` as TensorFlow ops in one ``tf.function``, the
    per-step ones in a ``tf.while_loop``: the floor that TensorFlow's own GEMMs set."""
    tf = _import_tf()
    ops = {name: tf.constant(value) for name, value in _bound_operands(shape).items()}
    b, t = shape.batch, shape.time
    h_steps = tf.reshape(ops["h_rows"], (t, b, -1))
    d_a_steps = tf.reshape(ops["d_a_rows"], (t, b, -1))

    def per_step(steps, weights, transpose_b: bool):
        """T products ``steps[k] @ weights`` (or ``@ weights.T``); returns the last."""
        rows = weights.shape[0] if transpose_b else weights.shape[1]

        def body(k, _):
            return k + 1, tf.matmul(steps[k], weights, transpose_b=transpose_b)

        return tf.while_loop(lambda k, _: k < t, body, (0, tf.zeros((b, rows))))[1]

    def forward_products():
        return {
            "a_x": tf.matmul(ops["x_rows"], ops["kernel"]),
            "a": per_step(h_steps, ops["recurrent"], transpose_b=False),
        }

    @tf.function(jit_compile=jit_compile)
    def forward():
        return forward_products()

    @tf.function(jit_compile=jit_compile)
    def forward_backward():
        return {
            **forward_products(),
            "d_h": per_step(d_a_steps, ops["recurrent"], transpose_b=True),
            "d_kernel": tf.matmul(ops["x_rows"], ops["d_a_rows"], transpose_a=True),
            "d_recurrent": tf.matmul(ops["h_rows"], ops["d_a_rows"], transpose_a=True),
            "d_x": tf.matmul(ops["d_a_rows"], ops["kernel"], transpose_b=True),
        }

    def run(function) -> Runner:
        return lambda: {key: value.numpy() for key, value in function().items()}

    return {"forward": run(forward), "forward+backward": run(forward_backward)}


def _keras2_hard_sigmoid(x):
    """Keras 2 / tf-keras hard_sigmoid, ``clip(0.2 x + 0.5, 0, 1)`` (not in Keras 3)."""
    import keras

    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


def keras_activation(name: str):
    """A Keras activation for an lstmgen activation name.

    Raises:
        Unavailable: Keras has no activation of that name.
    """
    if name == "hard_sigmoid_keras2":
        return _keras2_hard_sigmoid
    import keras

    try:
        return keras.activations.get(name)
    except ValueError as error:
        raise Unavailable(f"Keras has no activation {name!r}") from error


def _import_tf() -> ModuleType:
    try:
        import tensorflow as tf
    except ImportError as error:
        raise Unavailable(f"tensorflow not importable ({error})") from error
    return tf


def make_keras_layer(variant: str, problem: Problem):
    """``keras.layers.LSTM`` with the variant's activations and the problem's weights."""
    from lstmgen.spec import resolve_variant

    _import_tf()
    import keras

    spec = resolve_variant(variant)
    if spec.keras_layer != "LSTM":
        raise Unavailable(f"variant {variant!r} has no keras.layers.LSTM counterpart")
    layer = keras.layers.LSTM(
        problem.shape.units,
        activation=keras_activation(spec.activation),
        recurrent_activation=keras_activation(spec.recurrent_activation),
        return_sequences=True,
        dtype="float32",
    )
    return _with_weights(layer, problem)


def make_generated_tf_layer(variant: str, problem: Problem):
    """``LAYER`` from generated/tf/<variant>.py with the problem's weights."""
    _import_tf()
    module = load_generated("tf", variant)
    if not hasattr(module, "LAYER"):
        raise Unavailable(f"generated/tf/{variant}.py defines no LAYER")
    layer = module.LAYER(problem.shape.units, return_sequences=True, dtype="float32")
    return _with_weights(layer, problem)


def _with_weights(layer, problem: Problem):
    """Build ``layer`` on the problem's input shape and assign its weights by name."""
    layer.build(problem.x.shape)
    names = [variable.name.split("/")[-1].split(":")[0] for variable in layer.weights]
    if sorted(names) != sorted(PARAM_NAMES):
        raise Unavailable(f"layer weights are {names}, expected {list(PARAM_NAMES)}")
    for name, variable in zip(names, layer.weights, strict=True):
        variable.assign(problem.params[name])
    return layer


def make_tf_runners(layer, problem: Problem, jit_compile: bool) -> dict[str, Runner]:
    """The layer's call (and its GradientTape gradient) inside one ``tf.function``."""
    tf = _import_tf()
    x = tf.constant(problem.x)
    w = tf.constant(problem.w)
    variables = list(layer.trainable_weights)
    names = ["x", *(v.name.split("/")[-1].split(":")[0] for v in variables)]

    @tf.function(jit_compile=jit_compile)
    def forward(x):
        return {"outputs": layer(x)}

    @tf.function(jit_compile=jit_compile)
    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * w)
        return dict(zip(names, tape.gradient(loss, [x, *variables]), strict=True))

    def as_numpy(function) -> Runner:
        return lambda: {key: value.numpy() for key, value in function(x).items()}

    return {"forward": as_numpy(forward), "forward+backward": as_numpy(forward_backward)}


def make_torch_runners(variant: str, problem: Problem) -> dict[str, Runner]:
    """``torch.nn.LSTM`` (gate order i|f|g|o, as Keras) with the problem's weights."""
    import torch

    if variant != "lstm":
        raise Unavailable("nn.LSTM has sigmoid gates only")
    s = problem.shape
    lstm = torch.nn.LSTM(s.input_dim, s.units, batch_first=True)
    p = problem.params
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(p["kernel"].T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(p["recurrent_kernel"].T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(p["bias"]))
        lstm.bias_hh_l0.zero_()
    x = torch.from_numpy(problem.x)
    w = torch.from_numpy(problem.w)

    def forward() -> Results:
        with torch.no_grad():
            return {"outputs": lstm(x)[0].numpy()}

    def forward_backward() -> Results:
        lstm.zero_grad(set_to_none=True)
        x_grad = x.clone().requires_grad_(True)
        (lstm(x_grad)[0] * w).sum().backward()
        return {
            "x": x_grad.grad.numpy(),
            "kernel": lstm.weight_ih_l0.grad.T.numpy(),
            "recurrent_kernel": lstm.weight_hh_l0.grad.T.numpy(),
            "bias": lstm.bias_ih_l0.grad.numpy(),
        }

    return {"forward": forward, "forward+backward": forward_backward}


# --------------------------------------------------------------------------- measuring


def measure(runner: Runner, repeats: int, warmup: int) -> tuple[Samples, Samples, Results]:
    """Wall and process-CPU milliseconds of ``repeats`` calls after ``warmup`` calls, and the
    first call's results."""
    first = runner()
    for _ in range(warmup - 1):
        runner()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        runner()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return tuple(wall), tuple(cpu), first


def max_rel_err(results: Results, reference: Results) -> float | None:
    """max |a - b| / max |b| over the arrays both hold; None when they share none."""
    errors = [
        float(np.max(np.abs(results[key] - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
        for key, ref in reference.items()
        if key in results
    ]
    return max(errors) if errors else None


def runner_factories(problem: Problem, variant: str) -> dict[str, Callable[[], dict[str, Runner]]]:
    """impl -> factory of its runners, built lazily; the graph and XLA rows share one layer."""
    layers: dict[Callable, object] = {}

    def tf_factory(make_layer: Callable, jit_compile: bool) -> Callable[[], dict[str, Runner]]:
        def factory() -> dict[str, Runner]:
            if make_layer not in layers:
                layers[make_layer] = make_layer(variant, problem)
            return make_tf_runners(layers[make_layer], problem, jit_compile)

        return factory

    return {
        "keras": tf_factory(make_keras_layer, jit_compile=False),
        "keras_xla": tf_factory(make_keras_layer, jit_compile=True),
        "gen_tf": tf_factory(make_generated_tf_layer, jit_compile=False),
        "gen_tf_xla": tf_factory(make_generated_tf_layer, jit_compile=True),
        "gen_numpy": lambda: make_numpy_runners(load_generated("numpy", variant), problem),
        "torch": lambda: make_torch_runners(variant, problem),
    }


def run_impl(
    settings: Settings,
    problem: Problem,
    variant: str,
    impl: str,
    factory: Callable[[], dict[str, Runner]],
    reference: dict[str, Results] | None,
) -> list[Row]:
    """Both passes of one implementation; failures become rows, never exceptions."""
    base = Row(problem.shape, variant, "", impl, "ok")
    try:
        runners = factory()
    except Unavailable as reason:
        return [replace(base, pass_=p, status="not available", note=str(reason)) for p in PASSES]
    except Exception as error:  # one broken implementation must not stop the run
        note = f"{type(error).__name__}: {error}"[:200]
        return [replace(base, pass_=p, status="error", note=note) for p in PASSES]
    rows = []
    for pass_ in PASSES:
        try:
            times, cpu, results = measure(runners[pass_], settings.repeats, settings.warmup)
        except Exception as error:
            note = f"{type(error).__name__}: {error}"[:200]
            rows.append(replace(base, pass_=pass_, status="error", note=note))
            continue
        err = max_rel_err(results, reference[pass_]) if reference else None
        note = "MISMATCH: differs from generated NumPy" if err and err > MISMATCH else ""
        rows.append(
            replace(base, pass_=pass_, times_ms=times, cpu_ms=cpu, max_rel_err=err, note=note)
        )
        _progress(rows[-1])
    return rows


def _progress(row: Row) -> None:
    print(
        f"  {row.shape.label}  {row.variant:<26} {row.pass_:<17} {IMPLS[row.impl]:<27}"
        f" {row.median_ms:9.2f} ms",
        file=sys.stderr,
        flush=True,
    )


def run_shape(settings: Settings, shape: Shape) -> list[Row]:
    """Every selected implementation and variant at one shape."""
    problem = make_problem(shape)
    rows: list[Row] = []
    bounds = {
        "bound": functools.partial(make_bound_runners, shape),
        "bound_tf": functools.partial(make_tf_bound_runners, shape, jit_compile=False),
        "bound_tf_xla": functools.partial(make_tf_bound_runners, shape, jit_compile=True),
    }
    for impl, factory in bounds.items():
        if impl in settings.impls:
            rows += run_impl(settings, problem, "-", impl, factory, None)
    for variant in settings.variants:
        reference = _reference_results(variant, problem)
        factories = runner_factories(problem, variant)
        for impl in settings.impls:
            if impl in factories:
                rows += run_impl(settings, problem, variant, impl, factories[impl], reference)
    return rows


def _reference_results(variant: str, problem: Problem) -> dict[str, Results] | None:
    """The generated NumPy module's results, against which every other row is compared."""
    try:
        runners = make_numpy_runners(load_generated("numpy", variant), problem)
    except Unavailable:
        return None
    return {pass_: runner() for pass_, runner in runners.items()}


def with_ratios(rows: list[Row]) -> list[Row]:
    """Fill ratio_keras (vs Keras tf.function, same variant) and ratio_bound (vs GEMM bound)."""
    medians = {(r.shape, r.variant, r.pass_, r.impl): r.median_ms for r in rows}

    def ratio(row: Row, key: tuple) -> float | None:
        base = medians.get(key)
        return row.median_ms / base if row.median_ms and base else None

    return [
        replace(
            row,
            ratio_keras=ratio(row, (row.shape, row.variant, row.pass_, "keras")),
            ratio_bound=ratio(row, (row.shape, "-", row.pass_, "bound")),
        )
        for row in rows
    ]


def evaluate_goals(rows: list[Row]) -> list[dict]:
    """One entry per goal, shape and variant that has both medians."""
    medians = {(r.shape, r.variant, r.pass_, r.impl): r.median_ms for r in rows}
    shapes = list(dict.fromkeys(r.shape for r in rows))
    variants = list(dict.fromkeys(r.variant for r in rows if r.variant != "-"))
    entries = []
    for shape in shapes:
        for variant in variants:
            for goal in GOALS:
                if goal.baseline == "lstm" and variant == "lstm":
                    continue
                base_key = {
                    "keras": (shape, variant, goal.pass_, "keras"),
                    "bound": (shape, "-", goal.pass_, "bound"),
                    "lstm": (shape, "lstm", goal.pass_, goal.impl),
                }[goal.baseline]
                value = medians.get((shape, variant, goal.pass_, goal.impl))
                base = medians.get(base_key)
                ratio = value / base if value and base else None
                entries.append(
                    {
                        **asdict(shape),
                        "variant": variant,
                        "impl": goal.impl,
                        "pass": goal.pass_,
                        "baseline": goal.baseline,
                        "limit": goal.limit,
                        "ratio": ratio,
                        "met": None if ratio is None else ratio <= goal.limit,
                    }
                )
    return entries


# --------------------------------------------------------------------------- reporting


def machine_info() -> dict:
    """CPU model, cores and library versions, for the JSON and the table header."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next(
                (line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    info = {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": _blas_name(),
        "threads_env": {key: os.environ[key] for key in THREAD_VARIABLES if key in os.environ},
        "loadavg_start": list(os.getloadavg()),
    }
    for name in ("tensorflow", "keras", "torch"):
        info[name] = _version(name)
    return info


def _blas_name() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # informational only
        return "unknown"


def _version(name: str) -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return None
    for dist in (name, f"{name}-cpu"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_header(machine: dict, settings: Settings) -> str:
    """Machine, library versions and timing protocol; a warning when the machine was busy."""
    lines = [
        f"{machine['cpu_model']}, {machine['cpus_usable']}/{machine['cpu_count']} cpus;"
        f" numpy {machine['numpy']} ({machine['blas']}), tensorflow {machine['tensorflow']},"
        f" keras {machine['keras']}, torch {machine['torch']}",
        f"float32; median of {settings.repeats} calls after {settings.warmup} warm-up;"
        f" thread variables {machine['threads_env'] or 'unset'}",
    ]
    if machine["loadavg_start"][0] > BUSY_LOAD:
        lines.append(
            f"WARNING: load average {machine['loadavg_start'][0]:.2f} at start: other processes"
            " are running, so timings are noisy."
        )
    return "\n".join(lines)


def format_table(rows: list[Row]) -> str:
    """Rows grouped by shape; one line per variant x pass x implementation."""
    header = (
        f"{'variant':<26} {'pass':<17} {'implementation':<27} {'median ms':>10} {'min ms':>9}"
        f" {'cpu ms':>9}"
        f" {'x keras':>8} {'x bound':>8} {'max rel err':>11}  note"
    )
    lines = []
    for shape in dict.fromkeys(r.shape for r in rows):
        lines += ["", shape.label, header, "-" * len(header)]
        for row in (r for r in rows if r.shape == shape):
            note = row.note if row.status == "ok" else f"{row.status}: {row.note}"
            lines.append(
                f"{row.variant:<26} {row.pass_:<17} {IMPLS[row.impl]:<27}"
                f" {_fmt(row.median_ms, '10.2f'):>10} {_fmt(row.min_ms, '9.2f'):>9}"
                f" {_fmt(row.cpu_median_ms, '9.2f'):>9}"
                f" {_fmt(row.ratio_keras, '8.2f'):>8}"
                f" {_fmt(row.ratio_bound, '8.2f'):>8} {_fmt(row.max_rel_err, '11.1e'):>11}"
                f"  {note}".rstrip()
            )
    return "\n".join(lines)


def format_goals(goals: list[dict], shape: Shape) -> str:
    """Goal lines for one shape (the reference size when measured)."""
    lines = [f"Goals at {shape.label}:"]
    for g in goals:
        if (g["batch"], g["time"], g["input_dim"], g["units"]) != tuple(asdict(shape).values()):
            continue
        verdict = {None: "n/a", True: "met", False: "MISSED"}[g["met"]]
        base = {"keras": "keras (tf.function)", "bound": "GEMM bound", "lstm": "same on lstm"}
        lines.append(
            f"  {g['variant']:<26} {IMPLS[g['impl']]:<27} {g['pass']:<17}"
            f" / {base[g['baseline']]:<20} {_fmt(g['ratio'], '6.2f'):>6}"
            f"  (<= {g['limit']:.2f})  {verdict}"
        )
    return "\n".join(lines)


def format_tape(tapes: dict[str, dict[str, float]], shape: Shape) -> str:
    """Tape bytes per unit per step of the generated NumPy forward, with a breakdown."""
    lines = [f"Tape of the generated NumPy forward, bytes per unit per step at {shape.label}:"]
    for variant, by_name in tapes.items():
        parts = ", ".join(f"{name} {size:.2f}" for name, size in by_name.items())
        lines.append(f"  {variant:<26} {sum(by_name.values()):7.2f}  ({parts})")
    return "\n".join(lines)


def collect_tapes(variants: Iterable[str], shape: Shape) -> dict[str, dict[str, float]]:
    problem = make_problem(shape)
    tapes = {}
    for variant in variants:
        try:
            tapes[variant] = tape_bytes(load_generated("numpy", variant), problem)
        except Unavailable:
            continue
    return tapes


def row_dict(row: Row) -> dict:
    return {
        **asdict(row.shape),
        "variant": row.variant,
        "pass": row.pass_,
        "impl": row.impl,
        "label": IMPLS[row.impl],
        "status": row.status,
        "note": row.note,
        "median_ms": row.median_ms,
        "times_ms": list(row.times_ms),
        "cpu_median_ms": row.cpu_median_ms,
        "cpu_ms": list(row.cpu_ms),
        "ratio_keras": row.ratio_keras,
        "ratio_bound": row.ratio_bound,
        "max_rel_err": row.max_rel_err,
    }


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--variant",
        action="append",
        help=f"variant to measure; repeatable (default: {', '.join(DEFAULT_VARIANTS)})",
    )
    parser.add_argument("--quick", action="store_true", help="reference size only")
    parser.add_argument(
        "--sweep",
        action="append",
        choices=sorted(SWEEPS),
        help="sweeps to run around the reference size; repeatable (default: all)",
    )
    parser.add_argument(
        "--impl",
        action="append",
        choices=list(IMPLS),
        help="implementations to measure; repeatable (default: all)",
    )
    parser.add_argument("--repeats", type=int, default=MIN_REPEATS, help="timed calls (>= 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first (>= 1)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    parser.add_argument(
        "--tape-bytes", action="store_true", help="report tape bytes only, without timing"
    )
    args = parser.parse_args(argv)
    if args.repeats < MIN_REPEATS:
        parser.error(f"--repeats must be >= {MIN_REPEATS}, got {args.repeats}")
    if args.warmup < 1:
        parser.error(f"--warmup must be >= 1, got {args.warmup}")
    for variant in args.variant or ():
        if not any((GENERATED / target / f"{variant}.py").is_file() for target in ("numpy", "tf")):
            parser.error(f"unknown variant {variant!r}: no generated/numpy or generated/tf module")
    impls = tuple(args.impl or IMPLS)
    notes = []
    if "torch" in impls and importlib.util.find_spec("torch") is None:
        impls = tuple(i for i in impls if i != "torch")
        notes.append("PyTorch is not importable: torch nn.LSTM rows skipped.")
    return Settings(
        variants=tuple(dict.fromkeys(args.variant or DEFAULT_VARIANTS)),
        shapes=shapes_for(args.quick, tuple(args.sweep or SWEEPS)),
        impls=impls,
        repeats=args.repeats,
        warmup=args.warmup,
        json_path=args.json,
        tape_only=args.tape_bytes,
        notes=tuple(notes),
    )


def shapes_for(quick: bool, sweeps: tuple[str, ...]) -> tuple[Shape, ...]:
    """The reference shape, then each sweep varying one dimension of it (no duplicates)."""
    shapes = [REFERENCE]
    if not quick:
        for name in sweeps:
            shapes += [replace(REFERENCE, **{name: value}) for value in SWEEPS[name]]
    return tuple(dict.fromkeys(shapes))


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    machine = machine_info()
    summary_shape = settings.shapes[0]
    tapes = collect_tapes(settings.variants, summary_shape)
    if settings.tape_only:
        print(format_tape(tapes, summary_shape))
        return 0
    for note in settings.notes:
        print(note, file=sys.stderr)
    rows: list[Row] = []
    for shape in settings.shapes:
        rows += run_shape(settings, shape)
    rows = with_ratios(rows)
    goals = evaluate_goals(rows)
    machine["loadavg_end"] = list(os.getloadavg())
    print(format_header(machine, settings))
    print(format_table(rows))
    print()
    print(format_goals(goals, summary_shape))
    print()
    print(format_tape(tapes, summary_shape))
    for note in settings.notes:
        print(note)
    payload = {
        "machine": machine,
        "settings": {
            "dtype": "float32",
            "variants": list(settings.variants),
            "shapes": [asdict(s) for s in settings.shapes],
            "impls": list(settings.impls),
            "repeats": settings.repeats,
            "warmup": settings.warmup,
        },
        "notes": list(settings.notes),
        "results": [row_dict(r) for r in rows],
        "goals": goals,
        "tape_bytes_per_unit_step": {
            "shape": asdict(summary_shape),
            "total": {v: sum(t.values()) for v, t in tapes.items()},
            "by_name": tapes,
        },
    }
    settings.json_path.parent.mkdir(parents=True, exist_ok=True)
    settings.json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"\nWrote {settings.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
