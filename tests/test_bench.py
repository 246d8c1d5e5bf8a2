"""benchmarks/bench.py at a tiny size: the CPU in the header and the JSON, the physical-floor
rows and ``x floor`` column, torch rows (or "not available"), the JAX rows and the model.fit
mode; benchmarks/gpu.py with ``--quick`` on the CPU, and its cuDNN weight packing."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
from generated_modules import ROOT

BENCH = ROOT / "benchmarks" / "bench.py"
TINY = ["--size", "2,3,4,4", "--repeats", "5", "--warmup", "1"]
HAS_TORCH = importlib.util.find_spec("torch") is not None


def run_bench(*args: str) -> str:
    """Run bench.py with this checkout's lstmgen first on the path; returns stdout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    result = subprocess.run(
        [sys.executable, str(BENCH), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def positive(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_floor_rows_cpu_header_and_json(tmp_path):
    out = tmp_path / "results.json"
    impls = "gen_numpy,bound,torch,gen_jax,jax_autodiff"
    args = ["--variant", "lstm", "--impl", impls, "--peak-size", "256"]
    stdout = run_bench(*TINY, *args, "--json", str(out))
    payload = json.loads(out.read_text(encoding="utf-8"))

    cpu = payload["machine"]["cpu"]
    assert cpu["model"] and isinstance(cpu["flags"], list) and "isa_env" in cpu
    header = stdout.split("B=2 T=3 I=4 H=4")[0]
    assert f"CPU: {cpu['model']}" in header
    assert "ISA flags:" in header and "peak sgemm" in header
    assert "x floor" in stdout

    peak = payload["peak_sgemm"]
    assert peak["size"] == 256 and positive(peak["gflops"]) and positive(peak["numpy_gflops"])
    assert peak["gflops"] == peak[f"{peak['source']}_gflops"]

    rows = {(r["impl"], r["pass"]): r for r in payload["results"] if r["variant"] == "lstm"}
    for pass_ in ("forward", "forward+backward"):
        floor = rows[("floor", pass_)]
        assert floor["status"] == "ok" and positive(floor["median_ms"]) and positive(floor["gflop"])
        assert math.isclose(floor["median_ms"], floor["gflop"] / peak["gflops"] * 1e3)
        assert math.isclose(floor["ratio_floor"], 1.0)
        measured = rows[("gen_numpy", pass_)]
        assert positive(measured["ratio_floor"]) and positive(measured["floor_ms"])
        assert math.isclose(measured["floor_ms"], floor["median_ms"])
        for impl in ("gen_jax", "jax_autodiff"):
            row = rows[(impl, pass_)]
            assert row["status"] == "ok" and row["max_rel_err"] < 1e-5, row
        torch_row = rows[("torch", pass_)]
        assert torch_row["status"] == ("ok" if HAS_TORCH else "not available")
    bound = [r for r in payload["results"] if r["impl"] == "bound"]
    assert bound and all(positive(r["ratio_floor"]) for r in bound)
    assert rows[("floor", "forward+backward")]["gflop"] == 3 * rows[("floor", "forward")]["gflop"]

    floor_lines = [line for line in stdout.splitlines() if "physical floor" in line]
    assert len(floor_lines) == 2
    assert payload["torch_variants"]["builtin_equivalents"] == {"lstm": "nn.LSTM", "gru": "nn.GRU"}


def test_fit_mode_table_and_ratio(tmp_path):
    out = tmp_path / "fit.json"
    args = ["--fit", "--fit-units", "4", "--fit-samples", "64", "--fit-epochs", "1"]
    stdout = run_bench(*args, "--size", "2,3,4,4", "--fit-compile", "no_jit", "--json", str(out))
    payload = json.loads(out.read_text(encoding="utf-8"))

    assert "model.fit" in stdout and "x keras" in stdout
    assert "CPU: " in stdout
    fits = payload["fit"]
    assert [(r["time"], r["units"]) for r in fits] == [(30, 4), (3, 4)]
    for row in fits:
        assert row["status"] == "ok", row["note"]
        assert row["keras_variant"] == "lstm" and row["compile_args"] == {"jit_compile": False}
        assert len(row["generated"]["epoch_s"]) == len(row["keras"]["epoch_s"]) == 1
        assert positive(row["ratio"]) and positive(row["generated"]["median_s"])
        # Every training step of the timed epochs is timed: samples / batch per epoch.
        assert len(row["step"]["generated_s"]) == len(row["generated"]["epoch_s"]) * (
            64 // row["batch"]
        )
        assert positive(row["step"]["ratio"])
        assert row["max_rel_err"] is not None and row["max_rel_err"] < 1e-4


def test_gpu_script_quick_on_the_cpu(tmp_path):
    """benchmarks/gpu.py needs only jax, numpy (and torch if there): ``--quick`` on the CPU
    gives every row, the cuDNN rows "not available" without a GPU, and the goal entries."""
    out = tmp_path / "gpu.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no lstmgen needed
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--quick", "--json", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    payload = json.loads(out.read_text(encoding="utf-8"))
    rows = {(r["impl"], r["pass"]): r for r in payload["results"]}
    assert len(rows) == 8 and {r["variant"] for r in payload["results"]} == {"lstm"}
    for impl in ("gen_jax", "jax_autodiff"):
        for pass_ in ("forward", "forward+backward"):
            row = rows[(impl, pass_)]
            assert row["status"] == "ok" and positive(row["median_ms"]), row
            assert row["max_rel_err"] < 1e-5 and row["peak_bytes"] > 0, row
    assert rows[("cudnn", "forward")]["status"] == "not available"
    assert rows[("torch", "forward")]["status"] == ("ok" if HAS_TORCH else "not available")
    (goal,) = payload["goals"]
    assert goal["variant"] == "lstm" and positive(goal["time_ratio"])
    assert "goals (gen_jax forward+backward over jax_autodiff)" in result.stdout


def test_gpu_script_packs_keras_weights_as_cudnn_does():
    from jax.experimental import rnn as jax_rnn

    spec = importlib.util.spec_from_file_location(
        "lstmgen_gpu_bench", ROOT / "benchmarks" / "gpu.py"
    )
    gpu = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = gpu  # its dataclasses look their module up
    spec.loader.exec_module(gpu)
    rng = np.random.default_rng(0)
    params = {
        "kernel": rng.normal(size=(3, 8)),
        "recurrent_kernel": rng.normal(size=(2, 8)),
        "bias": rng.normal(size=8),
    }
    w_ih, w_hh, b_ih, b_hh = jax_rnn.unpack_lstm_weights(gpu.pack_cudnn(params), 3, 2, 1, False)
    np.testing.assert_array_equal(w_ih[0], params["kernel"].T)
    np.testing.assert_array_equal(w_hh[0], params["recurrent_kernel"].T)
    np.testing.assert_array_equal(b_ih[0], params["bias"])
    assert not np.asarray(b_hh[0]).any()
    unpacked = gpu.unpack_cudnn_gradient(gpu.pack_cudnn(params), 3, 2)
    for name, value in params.items():
        np.testing.assert_array_equal(unpacked[name], value)


def test_ops_profile_counts_the_loops_of_both_layers():
    """benchmarks/ops.py finds a forward and a backward loop body in each layer's training
    call, with the generated lstm's per-block GEMMs (4 input + 4 recurrent forward, 4
    backward) and Keras's fused ones (2 forward)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import ops

    tf = ops.bench._import_tf()
    rows = ops.profile("lstm", ops.bench.Shape(2, 3, 4, 5), tf)
    by = {(r["impl"], r["loop"]): r for r in rows if "note" not in r}
    assert by[("generated", "forward")]["gemm"] == 8
    assert by[("generated", "backward")]["gemm"] == 4
    assert by[("keras", "forward")]["gemm"] == 2
    assert by[("keras", "backward")]["tape"] > 0


def test_goals_report_time_per_step_for_cells_without_a_loop_gemm(tmp_path):
    """Issue 10: a cell with no weight product inside the loop (indrnn) gets its time per
    step against lstm's, reported with no limit, not the per-GEMM-work goal; a cell with
    one (slstm) keeps the goal."""
    out = tmp_path / "results.json"
    args = ["--variant", "lstm,indrnn,slstm", "--impl", "gen_tf", "--json", str(out)]
    stdout = run_bench(*TINY, *args)
    goals = json.loads(out.read_text(encoding="utf-8"))["goals"]
    by = {(g["variant"], g["baseline"]): g for g in goals}
    report = by[("indrnn", "lstm per step")]
    assert report["limit"] is None and report["met"] is None and positive(report["ratio"])
    assert ("indrnn", "lstm") not in by
    assert by[("slstm", "lstm")]["limit"] == 1.25 and by[("slstm", "lstm")]["met"] is not None
    line = next(
        s for s in stdout.splitlines() if s.strip().startswith("indrnn") and "per step" in s
    )
    assert "report: no GEMM inside the loop" in line


def test_layernorm_yardstick_gradients_match_the_generated_module():
    """benchmarks/layernorm.py's hand-written LayerNorm LSTM (both product layouts) gives the
    generated layernorm_lstm's gradients: a yardstick that computes something else would
    time nothing useful. Float32, so 1e-4."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import layernorm

    tf = layernorm.bench._import_tf()
    problem = layernorm.bench.make_problem(layernorm.bench.Shape(3, 4, 5, 6), "layernorm_lstm")
    module = layernorm.bench.load_generated("tf", "layernorm_lstm")
    reference = layernorm.runner(layernorm.Generated(module), problem, tf)()
    for per_block in (False, True):
        hand = layernorm.runner(layernorm.HandLayerNormLSTM(tf, per_block), problem, tf)()
        assert set(hand) == set(reference) == {"x", *problem.params}
        assert layernorm.bench.max_rel_err(hand, reference) < 1e-4


def test_layernorm_yardstick_prints_every_row(capsys):
    """``python benchmarks/layernorm.py`` at a tiny size: a row per implementation, each
    with a time and its ratio to lstm, the hand-written ones with their gradient check."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import layernorm

    assert layernorm.main(["--size", "2,3,4,5", "--rounds", "2", "--warmup", "1"]) == 0
    rows = {
        line.split("  ")[0]: line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith(("generated", "hand"))
    }
    assert set(rows) == {
        "generated lstm",
        "generated layernorm_lstm",
        "hand, fused",
        "hand, per block",
    }
    assert all("max rel diff" in rows[name] for name in ("hand, fused", "hand, per block"))
    assert rows["generated lstm"].split()[-1] == "1.00"
