"""GPU benchmark of the generated JAX modules: generated VJP vs JAX autodiff, cuDNN and torch
-> table + JSON.

Needs only jax, numpy and (optionally) torch: no TensorFlow, no lstmgen install. It loads
the committed modules by path (``generated/jax/<variant>.py``, ``generated/numpy/<variant>.py``)
and measures, float32, ``forward`` and ``forward+backward`` (the gradient of
``sum(outputs * w)`` w.r.t. ``x`` and every weight):

* ``gen_jax``: the generated ``rnn`` (a ``jax.custom_vjp`` whose VJP is the generated
  backward on forward's tape), jitted;
* ``jax_autodiff``: JAX's autodiff through the ``lax.scan`` of the same generated forward;
* ``cudnn``: ``jax.experimental.rnn.lstm`` (cuDNN, ``precision=HIGHEST``), variant lstm;
* ``torch``: ``torch.nn.LSTM`` (cuDNN, TF32 off), variant lstm;

each when available (else a "not available" row). Matrix products run at full float32
precision everywhere (``jax_default_matmul_precision=highest``, TF32 off). Every row has its
max relative error against the float64 NumPy module on the host; the JAX rows have the
compiled program's peak memory (XLA's buffer assignment: arguments + outputs + temporaries,
what the device must hold), the torch rows ``torch.cuda.max_memory_allocated``.

    python benchmarks/gpu.py                  # B=64 T=100 I=128, H in {256, 1024}, all variants
    python benchmarks/gpu.py --variant lstm   # one variant
    python benchmarks/gpu.py --quick          # tiny sizes: a smoke test on the CPU in seconds

Goals (reported at the end): ``gen_jax`` forward+backward <= 1.0x ``jax_autodiff``'s time and
<= 0.8x its peak memory.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated"
DEFAULT_JSON = ROOT / "benchmarks" / "results-gpu.json"
PASSES = ("forward", "forward+backward")
IMPLS = {
    "gen_jax": "generated JAX VJP",
    "jax_autodiff": "JAX autodiff (lax.scan)",
    "cudnn": "cuDNN (jax.experimental.rnn)",
    "torch": "torch nn.LSTM (cuDNN)",
}
CUDNN_VARIANTS = ("lstm",)  # Keras LSTM with sigmoid gates and tanh: what cuDNN computes
FULL = {"batch": 64, "time": 100, "input_dim": 128, "units": (256, 1024)}
QUICK = {"batch": 2, "time": 5, "input_dim": 4, "units": (8,)}
GOALS = {"time": 1.0, "memory": 0.8}  # gen_jax over jax_autodiff, forward+backward


class Unavailable(Exception):
    """An implementation cannot run here."""


@dataclass(frozen=True)
class Row:
    variant: str
    units: int
    pass_: str
    impl: str
    status: str  # ok, not available, error
    median_ms: float | None = None
    min_ms: float | None = None
    peak_bytes: int | None = None
    max_rel_err: float | None = None
    note: str = ""


def load_module(target: str, variant: str):
    """``generated/<target>/<variant>.py`` as a module."""
    path = GENERATED / target / f"{variant}.py"
    if not path.is_file():
        raise Unavailable(f"{path.relative_to(ROOT)} missing")
    name = f"lstmgen_gpu_{target}_{variant.replace('-', '_')}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def all_variants() -> list[str]:
    return sorted(path.stem for path in (GENERATED / "jax").glob("*.py"))


def make_problem(module, batch, time_, input_dim, units, seed=0):
    """Float32 params (Glorot-like matrices, small vectors), x and the loss weights w."""
    rng = np.random.default_rng(seed)
    sizes = {"units": units, **{n: units // 2 for n in module.STATE_SIZES if n != "units"}}
    extra = [sizes[n] for n in dict.fromkeys(module.STATE_SIZES) if n != "units"]
    params = {}
    for name, dims in module.param_shapes(input_dim, units, *extra).items():
        scale = (6 / sum(dims)) ** 0.5 if len(dims) == 2 and name != "bias" else 0.1
        params[name] = rng.uniform(-scale, scale, dims).astype(np.float32)
    x = rng.standard_normal((batch, time_, input_dim)).astype(np.float32)
    w = rng.standard_normal((batch, time_, sizes[module.STATE_SIZES[0]])).astype(np.float32)
    return params, x, w


def reference(variant, params, x, w):
    """The float64 NumPy module's results on the host: {pass: {name: array}}."""
    module = load_module("numpy", variant)
    as64 = {k: v.astype(np.float64) for k, v in params.items()}
    outputs, _, tape = module.forward(as64, x.astype(np.float64))
    d_params, d_x, _ = module.backward(as64, tape, w.astype(np.float64))
    return {"forward": {"outputs": outputs}, "forward+backward": {"x": d_x, **d_params}}


def max_rel_err(results, want) -> float:
    return max(
        float(np.max(np.abs(np.asarray(results[k], np.float64) - v)) / max(np.abs(v).max(), 1e-30))
        for k, v in want.items()
        if k in results
    )


def pack_cudnn(params):
    """Keras LSTM weights as cuDNN's flat vector: W_ih (4H, I), W_hh (4H, H), b_ih, b_hh
    (gate order i, f, g, o as Keras's i|f|c|o; b_hh zero)."""
    kernel, recurrent, bias = params["kernel"], params["recurrent_kernel"], params["bias"]
    parts = (kernel.T.ravel(), recurrent.T.ravel(), bias, np.zeros_like(bias))
    return np.concatenate(parts)


def unpack_cudnn_gradient(d_weights, input_dim, units):
    """The flat gradient back in Keras layout: kernel, recurrent_kernel, bias."""
    n_ih, n_hh, n_b = 4 * units * input_dim, 4 * units * units, 4 * units
    d_weights = np.asarray(d_weights)
    return {
        "kernel": d_weights[:n_ih].reshape(4 * units, input_dim).T,
        "recurrent_kernel": d_weights[n_ih : n_ih + n_hh].reshape(4 * units, units).T,
        "bias": d_weights[n_ih + n_hh : n_ih + n_hh + n_b],
    }


def jax_runners(impl, variant, params, x, w):
    """{pass: (runner, peak_bytes)} for a JAX implementation; runners return host arrays."""
    import jax
    import jax.numpy as jnp

    params, x, w = jax.device_put((params, x, w))
    if impl in ("gen_jax", "jax_autodiff"):
        module = load_module("jax", variant)

        def run(params, x):
            if impl == "gen_jax":
                return module.rnn(params, x)[0]
            return module.forward(params, x)[0]

        args = (params, x)
        to_results = lambda d: {"x": d[1], **d[0]}  # noqa: E731
    else:  # cudnn
        if variant not in CUDNN_VARIANTS:
            raise Unavailable("cuDNN computes the Keras LSTM only")
        if jax.default_backend() != "gpu":
            raise Unavailable(f"needs a GPU (backend: {jax.default_backend()})")
        from jax.experimental import rnn as jax_rnn

        batch, _, input_dim = x.shape
        units = params["recurrent_kernel"].shape[0]
        weights = jnp.asarray(pack_cudnn(jax.device_get(params)))
        zeros = jnp.zeros((1, batch, units), x.dtype)
        lengths = jnp.full((batch,), x.shape[1], jnp.int32)

        def run(weights, x):
            outputs, _, _ = jax_rnn.lstm(
                x, zeros, zeros, weights, lengths, input_dim, units, 1, 0.0, False,
                precision=jax.lax.Precision.HIGHEST,
            )  # fmt: skip
            return outputs

        args = (weights, x)

        def to_results(d):
            return {"x": d[1], **unpack_cudnn_gradient(d[0], input_dim, units)}

    def loss(*args):
        return jnp.sum(run(*args) * w)

    programs = {
        "forward": (jax.jit(run), lambda out: {"outputs": out}),
        "forward+backward": (jax.jit(jax.grad(loss, (0, 1))), to_results),
    }
    runners = {}
    for pass_, (program, results) in programs.items():
        compiled = program.lower(*args).compile()
        peak = None
        analysis = compiled.memory_analysis()
        if analysis is not None:
            peak = (
                analysis.argument_size_in_bytes
                + analysis.output_size_in_bytes
                + analysis.temp_size_in_bytes
                - analysis.alias_size_in_bytes
            )

        def runner(compiled=compiled, results=results):
            return jax.tree.map(np.asarray, results(jax.block_until_ready(compiled(*args))))

        runners[pass_] = (runner, peak)
    return runners


def torch_runners(variant, params, x, w):
    if variant not in CUDNN_VARIANTS:
        raise Unavailable("torch nn.LSTM computes the Keras LSTM only")
    try:
        import torch
    except ImportError as error:
        raise Unavailable(f"torch not importable ({error})") from error
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    units = params["recurrent_kernel"].shape[0]
    rnn = torch.nn.LSTM(x.shape[-1], units, batch_first=True).to(device)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(params["kernel"].T.copy()))
        rnn.weight_hh_l0.copy_(torch.from_numpy(params["recurrent_kernel"].T.copy()))
        rnn.bias_ih_l0.copy_(torch.from_numpy(params["bias"]))
        rnn.bias_hh_l0.zero_()
    x_t, w_t = torch.from_numpy(x).to(device), torch.from_numpy(w).to(device)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def forward():
        with torch.no_grad():
            outputs = rnn(x_t)[0]
        sync()
        return {"outputs": outputs.cpu().numpy()}

    def forward_backward():
        rnn.zero_grad(set_to_none=True)
        x_grad = x_t.clone().requires_grad_(True)
        (rnn(x_grad)[0] * w_t).sum().backward()
        sync()
        return {
            "x": x_grad.grad.cpu().numpy(),
            "kernel": rnn.weight_ih_l0.grad.T.cpu().numpy(),
            "recurrent_kernel": rnn.weight_hh_l0.grad.T.cpu().numpy(),
            "bias": rnn.bias_ih_l0.grad.cpu().numpy(),
        }

    def with_peak(runner):
        if device != "cuda":
            return runner, None
        torch.cuda.reset_peak_memory_stats()
        runner()
        return runner, torch.cuda.max_memory_allocated()

    return {"forward": with_peak(forward), "forward+backward": with_peak(forward_backward)}


def measure(runner, repeats, warmup):
    first = runner()
    for _ in range(warmup - 1):
        runner()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner()
        times.append((time.perf_counter() - start) * 1e3)
    return times, first


def run_variant(variant, units, settings, impls):
    params, x, w = make_problem(load_module("jax", variant), settings["batch"],
                                settings["time"], settings["input_dim"], units)  # fmt: skip
    want = reference(variant, params, x, w)
    rows = []
    for impl in impls:
        try:
            if impl == "torch":
                runners = torch_runners(variant, params, x, w)
            else:
                runners = jax_runners(impl, variant, params, x, w)
        except Unavailable as reason:
            rows += [
                Row(variant, units, p, impl, "not available", note=str(reason)) for p in PASSES
            ]
            continue
        except Exception as error:  # one broken implementation must not stop the run
            note = f"{type(error).__name__}: {error}"[:200]
            rows += [Row(variant, units, p, impl, "error", note=note) for p in PASSES]
            continue
        for pass_ in PASSES:
            runner, peak = runners[pass_]
            try:
                times, results = measure(runner, settings["repeats"], settings["warmup"])
            except Exception as error:
                note = f"{type(error).__name__}: {error}"[:200]
                rows.append(Row(variant, units, pass_, impl, "error", note=note))
                continue
            row = Row(variant, units, pass_, impl, "ok", statistics.median(times), min(times),
                      peak, max_rel_err(results, want[pass_]))  # fmt: skip
            print(f"  H={units} {variant:<26} {pass_:<17} {IMPLS[impl]:<29} "
                  f"{row.median_ms:9.2f} ms", file=sys.stderr, flush=True)  # fmt: skip
            rows.append(row)
    return rows


def goals(rows):
    """gen_jax over jax_autodiff, forward+backward: time and peak memory, per variant and H."""
    by_key = {(r.variant, r.units, r.pass_, r.impl): r for r in rows}
    entries = []
    for (variant, units, pass_, impl), row in by_key.items():
        base = by_key.get((variant, units, pass_, "jax_autodiff"))
        if impl != "gen_jax" or pass_ != "forward+backward" or not base or row.status != "ok":
            continue
        if base.status != "ok":
            continue
        time_ratio = row.median_ms / base.median_ms
        memory = row.peak_bytes / base.peak_bytes if row.peak_bytes and base.peak_bytes else None
        entries.append({
            "variant": variant, "units": units, "time_ratio": time_ratio,
            "memory_ratio": memory, "time_met": time_ratio <= GOALS["time"],
            "memory_met": None if memory is None else memory <= GOALS["memory"],
        })  # fmt: skip
    return entries


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def format_table(rows, goal_entries, machine, settings):
    lines = [
        f"device: {machine['device']} (jax {machine['jax']}, torch {machine['torch']})",
        f"float32, B={settings['batch']} T={settings['time']} I={settings['input_dim']}; "
        f"median of {settings['repeats']} calls after {settings['warmup']} warm-up",
        "",
        f"{'H':>5}  {'variant':<26} {'pass':<17} {'implementation':<29} {'median ms':>10} "
        f"{'min ms':>9} {'peak MiB':>9} {'max rel err':>11}  note",
    ]
    lines.append("-" * len(lines[-1]))
    for r in rows:
        peak = None if r.peak_bytes is None else r.peak_bytes / 2**20
        lines.append(
            f"{r.units:>5}  {r.variant:<26} {r.pass_:<17} {IMPLS[r.impl]:<29} "
            f"{fmt(r.median_ms, '10.2f'):>10} {fmt(r.min_ms, '9.2f'):>9} {fmt(peak, '9.1f'):>9} "
            f"{fmt(r.max_rel_err, '11.1e'):>11}  {r.status if r.status != 'ok' else ''}"
            f"{': ' + r.note if r.note else ''}".rstrip()
        )
    lines += ["", f"goals (gen_jax forward+backward over jax_autodiff): time <= {GOALS['time']}x, "
              f"peak memory <= {GOALS['memory']}x"]  # fmt: skip
    for g in goal_entries:
        lines.append(
            f"{g['units']:>5}  {g['variant']:<26} time {g['time_ratio']:.2f}x "
            f"({'met' if g['time_met'] else 'MISSED'})  memory {fmt(g['memory_ratio'], '.2f')}x "
            f"({'-' if g['memory_met'] is None else 'met' if g['memory_met'] else 'MISSED'})"
        )
    return "\n".join(lines)


def machine_info():
    import jax

    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    device = jax.devices()[0]
    return {
        "device": f"{device.platform}: {device.device_kind}",
        "jax": jax.__version__,
        "torch": torch_version,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
    }


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a CPU smoke test)")
    parser.add_argument("--variant", action="append", help="variants, comma-separated (default:"
                        " all; with --quick: lstm)")  # fmt: skip
    parser.add_argument("--impl", action="append", help=f"of {','.join(IMPLS)} (default: all)")
    parser.add_argument("--units", help="H values, comma-separated")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help=f"default {DEFAULT_JSON.name}")
    return parser.parse_args(argv)


def split(values):
    return [v for value in values or () for v in value.split(",") if v]


def main(argv=None) -> int:
    args = parse_args(argv)
    import jax

    # Full float32 products on GPUs too (no TF32), as cuDNN with HIGHEST and torch below.
    jax.config.update("jax_default_matmul_precision", "highest")
    settings = dict(QUICK if args.quick else FULL)
    settings["repeats"] = args.repeats or (3 if args.quick else 10)
    settings["warmup"] = args.warmup
    units_list = [int(u) for u in split([args.units] if args.units else [])] or list(
        settings.pop("units")
    )
    settings.pop("units", None)
    variants = split(args.variant) or (["lstm"] if args.quick else all_variants())
    impls = split(args.impl) or list(IMPLS)
    unknown = sorted(set(impls) - set(IMPLS))
    if unknown:
        raise SystemExit(f"unknown --impl {unknown}; expected some of {list(IMPLS)}")
    rows = []
    for units in units_list:
        for variant in variants:
            rows += run_variant(variant, units, settings, impls)
    machine = machine_info()
    goal_entries = goals(rows)
    print(format_table(rows, goal_entries, machine, settings))
    path = args.json or DEFAULT_JSON
    payload = {
        "machine": machine,
        "settings": {**settings, "units": units_list, "variants": variants, "impls": impls},
        "results": [{**asdict(r), "pass": r.pass_} for r in rows],
        "goals": goal_entries,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
