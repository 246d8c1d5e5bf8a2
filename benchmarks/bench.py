"""Benchmark: generated cell modules vs Keras, PyTorch, a GEMM lower bound and a physical floor
-> table + JSON.

Run on demand from the repository root (tests/test_bench.py runs it at a tiny size only)::

    python benchmarks/bench.py --quick                   # reference size only
    python benchmarks/bench.py                           # reference + every sweep
    python benchmarks/bench.py --variant lstm --sweep time --json benchmarks/results-time.json
    python benchmarks/bench.py --quick --variant all --impl gen_tf,keras,bound  # every variant
    python benchmarks/bench.py --tape-bytes              # tape size only, no timing
    python benchmarks/bench.py --fit                     # model.fit epochs vs keras.layers.LSTM
    python benchmarks/bench.py --size 2,3,4,4 --peak-size 256  # a smoke test in seconds

Every implementation computes the same function at float32 with the same weights: the
variant's cell over ``x: (batch, time, input)`` returning every output, and, for the
``forward+backward`` pass, the gradient of ``sum(outputs * w)`` w.r.t. ``x`` and every
weight. The weights' names and shapes come from the generated module's ``PARAM_NAMES`` and
``param_shapes``. Each timed call ends with its results as NumPy arrays, so asynchronous work
is inside the timing. Everything at a size is built and warmed up first, then timed in
interleaved rounds (each round calls every implementation of every variant once), so a slow
spell of a shared machine hits them alike and the ratios within one run hold.

Variants differ in their matrix products, so besides the ratios to Keras and to the GEMM
bound (built for each variant's own weight shapes) every row has its time per unit of GEMM
work relative to ``lstm`` (same implementation, pass and size): GEMM work is the
multiply-adds of the weight products of one forward step per batch row, the sum of
``rows * cols`` over the 2-D weights. The physical floor of a pass is its matrix products'
FLOPs (2 per multiply-add, 3x forward for forward+backward) at the peak sgemm rate measured at
the start of the run; every row has its ratio to it (``x floor``). The header and the JSON
name the CPU model, its ISA flags and the environment variables that cap them.

``--fit`` times instead ``model.fit`` epochs of ``Sequential([Input((T, I)), <layer>(H),
Dense(1)])`` with the generated layer and with the stock Keras layer (same weights),
alternating epoch by epoch. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import inspect
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
DEFAULT_FIT_JSON = ROOT / "benchmarks" / "results-fit.json"
DEFAULT_VARIANTS = ("lstm", "lstm_hard_sigmoid", "lstm_hard_sigmoid_keras2")
ALL_VARIANTS = "all"  # --variant all: every built-in variant (lstmgen.specfile.all_variants())
GEMM_BASELINE = "lstm"  # per-GEMM-work ratios are relative to this variant
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

# /proc/cpuinfo flags that decide which GEMM kernels (OpenBLAS, oneDNN, Eigen) can run, in the
# header and the JSON when the CPU has them; and the environment variables that cap or select
# those kernels.
CPU_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)
ISA_VARIABLES = (
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "OPENBLAS_CORETYPE",
    "MKL_ENABLE_INSTRUCTIONS",
    "TF_ENABLE_ONEDNN_OPTS",
)
PEAK_SIZE = 2048  # peak sgemm: best of PEAK_REPEATS (n, n) x (n, n) float32 products
PEAK_REPEATS = 5
# The variants that torch.nn modules compute, as data: nn.LSTM is Keras 3 LSTM with sigmoid
# gates and tanh (gate order i|f|c|o); nn.GRU is Keras 3 GRU with reset_after=True. Any other
# variant whose spec has the same equations (same fields but its name, summary and class
# name) gets the same row (see torch_counterpart); the rest are "not available".
TORCH_VARIANTS = {"lstm": "LSTM", "gru": "GRU"}

IMPLS = {
    "keras": "keras layer (tf.function)",
    "keras_xla": "keras layer (XLA)",
    "gen_tf": "generated TF (tf.function)",
    "gen_tf_xla": "generated TF (XLA)",
    "gen_numpy": "generated NumPy",
    "gen_jax": "generated JAX VJP (jit)",
    "jax_autodiff": "JAX autodiff, lax.scan (jit)",
    "torch": "torch nn.LSTM / nn.GRU",
    "bound": "GEMM bound (NumPy)",
    "bound_tf": "GEMM bound (TF graph)",
    "bound_tf_xla": "GEMM bound (TF XLA)",
    "floor": "physical floor (peak sgemm)",
}
FLOOR = "floor"  # computed, not timed: GEMM FLOPs of the pass at the run's peak sgemm rate

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
# Sizes a variant's param_shapes and LAYER may take besides input_dim and units, by argument
# name, as functions of the shape: LSTMP's projection width (proj_units < units, as in
# Sak et al.).
EXTRA_SIZES: dict[str, Callable[[Shape], int]] = {"proj_units": lambda shape: shape.units // 2}
SWEEPS = {"time": (50, 100, 200, 400), "units": (128, 256, 512, 1024), "batch": (1, 16, 64)}


@dataclass(frozen=True)
class GemmLayout:
    """A variant's weight matrices at one shape, as (rows, cols).

    ``kernel`` (input_dim, cols) multiplies every step's input at once; each of ``per_step``
    (the recurrent kernel, then any further 2-D weight such as a projection) multiplies a
    value of the previous or current step, so once per step.
    """

    kernel: tuple[int, int]
    per_step: tuple[tuple[int, int], ...]

    @property
    def work(self) -> int:
        """Multiply-adds of one forward step's weight products per batch row."""
        return sum(rows * cols for rows, cols in (self.kernel, *self.per_step))

    @property
    def label(self) -> str:
        """``gemm 128x1024 256x1024``: the matrices, kernel first."""
        return "gemm " + " ".join(f"{r}x{c}" for r, c in (self.kernel, *self.per_step))

    def gflop(self, shape: Shape, pass_: str) -> float:
        """GFLOP of the pass's matrix products (2 FLOPs per multiply-add): ``work * B * T``
        multiply-adds forward, 3x that forward+backward."""
        passes = 1 if pass_ == "forward" else 3
        return 2 * self.work * shape.batch * shape.time * passes / 1e9


@dataclass(frozen=True)
class Problem:
    """Float32 inputs of one variant shared by every implementation at one shape."""

    shape: Shape
    variant: str
    params: dict[str, np.ndarray]  # in the generated module's PARAM_NAMES order
    x: np.ndarray  # (batch, time, input_dim)
    w: np.ndarray  # like the outputs, (batch, time, units): loss = sum(outputs * w)


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
    gemm: GemmLayout | None = None  # the variant's (or the bound's) weight matrices
    ratio_keras: float | None = None
    ratio_bound: float | None = None
    ratio_lstm_gemm: float | None = None  # time per unit of GEMM work over lstm's
    ratio_floor: float | None = None  # median over the physical floor of the same pass

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
    bound for the variant's weight shapes, same pass) or ``"lstm"``: the same implementation
    and pass on variant lstm, per unit of GEMM work, ``(median / work) / (median_lstm /
    work_lstm)`` (the plain ratio of medians when the variant has lstm's weight shapes).
    ``variants`` limits the goal to those variants (empty: every variant; never lstm itself
    for the ``"lstm"`` baseline). Any other baseline is an implementation (``IMPLS``): the
    plain ratio of medians, same variant and pass.
    """

    impl: str
    pass_: str
    baseline: str
    limit: float
    variants: tuple[str, ...] = ()  # only these variants (empty: all)
    exclude: tuple[str, ...] = ()  # not these


GOALS = (
    # Issue 12: the NumPy target at its GEMM bound, the TF target at TF's own GEMM floor and
    # at PyTorch, never slower than Keras, and XLA within 1.1x of the graph.
    Goal("gen_numpy", "forward+backward", "bound", 1.35),
    Goal("gen_tf", "forward+backward", "bound_tf", 1.15, ("lstm",)),
    Goal("gen_tf", "forward+backward", "torch", 1.1, ("lstm",)),
    Goal("gen_tf", "forward+backward", "keras", 1.0),
    Goal("gen_tf_xla", "forward+backward", "gen_tf", 1.1),
    *(
        Goal(impl, pass_, "lstm", 1.10, ("lstm_hard_sigmoid", "lstm_hard_sigmoid_keras2"))
        for impl in ("gen_numpy", "gen_tf", "gen_tf_xla")
        for pass_ in PASSES
    ),
    # Issue 10: every cell within 1.25x of lstm per unit of GEMM work, LayerNorm LSTM 1.6x.
    Goal("gen_tf", "forward+backward", "lstm", 1.25, exclude=("layernorm_lstm",)),
    Goal("gen_tf", "forward+backward", "lstm", 1.6, ("layernorm_lstm",)),
    # The generated VJP against JAX's autodiff through lax.scan of the same generated forward.
    Goal("gen_jax", "forward+backward", "jax_autodiff", 1.0),
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
    peak_size: int = PEAK_SIZE
    fit: FitSettings | None = None  # --fit: the model.fit mode instead of the cell timings


@dataclass(frozen=True)
class FitSettings:
    """``--fit``: epoch time of Sequential([Input((T, I)), <layer>(H), Dense(1)]) with adam."""

    variants: tuple[str, ...]
    configs: tuple[Shape, ...]  # batch is the fit batch size; time, input_dim, units the model
    samples: int
    epochs: int  # timed epochs of each model, alternating, after one warm-up epoch each
    compiles: tuple[str, ...]  # keys of FIT_COMPILES


# --------------------------------------------------------------------------- problem, modules


def make_problem(shape: Shape, variant: str, seed: int = 0) -> Problem:
    """The variant's parameters (names and shapes from its generated module), ``x`` and ``w``.

    Glorot-like uniform weight matrices so that gates sit in their active range, not
    saturated; biases and per-unit vectors (peepholes) uniform in [-0.1, 0.1]. The outputs
    (and ``w``) are as wide as the recurrent input, the rows of ``recurrent_kernel``: ``units``,
    or the projection's width for a projected LSTM.

    Raises:
        Unavailable: the variant has no generated module.
    """
    rng = np.random.default_rng(seed)
    b, t, i, h = shape.batch, shape.time, shape.input_dim, shape.units
    params, shapes = make_params(variant, shape, rng)
    x = rng.standard_normal((b, t, i)).astype(np.float32)
    width = shapes["recurrent_kernel"][0] if "recurrent_kernel" in shapes else h
    w = rng.standard_normal((b, t, width)).astype(np.float32)
    return Problem(shape, variant, params, x, w)


def make_params(
    variant: str, shape: Shape, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, ...]]]:
    """The variant's parameters at ``shape`` (see ``make_problem``) and their shapes.

    Raises:
        Unavailable: the variant has no generated module.
    """
    module = param_module(variant)
    shapes = param_shapes(module, shape)
    params = {}
    for name in module.PARAM_NAMES:
        dims = tuple(shapes[name])
        scale = (6 / sum(dims)) ** 0.5 if _is_matrix(name, dims) else 0.1
        params[name] = rng.uniform(-scale, scale, dims).astype(np.float32)
    return params, shapes


def _is_matrix(name: str, dims: tuple[int, ...]) -> bool:
    """A weight matrix (product operand), not a bias row pair such as GRU's (2, 3 * units)."""
    return len(dims) == 2 and "bias" not in name


def param_module(variant: str) -> ModuleType:
    """The generated module that describes the variant's parameters: NumPy, else TF.

    Raises:
        Unavailable: neither generated/numpy/<variant>.py nor generated/tf/<variant>.py.
    """
    try:
        return load_generated("numpy", variant)
    except Unavailable:
        return load_generated("tf", variant)


def extra_sizes(function: Callable, shape: Shape) -> dict[str, int]:
    """The sizes of EXTRA_SIZES that ``function`` takes by name (``proj_units``), at ``shape``."""
    parameters = inspect.signature(function).parameters
    return {name: size(shape) for name, size in EXTRA_SIZES.items() if name in parameters}


def param_shapes(module: ModuleType, shape: Shape) -> dict[str, tuple[int, ...]]:
    """``module.param_shapes(input_dim, units, **extra)``: extra sizes from EXTRA_SIZES
    where it takes them, any other argument at its default.

    Raises:
        Unavailable: ``param_shapes`` requires an argument the benchmark cannot give.
    """
    extra = extra_sizes(module.param_shapes, shape)
    required = [
        name
        for name, parameter in inspect.signature(module.param_shapes).parameters.items()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    ][2:]
    missing = [name for name in required if name not in extra]
    if missing:
        raise Unavailable(f"param_shapes requires {missing} besides input_dim and units")
    dims = module.param_shapes(shape.input_dim, shape.units, **extra)
    return {name: tuple(value) for name, value in dims.items()}


def gemm_layout(variant: str, shape: Shape) -> GemmLayout:
    """The variant's weight matrices at ``shape``, from its generated ``param_shapes``.

    Raises:
        Unavailable: no generated module, or its parameters have no ``kernel``.
    """
    module = param_module(variant)
    shapes = param_shapes(module, shape)
    matrices = {n: tuple(shapes[n]) for n in module.PARAM_NAMES if _is_matrix(n, shapes[n])}
    if "kernel" not in matrices:
        raise Unavailable(f"variant {variant!r} has no 2-D kernel in {module.PARAM_NAMES}")
    kernel = matrices.pop("kernel")
    return GemmLayout(kernel, tuple(matrices.values()))


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
# arrays: {"outputs"} for forward, {"x", *PARAM_NAMES} (each weight by name) for gradients.


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


def make_jax_runners(module: ModuleType, problem: Problem, autodiff: bool) -> dict[str, Runner]:
    """The generated JAX module, jitted, on the CPU: ``rnn`` and its VJP (the generated
    backward on forward's tape), or with ``autodiff`` JAX's autodiff through the ``lax.scan``
    of the same generated ``forward``.

    Raises:
        Unavailable: JAX does not import.
    """
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as error:
        raise Unavailable(f"jax not importable ({error}); pip install 'jax[cpu]'") from error

    def run(params, x):
        return module.forward(params, x)[0] if autodiff else module.rnn(params, x)[0]

    params, x, w = jax.device_put((problem.params, problem.x, problem.w))
    outputs = jax.jit(run)
    gradients = jax.jit(jax.grad(lambda params, x: jnp.sum(run(params, x) * w), (0, 1)))

    def forward() -> Results:
        return {"outputs": np.asarray(outputs(params, x))}

    def forward_backward() -> Results:
        d_params, d_x = gradients(params, x)
        return {"x": np.asarray(d_x), **{k: np.asarray(v) for k, v in d_params.items()}}

    return {"forward": forward, "forward+backward": forward_backward}


@dataclass(frozen=True)
class BoundOperands:
    """Random float32 operands of the GEMM bound (their values do not matter).

    ``x_rows`` (B*T, I) and ``d_ax_rows`` (B*T, cols) go with the kernel; for each per-step
    matrix (rows, cols), ``src_rows`` (B*T, rows) are the values it multiplies, one (B, rows)
    slice per step, and ``d_rows`` (B*T, cols) the adjoints of the products.
    """

    x_rows: np.ndarray
    kernel: np.ndarray
    d_ax_rows: np.ndarray
    weights: tuple[np.ndarray, ...]
    src_rows: tuple[np.ndarray, ...]
    d_rows: tuple[np.ndarray, ...]


def _bound_operands(shape: Shape, layout: GemmLayout) -> BoundOperands:
    rng = np.random.default_rng(1)
    n = shape.time * shape.batch

    def normal(*dims: int) -> np.ndarray:
        return rng.standard_normal(dims).astype(np.float32)

    (i, cols), per_step = layout.kernel, layout.per_step
    return BoundOperands(
        x_rows=normal(n, i),
        kernel=normal(i, cols),
        d_ax_rows=normal(n, cols),
        weights=tuple(normal(r, c) for r, c in per_step),
        src_rows=tuple(normal(n, r) for r, _ in per_step),
        d_rows=tuple(normal(n, c) for _, c in per_step),
    )


def make_bound_runners(shape: Shape, layout: GemmLayout) -> dict[str, Runner]:
    """Only the matrix products the cell must do, in NumPy, into preallocated outputs.

    Forward: (B*T, I) x (I, C) once for the kernel, then T times (B, R) x (R, C') for each
    per-step matrix (R, C') (the recurrent kernel, a projection). Backward adds T times
    (B, C') x (C', R) for each of them, and the weight / input gradients as single GEMMs
    over every step: (I, B*T) x (B*T, C), (R, B*T) x (B*T, C') and (B*T, C) x (C, I).
    For an LSTM (C = C' = 4H, R = H) these are its six products.
    """
    ops = _bound_operands(shape, layout)
    b, t = shape.batch, shape.time
    kernel_t = np.ascontiguousarray(ops.kernel.T)
    weights_t = tuple(np.ascontiguousarray(w.T) for w in ops.weights)
    a_x = np.empty((b * t, ops.kernel.shape[1]), np.float32)
    a = tuple(np.empty((b, w.shape[1]), np.float32) for w in ops.weights)
    d_src = tuple(np.empty((b, w.shape[0]), np.float32) for w in ops.weights)
    d_kernel = np.empty_like(ops.kernel)
    d_weights = tuple(np.empty_like(w) for w in ops.weights)
    d_x = np.empty_like(ops.x_rows)
    per_step = tuple(zip(ops.src_rows, ops.weights, a, strict=True))
    per_step_back = tuple(zip(ops.d_rows, weights_t, d_src, strict=True))

    def forward() -> Results:
        np.matmul(ops.x_rows, ops.kernel, out=a_x)
        for step in range(t):
            rows = slice(step * b, (step + 1) * b)
            for src, weights, out in per_step:
                np.matmul(src[rows], weights, out=out)
        return {}

    def forward_backward() -> Results:
        forward()
        for step in range(t):
            rows = slice(step * b, (step + 1) * b)
            for d, weights_t_, out in per_step_back:
                np.matmul(d[rows], weights_t_, out=out)
        np.matmul(ops.x_rows.T, ops.d_ax_rows, out=d_kernel)
        for src, d, out in zip(ops.src_rows, ops.d_rows, d_weights, strict=True):
            np.matmul(src.T, d, out=out)
        np.matmul(ops.d_ax_rows, kernel_t, out=d_x)
        return {}

    return {"forward": forward, "forward+backward": forward_backward}


def make_tf_bound_runners(shape: Shape, layout: GemmLayout, jit_compile: bool) -> dict[str, Runner]:
    """The products of ``make_bound_runners`` as TensorFlow ops in one ``tf.function``, the
    per-step ones in a ``tf.while_loop``: the floor that TensorFlow's own GEMMs set."""
    tf = _import_tf()
    ops = _bound_operands(shape, layout)
    b, t = shape.batch, shape.time
    x_rows, kernel, d_ax_rows = (tf.constant(v) for v in (ops.x_rows, ops.kernel, ops.d_ax_rows))
    weights = tuple(tf.constant(w) for w in ops.weights)
    src_rows = tuple(tf.constant(v) for v in ops.src_rows)
    src_steps = tuple(tf.reshape(v, (t, b, -1)) for v in src_rows)
    d_rows = tuple(tf.constant(v) for v in ops.d_rows)
    d_steps = tuple(tf.reshape(v, (t, b, -1)) for v in d_rows)

    def per_step(steps, transpose_b: bool):
        """T products ``steps[j][k] @ weights[j]`` (or ``@ weights[j].T``) for every j in one
        loop; returns the last ones."""
        cols = tuple(w.shape[0] if transpose_b else w.shape[1] for w in weights)

        def body(k, _):
            products = tuple(
                tf.matmul(s[k], w, transpose_b=transpose_b)
                for s, w in zip(steps, weights, strict=True)
            )
            return k + 1, products

        initial = (0, tuple(tf.zeros((b, c)) for c in cols))
        return tf.while_loop(lambda k, _: k < t, body, initial)[1]

    def forward_products():
        return {"a_x": tf.matmul(x_rows, kernel), "a": per_step(src_steps, transpose_b=False)}

    @tf.function(jit_compile=jit_compile)
    def forward():
        return forward_products()

    @tf.function(jit_compile=jit_compile)
    def forward_backward():
        return {
            **forward_products(),
            "d_src": per_step(d_steps, transpose_b=True),
            "d_kernel": tf.matmul(x_rows, d_ax_rows, transpose_a=True),
            "d_weights": tuple(
                tf.matmul(s, d, transpose_a=True) for s, d in zip(src_rows, d_rows, strict=True)
            ),
            "d_x": tf.matmul(d_ax_rows, kernel, transpose_b=True),
        }

    def run(function) -> Runner:
        return lambda: {
            key: tf.nest.map_structure(lambda v: v.numpy(), value)
            for key, value in function().items()
        }

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


def keras_layer(variant: str, units: int, return_sequences: bool = True):
    """``keras.layers.<spec.keras_layer>`` (LSTM or GRU) with the variant's activations and
    its ``keras_options`` (GRU ``reset_after=False``), not built.

    Raises:
        Unavailable: the variant has no Keras counterpart.
    """
    from lstmgen.specfile import resolve as resolve_variant

    _import_tf()
    import keras

    spec = resolve_variant(variant)
    if spec.keras_layer not in ("LSTM", "GRU"):
        raise Unavailable(f"variant {variant!r} has no keras.layers counterpart")
    return getattr(keras.layers, spec.keras_layer)(
        units,
        activation=keras_activation(spec.activation),
        recurrent_activation=keras_activation(spec.recurrent_activation),
        return_sequences=return_sequences,
        dtype="float32",
        **dict(getattr(spec, "keras_options", ())),
    )


def generated_tf_layer(variant: str, shape: Shape, return_sequences: bool = True):
    """``LAYER`` from generated/tf/<variant>.py at ``shape`` (extra sizes from EXTRA_SIZES),
    not built."""
    _import_tf()
    module = load_generated("tf", variant)
    if not hasattr(module, "LAYER"):
        raise Unavailable(f"generated/tf/{variant}.py defines no LAYER")
    extra = extra_sizes(module.LAYER.__init__, shape)
    return module.LAYER(shape.units, return_sequences=return_sequences, dtype="float32", **extra)


def make_keras_layer(variant: str, problem: Problem):
    """``keras_layer`` with the problem's weights."""
    return _with_weights(keras_layer(variant, problem.shape.units), problem)


def make_generated_tf_layer(variant: str, problem: Problem):
    """``LAYER`` from generated/tf/<variant>.py with the problem's weights."""
    return _with_weights(generated_tf_layer(variant, problem.shape), problem)


def _with_weights(layer, problem: Problem):
    """Build ``layer`` on the problem's input shape and assign its weights by name."""
    layer.build(problem.x.shape)
    return _assign_weights(layer, problem.params)


def _assign_weights(layer, params: dict[str, np.ndarray]):
    """Assign a built layer's weights by name from ``params``; returns the layer.

    Raises:
        Unavailable: the layer's weight names or shapes differ from ``params``.
    """
    names = [variable.name.split("/")[-1].split(":")[0] for variable in layer.weights]
    if sorted(names) != sorted(params):
        raise Unavailable(f"layer weights are {names}, expected {list(params)}")
    for name, variable in zip(names, layer.weights, strict=True):
        if tuple(variable.shape) != params[name].shape:
            raise Unavailable(
                f"layer weight {name} has shape {tuple(variable.shape)},"
                f" expected {params[name].shape}"
            )
        variable.assign(params[name])
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
        # A training call, as model.fit makes: the generated layers' gradient is then the
        # generated backward (an inference call gets TensorFlow's gradient of the forward).
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * w)
        return dict(zip(names, tape.gradient(loss, [x, *variables]), strict=True))

    def as_numpy(function) -> Runner:
        return lambda: {key: value.numpy() for key, value in function(x).items()}

    return {"forward": as_numpy(forward), "forward+backward": as_numpy(forward_backward)}


def _cell_equations(spec) -> dict:
    """The fields of a CellSpec that define what it computes (all but the names)."""
    fields = asdict(spec)
    for name in ("name", "summary", "class_name"):
        fields.pop(name, None)
    return fields


def torch_counterpart(variant: str) -> str:
    """``"LSTM"`` or ``"GRU"``: the torch.nn module that computes ``variant``, from
    TORCH_VARIANTS, or for a variant whose equations are exactly those of one of them.

    Raises:
        Unavailable: no torch.nn module computes the variant.
    """
    from lstmgen.specfile import resolve as resolve_variant

    if variant in TORCH_VARIANTS:
        return TORCH_VARIANTS[variant]
    try:
        equations = _cell_equations(resolve_variant(variant))
    except Exception as error:  # not a variant lstmgen.spec knows
        raise Unavailable(f"no spec for {variant!r}: {error}") from error
    for known, module in TORCH_VARIANTS.items():
        if equations == _cell_equations(resolve_variant(known)):
            return module
    computed = ", ".join(f"nn.{m} = {v}" for v, m in TORCH_VARIANTS.items())
    raise Unavailable(f"no torch.nn counterpart ({computed} only)")


def torch_equivalents() -> dict[str, str]:
    """Every built-in variant (lstmgen.specfile.all_variants()) that a torch.nn module
    computes."""
    from lstmgen.specfile import all_variants

    found = {}
    for variant in all_variants():
        try:
            found[variant] = torch_counterpart(variant)
        except Unavailable:
            continue
    return found


def make_torch_runners(variant: str, problem: Problem) -> dict[str, Runner]:
    """``torch.nn.LSTM`` or ``torch.nn.GRU`` with the problem's weights, for a variant that
    ``torch_counterpart`` maps to one of them (Keras LSTM / GRU with sigmoid gates and tanh).

    Keras and nn.LSTM share the gate order i|f|c|o; nn.LSTM's second bias stays zero. nn.GRU
    orders the gates r|z|n where Keras has z|r|h, and its ``bias_ih`` / ``bias_hh`` are the
    rows of Keras's (2, 3 * units) bias (``reset_after=True`` is nn.GRU's formula).

    Raises:
        Unavailable: the variant has no torch counterpart (other activations, peepholes,
            Keras options such as GRU ``reset_after=False``), or torch does not import.
    """
    from lstmgen.specfile import resolve as resolve_variant

    kind = torch_counterpart(variant)
    try:
        import torch
    except ImportError as error:
        raise Unavailable(f"torch not importable ({error}); pip install -e '.[bench]'") from error

    spec = resolve_variant(variant)
    kinds = {"LSTM": (torch.nn.LSTM, (0, 1, 2, 3)), "GRU": (torch.nn.GRU, (1, 0, 2))}
    module_class, order = kinds[kind]
    s, p, h = problem.shape, problem.params, problem.shape.units

    def reorder(a: np.ndarray) -> np.ndarray:
        """Gate blocks along the last axis from Keras to torch order, or back (an
        involution: identity or a swap of the first two)."""
        return np.concatenate([a[..., k * h : (k + 1) * h] for k in order], axis=-1)

    def tensor(a: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a))

    rnn = module_class(s.input_dim, h, batch_first=True)
    bias = reorder(p["bias"])
    recurrent_bias = bias[1] if spec.recurrent_bias else np.zeros_like(bias)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(tensor(reorder(p["kernel"]).T))
        rnn.weight_hh_l0.copy_(tensor(reorder(p["recurrent_kernel"]).T))
        rnn.bias_ih_l0.copy_(tensor(bias[0] if spec.recurrent_bias else bias))
        rnn.bias_hh_l0.copy_(tensor(recurrent_bias))
    x = torch.from_numpy(problem.x)
    w = torch.from_numpy(problem.w)

    def forward() -> Results:
        with torch.no_grad():
            return {"outputs": rnn(x)[0].numpy()}

    def forward_backward() -> Results:
        rnn.zero_grad(set_to_none=True)
        x_grad = x.clone().requires_grad_(True)
        (rnn(x_grad)[0] * w).sum().backward()
        d_bias = rnn.bias_ih_l0.grad.numpy()
        if spec.recurrent_bias:
            d_bias = np.stack([d_bias, rnn.bias_hh_l0.grad.numpy()])
        return {
            "x": x_grad.grad.numpy(),
            "kernel": reorder(rnn.weight_ih_l0.grad.T.numpy()),
            "recurrent_kernel": reorder(rnn.weight_hh_l0.grad.T.numpy()),
            "bias": reorder(d_bias),
        }

    return {"forward": forward, "forward+backward": forward_backward}


# --------------------------------------------------------------------------- measuring


def peak_sgemm(size: int = PEAK_SIZE, repeats: int = PEAK_REPEATS) -> dict:
    """GFLOP/s of the fastest of ``repeats`` float32 ``(size, size) x (size, size)`` products
    after one warm-up, with ``np.matmul`` (into a preallocated output) and with ``tf.matmul``
    (eager, result fetched with ``.numpy()``; None when TensorFlow does not import).

    ``gflops`` is the larger of the two, ``source`` which one: the floor rows divide each
    pass's GFLOP by it.
    """
    rng = np.random.default_rng(2)
    a = rng.standard_normal((size, size)).astype(np.float32)
    b = rng.standard_normal((size, size)).astype(np.float32)
    out = np.empty_like(a)
    gflop = 2 * size**3 / 1e9

    def best(call: Callable[[], object]) -> float:
        call()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return gflop / min(times)

    rates = {"numpy": best(lambda: np.matmul(a, b, out=out))}
    try:
        tf = _import_tf()
        ta, tb = tf.constant(a), tf.constant(b)
        rates["tensorflow"] = best(lambda: tf.matmul(ta, tb).numpy())
    except Exception:  # TensorFlow missing or broken: NumPy's rate alone
        rates["tensorflow"] = None
    source = max((k for k, v in rates.items() if v), key=lambda k: rates[k])
    return {
        "size": size,
        "repeats": repeats,
        "numpy_gflops": rates["numpy"],
        "tensorflow_gflops": rates["tensorflow"],
        "gflops": rates[source],
        "source": source,
    }


def floor_ms(layout: GemmLayout, shape: Shape, pass_: str, gflops: float) -> float:
    """Milliseconds of the pass's matrix-product FLOPs at ``gflops`` GFLOP/s."""
    return layout.gflop(shape, pass_) / gflops * 1e3


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
        "gen_jax": lambda: make_jax_runners(load_generated("jax", variant), problem, False),
        "jax_autodiff": lambda: make_jax_runners(load_generated("jax", variant), problem, True),
        "torch": lambda: make_torch_runners(variant, problem),
    }


@dataclass
class Job:
    """One implementation x pass of a variant, warmed up, waiting for its timed calls."""

    row: Row  # status "ok", its error against the reference filled in
    runner: Runner
    times_ms: list[float]
    cpu_ms: list[float]


def prepare_impl(
    settings: Settings,
    shape: Shape,
    variant: str,
    impl: str,
    factory: Callable[[], dict[str, Runner]],
    reference: dict[str, Results] | None,
    gemm: GemmLayout | None,
) -> list[Job | Row]:
    """Both passes of one implementation, built and warmed up (its first call's results
    compared with the reference): Jobs to time, or Rows for failures, never exceptions."""
    base = Row(shape, variant, "", impl, "ok", gemm=gemm)
    try:
        runners = factory()
    except Unavailable as reason:
        return [replace(base, pass_=p, status="not available", note=str(reason)) for p in PASSES]
    except Exception as error:  # one broken implementation must not stop the run
        note = f"{type(error).__name__}: {error}"[:200]
        return [replace(base, pass_=p, status="error", note=note) for p in PASSES]
    prepared: list[Job | Row] = []
    for pass_ in PASSES:
        try:
            results = warm_up(runners[pass_], settings.warmup)
        except Exception as error:
            note = f"{type(error).__name__}: {error}"[:200]
            prepared.append(replace(base, pass_=pass_, status="error", note=note))
            continue
        err = max_rel_err(results, reference[pass_]) if reference else None
        note = "MISMATCH: differs from generated NumPy" if err and err > MISMATCH else ""
        row = replace(base, pass_=pass_, max_rel_err=err, note=note)
        prepared.append(Job(row, runners[pass_], [], []))
    return prepared


def warm_up(runner: Runner, warmup: int) -> Results:
    """``warmup`` untimed calls; the first one's results."""
    first = runner()
    for _ in range(warmup - 1):
        runner()
    return first


def time_rounds(jobs: list[Job], repeats: int) -> list[Row]:
    """``repeats`` rounds, each calling every job once in turn (wall and process-CPU ms), so
    that a slow spell of a shared machine hits every implementation and variant alike and
    the ratios within a run hold; a job that fails stops being called and becomes an error
    row."""
    failed: dict[int, str] = {}
    for _ in range(repeats):
        for k, job in enumerate(jobs):
            if k in failed:
                continue
            start, start_cpu = time.perf_counter(), time.process_time()
            try:
                job.runner()
            except Exception as error:
                failed[k] = f"{type(error).__name__}: {error}"[:200]
                continue
            job.times_ms.append((time.perf_counter() - start) * 1e3)
            job.cpu_ms.append((time.process_time() - start_cpu) * 1e3)
    rows = []
    for k, job in enumerate(jobs):
        if k in failed:
            rows.append(replace(job.row, status="error", note=failed[k]))
        else:
            rows.append(replace(job.row, times_ms=tuple(job.times_ms), cpu_ms=tuple(job.cpu_ms)))
            _progress(rows[-1])
    return rows


def _progress(row: Row) -> None:
    print(
        f"  {row.shape.label}  {row.variant:<26} {row.pass_:<17} {IMPLS[row.impl]:<27}"
        f" {row.median_ms:9.2f} ms",
        file=sys.stderr,
        flush=True,
    )


BOUNDS = {
    "bound": make_bound_runners,
    "bound_tf": functools.partial(make_tf_bound_runners, jit_compile=False),
    "bound_tf_xla": functools.partial(make_tf_bound_runners, jit_compile=True),
}


def run_shape(settings: Settings, shape: Shape, peak_gflops: float | None = None) -> list[Row]:
    """Every selected implementation and variant at one shape.

    Everything is built and warmed up first, then timed in interleaved rounds
    (``time_rounds``). The GEMM bounds run once per distinct weight layout among the
    variants; their rows' variant is the layout's label (``gemm 128x1024 256x1024``). Each
    variant with a layout gets a physical-floor row per pass when ``peak_gflops`` is given
    (computed, not timed).
    """
    layouts: dict[str, GemmLayout] = {}
    for variant in settings.variants:
        try:
            layouts[variant] = gemm_layout(variant, shape)
        except Exception:  # no module (yet) or a broken one: its rows say why
            continue
    prepared: list[Job | Row] = []
    for layout in dict.fromkeys(layouts.values()):
        for impl, make in BOUNDS.items():
            if impl in settings.impls:
                factory = functools.partial(make, shape, layout)
                prepared += prepare_impl(settings, shape, layout.label, impl, factory, None, layout)
    for variant in settings.variants:
        gemm = layouts.get(variant)  # None if its module appeared during the run
        try:
            problem = make_problem(shape, variant)
        except Exception as error:  # one broken variant must not stop the run
            status = "not available" if isinstance(error, Unavailable) else "error"
            note = str(error) if status == "not available" else f"{type(error).__name__}: {error}"
            prepared += [
                Row(shape, variant, pass_, impl, status, note[:200], gemm=gemm)
                for impl in settings.impls
                if impl not in BOUNDS
                for pass_ in PASSES
            ]
            continue
        try:
            reference = _reference_results(variant, problem)
        except Exception:  # a broken NumPy module: its own rows say why; nothing to compare
            reference = None
        if gemm and peak_gflops and FLOOR in settings.impls:
            note = "computed: GFLOP / peak sgemm"
            prepared += [
                Row(
                    shape,
                    variant,
                    p,
                    FLOOR,
                    "ok",
                    note,
                    (floor_ms(gemm, shape, p, peak_gflops),),
                    gemm=gemm,
                )
                for p in PASSES
            ]
        factories = runner_factories(problem, variant)
        for impl in settings.impls:
            if impl in factories:
                factory = factories[impl]
                prepared += prepare_impl(settings, shape, variant, impl, factory, reference, gemm)
    timed = iter(time_rounds([j for j in prepared if isinstance(j, Job)], settings.repeats))
    return [next(timed) if isinstance(j, Job) else j for j in prepared]


def _reference_results(variant: str, problem: Problem) -> dict[str, Results] | None:
    """The generated NumPy module's results, against which every other row is compared."""
    try:
        runners = make_numpy_runners(load_generated("numpy", variant), problem)
    except Unavailable:
        return None
    return {pass_: runner() for pass_, runner in runners.items()}


def with_ratios(rows: list[Row], peak_gflops: float | None = None) -> list[Row]:
    """Fill ratio_keras (vs Keras tf.function, same variant), ratio_bound (vs the NumPy GEMM
    bound of the variant's layout), ratio_lstm_gemm (time per unit of GEMM work over the
    same implementation's on lstm; a bound row compares with the bound of lstm's layout) and
    ratio_floor (vs the physical floor of the row's layout and pass at ``peak_gflops``)."""
    by_key = {(r.shape, r.variant, r.pass_, r.impl): r for r in rows}
    lstm_layouts = {r.shape: r.gemm for r in rows if r.variant == GEMM_BASELINE and r.gemm}

    def ratio(row: Row, key: tuple) -> float | None:
        return _median_ratio(row, by_key.get(key))

    def per_gemm(row: Row) -> float | None:
        lstm_layout = lstm_layouts.get(row.shape)
        if not row.gemm or not lstm_layout:
            return None
        lstm = lstm_layout.label if row.impl in BOUNDS else GEMM_BASELINE
        plain = ratio(row, (row.shape, lstm, row.pass_, row.impl))
        return None if plain is None else plain * lstm_layout.work / row.gemm.work

    return [
        replace(
            row,
            ratio_keras=ratio(row, (row.shape, row.variant, row.pass_, "keras")),
            ratio_bound=ratio(row, (row.shape, row.gemm.label, row.pass_, "bound"))
            if row.gemm
            else None,
            ratio_lstm_gemm=per_gemm(row),
            ratio_floor=row.median_ms / floor_ms(row.gemm, row.shape, row.pass_, peak_gflops)
            if row.median_ms and row.gemm and peak_gflops
            else None,
        )
        for row in rows
    ]


def evaluate_goals(rows: list[Row]) -> list[dict]:
    """One entry per goal, shape and variant that has a row for the goal's implementation and
    pass (its ratio None when a median is missing); ``rows`` carry their ratios."""
    by_key = {(r.shape, r.variant, r.pass_, r.impl): r for r in rows}
    shapes = list(dict.fromkeys(r.shape for r in rows))
    variants = list(dict.fromkeys(r.variant for r in rows if r.impl not in BOUNDS))
    entries = []
    for shape in shapes:
        for variant in variants:
            for goal in GOALS:
                row = by_key.get((shape, variant, goal.pass_, goal.impl))
                if row is None or (goal.variants and variant not in goal.variants):
                    continue
                if variant in goal.exclude:
                    continue
                if goal.baseline == "lstm" and variant == GEMM_BASELINE:
                    continue
                baseline, limit, ratio = _goal_ratio(goal, row, by_key)
                entries.append(
                    {
                        **asdict(shape),
                        "variant": variant,
                        "impl": goal.impl,
                        "pass": goal.pass_,
                        "baseline": baseline,
                        "limit": limit,
                        "ratio": ratio,
                        "met": None if ratio is None or limit is None else ratio <= limit,
                        "gemm_work": row.gemm.work if row.gemm else None,
                    }
                )
    return entries


def _goal_ratio(goal: Goal, row: Row, by_key: dict) -> tuple[str, float | None, float | None]:
    """(baseline, limit, ratio) of ``row`` for ``goal``. A per-GEMM-work goal becomes a
    report of the time per step against lstm's, with no limit, for a variant with no weight
    product inside the loop (``indrnn``, ``qrnn``, ...: its GEMM work is the input
    projection alone, so a ratio per unit of it reads the element-wise work), as issue 10
    asks."""
    if goal.baseline == "lstm" and row.gemm and not row.gemm.per_step:
        lstm = by_key.get((row.shape, GEMM_BASELINE, goal.pass_, goal.impl))
        return "lstm per step", None, _median_ratio(row, lstm)
    ratios = {"keras": row.ratio_keras, "bound": row.ratio_bound, "lstm": row.ratio_lstm_gemm}
    if goal.baseline in ratios:
        return goal.baseline, goal.limit, ratios[goal.baseline]
    # A bound's row is the variant's GEMM layout's, other baselines the variant's.
    base_variant = row.gemm.label if goal.baseline in BOUNDS and row.gemm else row.variant
    base = by_key.get((row.shape, base_variant, goal.pass_, goal.baseline))
    return goal.baseline, goal.limit, _median_ratio(row, base)


def _median_ratio(row: Row, base: Row | None) -> float | None:
    """``row``'s median over ``base``'s, None when either is missing."""
    return row.median_ms / base.median_ms if row.median_ms and base and base.median_ms else None


# --------------------------------------------------------------------------- reporting


def cpu_info() -> dict:
    """CPU model and ISA flags (from /proc/cpuinfo: those of CPU_FLAGS it has, and those it
    lacks), and the environment variables that cap the ISA (ISA_VARIABLES) or set threads."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(fields.get("flags", fields.get("Features", "")).split())
    return {
        "model": fields.get("model name") or platform.processor() or "unknown",
        "flags": [f for f in CPU_FLAGS if f in flags],
        "flags_missing": [f for f in CPU_FLAGS if f not in flags] if flags else None,
        "isa_env": {key: os.environ[key] for key in ISA_VARIABLES if key in os.environ},
        "threads_env": {key: os.environ[key] for key in THREAD_VARIABLES if key in os.environ},
    }


def machine_info() -> dict:
    """CPU (model, ISA flags and caps), cores and library versions, for the JSON and the
    table header."""
    cpu = cpu_info()
    info = {
        "cpu_model": cpu["model"],
        "cpu": cpu,
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


def _fmt_ms(value: float | None, width: int) -> str:
    """Milliseconds with two decimals, or three significant digits below 0.1 ms (the floor
    of a tiny problem)."""
    if value is not None and 0 < value < 0.1:
        return format(value, f"{width}.2e")
    return _fmt(value, f"{width}.2f")


def format_header(
    machine: dict, settings: Settings, peak: dict | None = None, fit: bool = False
) -> str:
    """Machine (CPU model, ISA flags and caps), library versions, the peak sgemm and the
    timing protocol; a warning when the machine was busy."""
    cpu = machine["cpu"]
    protocol = f"median of {settings.repeats} calls after {settings.warmup} warm-up; "
    lines = [
        f"CPU: {cpu['model']}, {machine['cpus_usable']}/{machine['cpu_count']} cpus;"
        f" numpy {machine['numpy']} ({machine['blas']}), tensorflow {machine['tensorflow']},"
        f" keras {machine['keras']}, torch {machine['torch']}",
        f"ISA flags: {' '.join(cpu['flags']) or 'unknown'}"
        + (f" (not: {' '.join(cpu['flags_missing'])})" if cpu["flags_missing"] else "")
        + f"; ISA caps {cpu['isa_env'] or 'unset'}",
        f"float32; {'' if fit else protocol}thread variables {machine['threads_env'] or 'unset'}",
    ]
    if peak:
        tf_rate = _fmt(peak["tensorflow_gflops"], ".1f")
        lines.append(
            f"peak sgemm (best of {peak['repeats']} {peak['size']}^3 float32 products):"
            f" np.matmul {peak['numpy_gflops']:.1f} GFLOP/s, tf.matmul {tf_rate} GFLOP/s;"
            f" the floor uses {peak['gflops']:.1f} ({peak['source']})"
        )
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
        f" {'x keras':>8} {'x bound':>8} {'x lstm/gemm':>11} {'x floor':>8} {'max rel err':>11}"
        "  note"
    )
    lines = []
    for shape in dict.fromkeys(r.shape for r in rows):
        lines += ["", shape.label, header, "-" * len(header)]
        for row in (r for r in rows if r.shape == shape):
            note = row.note if row.status == "ok" else f"{row.status}: {row.note}"
            lines.append(
                f"{row.variant:<26} {row.pass_:<17} {IMPLS[row.impl]:<27}"
                f" {_fmt_ms(row.median_ms, 10):>10} {_fmt_ms(row.min_ms, 9):>9}"
                f" {_fmt_ms(row.cpu_median_ms, 9):>9}"
                f" {_fmt(row.ratio_keras, '8.2f'):>8}"
                f" {_fmt(row.ratio_bound, '8.2f'):>8} {_fmt(row.ratio_lstm_gemm, '11.2f'):>11}"
                f" {_fmt(row.ratio_floor, '8.2f'):>8} {_fmt(row.max_rel_err, '11.1e'):>11}"
                f"  {note}".rstrip()
            )
    return "\n".join(lines)


def variant_layouts(rows: list[Row]) -> dict[tuple[Shape, str], GemmLayout | None]:
    """(shape, variant) -> the variant's weight matrices (None: no generated module)."""
    return {(r.shape, r.variant): r.gemm for r in rows if r.impl not in BOUNDS}


def format_gemm(rows: list[Row], shape: Shape) -> str:
    """Each variant's weight matrices and GEMM work at ``shape``, relative to lstm's."""
    layouts = {v: g for (s, v), g in variant_layouts(rows).items() if s == shape}
    lstm = layouts.get(GEMM_BASELINE)
    lines = [
        f"GEMM work (forward multiply-adds per batch row per step; forward+backward: 3x) at"
        f" {shape.label}:"
    ]
    for variant, layout in layouts.items():
        if layout is None:
            lines.append(f"  {variant:<26} -")
            continue
        relative = f"  {layout.work / lstm.work:5.2f} x lstm" if lstm else ""
        lines.append(f"  {variant:<26} {layout.work:>9}{relative}  ({layout.label})")
    return "\n".join(lines)


def format_goals(goals: list[dict], shape: Shape) -> str:
    """Goal lines for one shape (the reference size when measured)."""
    lines = [f"Goals at {shape.label}:"]
    for g in goals:
        if (g["batch"], g["time"], g["input_dim"], g["units"]) != tuple(asdict(shape).values()):
            continue
        verdict = {None: "n/a", True: "PASS", False: "FAIL"}[g["met"]]
        base = {
            "keras": "keras (tf.function)",
            "bound": "GEMM bound",
            "lstm": "lstm per GEMM work",
        }
        limit = "(report: no GEMM inside the loop)"
        if g["limit"] is not None:
            limit = f"(<= {g['limit']:.2f})  {verdict}"
        lines.append(
            f"  {g['variant']:<26} {IMPLS[g['impl']]:<27} {g['pass']:<17}"
            f" / {base.get(g['baseline'], g['baseline']):<20} {_fmt(g['ratio'], '6.2f'):>6}"
            f"  {limit}"
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
    tapes = {}
    for variant in variants:
        try:
            module = load_generated("numpy", variant)
            tapes[variant] = tape_bytes(module, make_problem(shape, variant))
        except Exception:  # no module (yet) or a broken one: the timing rows say why
            continue
    return tapes


def row_dict(row: Row, peak_gflops: float | None = None) -> dict:
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
        "ratio_lstm_gemm": row.ratio_lstm_gemm,
        "ratio_floor": row.ratio_floor,
        "gemm_work": row.gemm.work if row.gemm else None,
        "gflop": row.gemm.gflop(row.shape, row.pass_) if row.gemm else None,
        "gemm_layout": row.gemm.label if row.gemm else None,
        "max_rel_err": row.max_rel_err,
        "floor_ms": floor_ms(row.gemm, row.shape, row.pass_, peak_gflops)
        if row.gemm and peak_gflops
        else None,
    }


# --------------------------------------------------------------------------- model.fit mode

FIT_UNITS = (16, 64, 128, 256)
FIT_TIME = 30
FIT_INPUT = 8
FIT_BATCH = 64
FIT_SAMPLES = 2048
FIT_EPOCHS = 7
FIT_VARIANT = "lstm"
# model.compile arguments besides optimizer="adam", loss="mse": Keras's defaults
# (jit_compile="auto", which TensorFlow resolves per model), and jit_compile=False.
FIT_COMPILES: dict[str, dict] = {"default": {}, "no_jit": {"jit_compile": False}}


@dataclass(frozen=True)
class FitRow:
    """Epoch times of one model pair: the generated layer vs the stock Keras layer."""

    variant: str
    keras_variant: str  # the variant the Keras layer computes (lstm for one without)
    config: Shape  # batch: fit batch size; time, input_dim, units: the model
    samples: int
    compile: str  # key of FIT_COMPILES
    status: str = "ok"
    note: str = ""
    jit: tuple = (None, None)  # the resolved jit_compile of the generated and Keras models
    generated_s: Samples = ()
    keras_s: Samples = ()
    max_rel_err: float | None = None  # predictions before training (same weights)
    # Seconds of each training step (batch) inside the timed epochs, the loss fetched at its
    # end: robust to the stalls of a shared machine that an epoch's total takes in whole.
    generated_step_s: Samples = ()
    keras_step_s: Samples = ()

    @property
    def step_ratio(self) -> float | None:
        if not self.generated_step_s or not self.keras_step_s:
            return None
        return statistics.median(self.generated_step_s) / statistics.median(self.keras_step_s)

    @property
    def ratio(self) -> float | None:
        if not self.generated_s or not self.keras_s:
            return None
        return statistics.median(self.generated_s) / statistics.median(self.keras_s)

    @property
    def pair_ratios(self) -> tuple[float, ...]:
        """generated / Keras of each pair of consecutive epochs."""
        return tuple(g / k for g, k in zip(self.generated_s, self.keras_s, strict=False))


def fit_configs(units: Iterable[int], reference: Shape) -> tuple[Shape, ...]:
    """(T=30, I=8, batch 64) at each of ``units``, then ``reference`` (its batch as fit batch)."""
    configs = [Shape(FIT_BATCH, FIT_TIME, FIT_INPUT, h) for h in units]
    return tuple(dict.fromkeys([*configs, reference]))


def fit_keras_variant(variant: str) -> str:
    """The variant the Keras model computes: ``variant`` when Keras has a layer for it,
    else lstm (the generated variant is then compared with keras.layers.LSTM)."""
    try:
        keras_layer(variant, 1)
    except Unavailable:
        return GEMM_BASELINE
    return variant


def build_fit_model(layer, params: dict[str, np.ndarray], config: Shape, compile_key: str):
    """Sequential([Input((T, I)), layer, Dense(1)]) with ``params`` in the recurrent layer,
    compiled with adam, mse and FIT_COMPILES[compile_key]."""
    import keras

    model = keras.Sequential(
        [keras.Input((config.time, config.input_dim)), layer, keras.layers.Dense(1)]
    )
    _assign_weights(layer, params)
    model.compile(optimizer="adam", loss="mse", **FIT_COMPILES[compile_key])
    return model


def run_fit(variant: str, config: Shape, settings: FitSettings, compile_key: str) -> FitRow:
    """One warm-up epoch of each model, then ``settings.epochs`` epochs of each, alternating
    (the first of each pair alternating too); failures become rows."""
    keras_variant = fit_keras_variant(variant)
    row = FitRow(variant, keras_variant, config, settings.samples, compile_key)
    try:
        tf = _import_tf()
        import keras

        keras.utils.set_random_seed(0)
        StepTimes = step_times_callback()  # noqa: N806 (a class)
        rng = np.random.default_rng(0)
        params, _ = make_params(variant, config, rng)
        keras_params = params
        if keras_variant != variant:
            keras_params, _ = make_params(keras_variant, config, np.random.default_rng(0))
        shape = (settings.samples, config.time, config.input_dim)
        x = rng.standard_normal(shape).astype(np.float32)
        y = rng.standard_normal((settings.samples, 1)).astype(np.float32)
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(config.batch)
        generated = build_fit_model(
            generated_tf_layer(variant, config, return_sequences=False),
            params,
            config,
            compile_key,
        )
        stock = build_fit_model(
            keras_layer(keras_variant, config.units, return_sequences=False),
            keras_params,
            config,
            compile_key,
        )
        stock.layers[-1].set_weights(generated.layers[-1].get_weights())  # the same Dense
        err = None
        if keras_variant == variant:
            probe = x[: config.batch]
            err = max_rel_err(
                {"y": generated(probe, training=False).numpy()},
                {"y": stock(probe, training=False).numpy()},
            )

        steps: dict[str, list[float]] = {"generated": [], "keras": []}

        def epoch(model, name=None) -> float:
            callbacks = [StepTimes(steps[name])] if name else []
            start = time.perf_counter()
            model.fit(data, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
            return time.perf_counter() - start

        epoch(generated)  # warm-up: tracing and compilation
        epoch(stock)
        times: dict[str, list[float]] = {"generated": [], "keras": []}
        for k in range(settings.epochs):
            order = ("generated", "keras") if k % 2 == 0 else ("keras", "generated")
            for name in order:
                times[name].append(epoch(generated if name == "generated" else stock, name))
        jit = tuple(getattr(m, "jit_compile", None) for m in (generated, stock))
    except Exception as error:  # one broken model must not stop the run
        status = "not available" if isinstance(error, Unavailable) else "error"
        note = str(error) if status == "not available" else f"{type(error).__name__}: {error}"
        return replace(row, status=status, note=note[:200])
    note = "MISMATCH: predictions differ" if err and err > MISMATCH else ""
    row = replace(
        row,
        jit=jit,
        generated_s=tuple(times["generated"]),
        keras_s=tuple(times["keras"]),
        generated_step_s=tuple(steps["generated"]),
        keras_step_s=tuple(steps["keras"]),
        max_rel_err=err,
        note=note,
    )
    print(
        f"  fit {variant} vs keras {keras_variant} {config.label} {compile_key}:"
        f" {_fmt(row.ratio, '.2f')} x keras",
        file=sys.stderr,
        flush=True,
    )
    return row


def step_times_callback():
    """A Keras callback class that appends each training step's seconds to a list: from the
    end of the previous step (or the epoch's start) to this step's end, its loss fetched."""
    import keras

    class StepTimes(keras.callbacks.Callback):
        def __init__(self, sink: list[float]):
            super().__init__()
            self.sink = sink
            self.last = None

        def on_epoch_begin(self, epoch, logs=None):
            self.last = None

        def on_train_batch_begin(self, batch, logs=None):
            if self.last is None:
                self.last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            float((logs or {}).get("loss", 0.0))  # waits for the step
            now = time.perf_counter()
            self.sink.append(now - self.last)
            self.last = now

    return StepTimes


def run_fits(settings: FitSettings) -> list[FitRow]:
    return [
        run_fit(variant, config, settings, compile_key)
        for variant in settings.variants
        for config in settings.configs
        for compile_key in settings.compiles
    ]


def _spread(samples: Samples) -> str:
    """``median (min-max)`` in seconds, or ``-``."""
    if not samples:
        return "-"
    return f"{statistics.median(samples):.3f} ({min(samples):.3f}-{max(samples):.3f})"


def format_fit(rows: list[FitRow], settings: FitSettings) -> str:
    """One line per variant x config x compile setting."""
    header = (
        f"{'variant':<26} {'keras layer':<26} {'T':>4} {'I':>4} {'H':>5} {'batch':>5}"
        f" {'compile':<8} {'jit':<11} {'generated s/epoch':>23} {'keras s/epoch':>23}"
        f" {'x keras':>7} {'pairs min-max':>13} {'step ms gen':>11} {'step ms keras':>13}"
        f" {'x keras':>7} {'max rel err':>11}  note"
    )
    lines = [
        f"model.fit: Sequential([Input((T, I)), <layer>(H), Dense(1)]), adam, mse,"
        f" {settings.samples} samples; seconds per epoch: median (min-max) of {settings.epochs}"
        " epochs of each model, alternating, after one warm-up epoch each; step ms: median"
        " of every training step of those epochs (the loss fetched at each step's end)",
        header,
        "-" * len(header),
    ]
    for row in rows:
        c = row.config
        pairs = row.pair_ratios
        pair_text = f"{min(pairs):.2f}-{max(pairs):.2f}" if pairs else "-"
        jit = "/".join(str(j) for j in row.jit) if row.status == "ok" else "-"
        note = row.note if row.status == "ok" else f"{row.status}: {row.note}"
        lines.append(
            f"{row.variant:<26} {row.keras_variant:<26} {c.time:>4} {c.input_dim:>4}"
            f" {c.units:>5} {c.batch:>5} {row.compile:<8} {jit:<11}"
            f" {_spread(row.generated_s):>23} {_spread(row.keras_s):>23}"
            f" {_fmt(row.ratio, '7.2f'):>7} {pair_text:>13}"
            f" {_fmt(_median_ms(row.generated_step_s), '11.2f'):>11}"
            f" {_fmt(_median_ms(row.keras_step_s), '13.2f'):>13}"
            f" {_fmt(row.step_ratio, '7.2f'):>7} {_fmt(row.max_rel_err, '11.1e'):>11}"
            f"  {note}".rstrip()
        )
    return "\n".join(lines)


def _median_ms(samples: Samples) -> float | None:
    return statistics.median(samples) * 1e3 if samples else None


def fit_row_dict(row: FitRow) -> dict:
    def stats(samples: Samples) -> dict:
        if not samples:
            return {"median_s": None, "min_s": None, "max_s": None, "q1_s": None, "q3_s": None}
        q1, _, q3 = statistics.quantiles(samples, n=4) if len(samples) > 1 else (samples * 3)
        return {
            "median_s": statistics.median(samples),
            "min_s": min(samples),
            "max_s": max(samples),
            "q1_s": q1,
            "q3_s": q3,
        }

    return {
        "variant": row.variant,
        "keras_variant": row.keras_variant,
        "time": row.config.time,
        "input_dim": row.config.input_dim,
        "units": row.config.units,
        "batch": row.config.batch,
        "samples": row.samples,
        "compile": row.compile,
        "compile_args": FIT_COMPILES[row.compile],
        "jit_compile": {"generated": row.jit[0], "keras": row.jit[1]},
        "status": row.status,
        "note": row.note,
        "generated": {"epoch_s": list(row.generated_s), **stats(row.generated_s)},
        "keras": {"epoch_s": list(row.keras_s), **stats(row.keras_s)},
        "ratio": row.ratio,
        "pair_ratios": list(row.pair_ratios),
        "step": {
            "generated_s": list(row.generated_step_s),
            "keras_s": list(row.keras_step_s),
            "generated_median_s": statistics.median(row.generated_step_s)
            if row.generated_step_s
            else None,
            "keras_median_s": statistics.median(row.keras_step_s) if row.keras_step_s else None,
            "ratio": row.step_ratio,
        },
        "max_rel_err": row.max_rel_err,
    }


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--variant",
        action="append",
        help="variants to measure, comma-separated and/or repeated; 'all': every built-in"
        f" variant (default: {','.join(DEFAULT_VARIANTS)})",
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
        help=f"implementations to measure, comma-separated and/or repeated: {','.join(IMPLS)}"
        " (default: all)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=MIN_REPEATS,
        help="timed calls of each implementation (>= 5), in interleaved rounds",
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first (>= 1)")
    parser.add_argument(
        "--json",
        type=Path,
        help=f"where to write results (default: {DEFAULT_JSON.relative_to(ROOT)},"
        f" with --fit {DEFAULT_FIT_JSON.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--tape-bytes", action="store_true", help="report tape bytes only, without timing"
    )
    parser.add_argument(
        "--size",
        help="B,T,I,H: measure this size instead of the reference size (no sweeps unless"
        " --sweep is given; --fit: its reference-size model); for quick checks",
    )
    parser.add_argument(
        "--peak-size",
        type=int,
        default=PEAK_SIZE,
        help=f"n of the (n, n) x (n, n) products that measure the peak sgemm (default {PEAK_SIZE})",
    )
    parser.add_argument(
        "--fit",
        action="store_true",
        help="model.fit mode: seconds per epoch, generated layer vs keras.layers.LSTM / GRU",
    )
    parser.add_argument(
        "--fit-units",
        help=f"units of the T={FIT_TIME} fit models (default {','.join(map(str, FIT_UNITS))})",
    )
    parser.add_argument(
        "--fit-epochs", type=int, default=FIT_EPOCHS, help="timed epochs of each fit model"
    )
    parser.add_argument(
        "--fit-variant",
        action="append",
        help=f"variants of the fit models, comma-separated and/or repeated (default"
        f" {FIT_VARIANT}); one without a Keras layer is compared with keras.layers.LSTM",
    )
    parser.add_argument(
        "--fit-samples", type=int, default=FIT_SAMPLES, help="training samples per epoch"
    )
    parser.add_argument(
        "--fit-compile",
        action="append",
        help=f"compile settings, comma-separated: {','.join(FIT_COMPILES)} (default: both)",
    )
    args = parser.parse_args(argv)
    if args.repeats < MIN_REPEATS:
        parser.error(f"--repeats must be >= {MIN_REPEATS}, got {args.repeats}")
    if args.warmup < 1:
        parser.error(f"--warmup must be >= 1, got {args.warmup}")
    if args.peak_size < 1:
        parser.error(f"--peak-size must be >= 1, got {args.peak_size}")
    reference = REFERENCE
    if args.size:
        try:
            reference = Shape(*(int(v) for v in args.size.split(",")))
        except (TypeError, ValueError):
            parser.error(f"--size must be B,T,I,H (four integers), got {args.size!r}")
        if min(asdict(reference).values()) < 1:
            parser.error(f"--size must be positive, got {args.size!r}")
    variants = _split_list(args.variant) or DEFAULT_VARIANTS
    for variant in variants:
        if variant == ALL_VARIANTS or any(
            (GENERATED / target / f"{variant}.py").is_file() for target in ("numpy", "tf")
        ):
            continue
        parser.error(f"unknown variant {variant!r}: no generated/numpy or generated/tf module")
    if ALL_VARIANTS in variants:  # built-in variants without generated files: "not available"
        from lstmgen.specfile import all_variants

        at = variants.index(ALL_VARIANTS)
        variants = (*variants[:at], *all_variants(), *variants[at + 1 :])
    impls = _split_list(args.impl) or tuple(IMPLS)
    for impl in impls:
        if impl not in IMPLS:
            parser.error(f"unknown --impl {impl!r}; expected one of {', '.join(IMPLS)}")
    impls = tuple(dict.fromkeys((*impls, FLOOR)))  # computed, not timed: always a row
    notes = []
    if "torch" in impls and importlib.util.find_spec("torch") is None:
        notes.append(
            "PyTorch is not importable: torch nn.LSTM / nn.GRU rows are 'not available'"
            " (pip install -e '.[bench]')."
        )
    fit = None
    if args.fit:
        fit = parse_fit_args(parser, args, reference)
    quick = args.quick or (args.size is not None and not args.sweep)
    return Settings(
        variants=tuple(dict.fromkeys(variants)),
        shapes=shapes_for(quick, tuple(args.sweep or SWEEPS), reference),
        impls=impls,
        repeats=args.repeats,
        warmup=args.warmup,
        json_path=args.json or (DEFAULT_FIT_JSON if args.fit else DEFAULT_JSON),
        tape_only=args.tape_bytes,
        notes=tuple(notes),
        peak_size=args.peak_size,
        fit=fit,
    )


def parse_fit_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace, reference: Shape
) -> FitSettings:
    """The --fit-* options."""
    try:
        units = tuple(int(u) for u in _split_list([args.fit_units] if args.fit_units else None))
    except ValueError:
        parser.error(f"--fit-units must be integers, got {args.fit_units!r}")
    units = units or FIT_UNITS
    if min(units) < 1 or args.fit_epochs < 1 or args.fit_samples < 1:
        parser.error("--fit-units, --fit-epochs and --fit-samples must be >= 1")
    variants = _split_list(args.fit_variant) or (FIT_VARIANT,)
    for variant in variants:
        if not (GENERATED / "tf" / f"{variant}.py").is_file():
            parser.error(f"unknown --fit-variant {variant!r}: no generated/tf module")
    compiles = _split_list(args.fit_compile) or tuple(FIT_COMPILES)
    for key in compiles:
        if key not in FIT_COMPILES:
            parser.error(
                f"unknown --fit-compile {key!r}; expected one of {', '.join(FIT_COMPILES)}"
            )
    return FitSettings(
        variants=tuple(dict.fromkeys(variants)),
        configs=fit_configs(units, reference),
        samples=args.fit_samples,
        epochs=args.fit_epochs,
        compiles=tuple(dict.fromkeys(compiles)),
    )


def _split_list(values: list[str] | None) -> tuple[str, ...]:
    """``["a,b", "c"]`` -> ``("a", "b", "c")``: repeated and comma-separated options."""
    return tuple(item.strip() for value in values or () for item in value.split(",") if item)


def shapes_for(
    quick: bool, sweeps: tuple[str, ...], reference: Shape = REFERENCE
) -> tuple[Shape, ...]:
    """The reference shape, then each sweep varying one dimension of it (no duplicates)."""
    shapes = [reference]
    if not quick:
        for name in sweeps:
            shapes += [replace(reference, **{name: value}) for value in SWEEPS[name]]
    return tuple(dict.fromkeys(shapes))


def main_fit(settings: Settings, machine: dict) -> int:
    """--fit: the model.fit table and JSON."""
    fit = settings.fit
    tf = _import_tf()
    tf.get_logger().setLevel("ERROR")  # retracing warnings: every model traces its own step
    rows = run_fits(fit)
    machine["loadavg_end"] = list(os.getloadavg())
    print(format_header(machine, settings, fit=True))
    print()
    print(format_fit(rows, fit))
    payload = {
        "machine": machine,
        "settings": {
            "mode": "fit",
            "dtype": "float32",
            "model": "Sequential([Input((T, I)), <layer>(H), Dense(1)]), adam, mse",
            "variants": list(fit.variants),
            "configs": [asdict(c) for c in fit.configs],
            "samples": fit.samples,
            "epochs": fit.epochs,
            "warmup_epochs": 1,
            "compiles": {key: FIT_COMPILES[key] for key in fit.compiles},
        },
        "fit": [fit_row_dict(r) for r in rows],
    }
    _write_json(settings.json_path, payload)
    return 0


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"\nWrote {path}")


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    machine = machine_info()
    if settings.fit:
        return main_fit(settings, machine)
    summary_shape = settings.shapes[0]
    tapes = collect_tapes(settings.variants, summary_shape)
    if settings.tape_only:
        print(format_tape(tapes, summary_shape))
        return 0
    for note in settings.notes:
        print(note, file=sys.stderr)
    peak = peak_sgemm(settings.peak_size) if FLOOR in settings.impls else None
    gflops = peak["gflops"] if peak else None
    rows: list[Row] = []
    for shape in settings.shapes:
        rows += run_shape(settings, shape, gflops)
    rows = with_ratios(rows, gflops)
    goals = evaluate_goals(rows)
    machine["loadavg_end"] = list(os.getloadavg())
    print(format_header(machine, settings, peak))
    print(format_table(rows))
    print()
    print(format_goals(goals, summary_shape))
    print()
    print(format_gemm(rows, summary_shape))
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
        "peak_sgemm": peak,
        "torch_variants": {
            "computed": {v: f"nn.{m}" for v, m in TORCH_VARIANTS.items()},
            "builtin_equivalents": {v: f"nn.{m}" for v, m in torch_equivalents().items()},
        },
        "results": [row_dict(r, gflops) for r in rows],
        "goals": goals,
        "gemm_work": {
            "per": "forward multiply-adds of the weight products per batch row per step",
            "baseline": GEMM_BASELINE,
            "by_shape_variant": [
                {**asdict(shape), "variant": variant, "work": gemm.work, "layout": gemm.label}
                for (shape, variant), gemm in variant_layouts(rows).items()
                if gemm
            ],
        },
        "tape_bytes_per_unit_step": {
            "shape": asdict(summary_shape),
            "total": {v: sum(t.values()) for v, t in tapes.items()},
            "by_name": tapes,
        },
    }
    _write_json(settings.json_path, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
