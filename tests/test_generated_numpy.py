"""The committed NumPy modules against the real keras.layers.LSTM and tf.GradientTape."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tensorflow as tf  # noqa: F401 - the Keras reference needs it; missing TF must fail
from generated_modules import load_generated, param_shapes, state_widths

from lstmgen.spec import VARIANTS
from lstmgen.verify import keras_reference, relative_error

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}
KERAS_VARIANTS = sorted(name for name, spec in VARIANTS.items() if spec.keras_layer)


def problem(module, dtype, seed=0, batch=3, time=6, input_dim=4, units=5, scale=2.0):
    rng = np.random.default_rng(seed)
    shapes = param_shapes(module, input_dim, units)
    params = {k: rng.normal(size=s) * 0.7 for k, s in shapes.items()}
    x = rng.normal(size=(batch, time, input_dim)) * scale
    widths = state_widths(module, units)
    init = tuple(rng.normal(size=(batch, w)) for w in widths)
    d_out = rng.normal(size=(batch, time, widths[0]))
    d_final = tuple(rng.normal(size=(batch, w)) for w in widths)
    cast = lambda a: a.astype(dtype)  # noqa: E731
    return (
        {k: cast(v) for k, v in params.items()},
        cast(x),
        tuple(map(cast, init)),
        cast(d_out),
        tuple(map(cast, d_final)),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("variant", KERAS_VARIANTS)
@pytest.mark.parametrize("shape", [(3, 6, 4, 5), (1, 1, 2, 3)], ids=["b3t6", "b1t1"])
def test_forward_and_backward_match_keras(variant, dtype, shape):
    module = load_generated("numpy", variant)
    batch, time, input_dim, units = shape
    params, x, init, d_out, d_final = problem(module, dtype, 1, batch, time, input_dim, units)
    outputs, final, tape = module.forward(params, x, init)
    d_params, d_x, d_init = module.backward(params, tape, d_out, d_final)
    assert outputs.dtype == dtype and d_x.dtype == dtype
    assert all(v.dtype == dtype for v in d_params.values())
    # Keras in float64 on the same (rounded) inputs is the reference for both dtypes.
    as64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    want = keras_reference(
        VARIANTS[variant],
        {k: as64(v) for k, v in params.items()},
        as64(x),
        tuple(map(as64, init)),
        as64(d_out),
        tuple(map(as64, d_final)),
    )
    tol = TOLERANCE[dtype]
    k_out, k_final, k_dparams, k_dx, k_dinit = want
    assert relative_error(outputs, k_out) <= tol
    for got, ref in zip(final, k_final, strict=True):
        assert relative_error(got, ref) <= tol
    assert relative_error(d_x, k_dx) <= tol
    for got, ref in zip(d_init, k_dinit, strict=True):
        assert relative_error(got, ref) <= tol
    for name in module.PARAM_NAMES:
        assert relative_error(d_params[name], k_dparams[name]) <= tol, name


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_step_equals_forward_on_one_step(variant):
    module = load_generated("numpy", variant)
    params, x, init, _, _ = problem(module, np.float64)
    out, state = module.step(params, x[:, 0], init)
    outputs, final, _ = module.forward(params, x[:, :1], init)
    np.testing.assert_array_equal(out, outputs[:, 0])
    for a, b in zip(state, final, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_huge_preactivations_raise_no_warnings(variant, dtype):
    module = load_generated("numpy", variant)
    params, x, init, d_out, d_final = problem(module, dtype)
    x = (np.sign(x) * 1e4).astype(dtype)
    params["kernel"] = np.sign(params["kernel"]).astype(dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        outputs, final, tape = module.forward(params, x, init)
        d_params, d_x, _ = module.backward(params, tape, d_out, d_final)
    assert np.all(np.isfinite(outputs)) and np.all(np.isfinite(d_x))
    assert all(np.all(np.isfinite(v)) for v in d_params.values())


def test_two_live_tapes_stay_independent():
    module = load_generated("numpy", "lstm")
    params, x, init, d_out, d_final = problem(module, np.float64)
    _, _, tape_a = module.forward(params, x, init)
    expected = module.backward(params, tape_a, d_out, d_final)
    _, _, tape_b = module.forward(params, x[::-1] * 0.5, None)
    again = module.backward(params, tape_a, d_out, d_final)
    for name in module.PARAM_NAMES:
        np.testing.assert_array_equal(again[0][name], expected[0][name])
    np.testing.assert_array_equal(again[1], expected[1])
    assert tape_b["x_rows"] is not tape_a["x_rows"]


def test_missing_initial_state_means_zeros():
    module = load_generated("numpy", "lstm")
    params, x, _, _, _ = problem(module, np.float64)
    zeros = tuple(np.zeros((x.shape[0], 5)) for _ in module.STATE_NAMES)
    np.testing.assert_array_equal(module.forward(params, x)[0], module.forward(params, x, zeros)[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p, x, s: (p, x[0], s),
            r"x must be 3-D \(batch, time, features\), got shape \(6, 4\)",
        ),
        (
            lambda p, x, s: ({"kernel": p["kernel"]}, x, s),
            r"params is missing \['recurrent_kernel', 'bias'\]",
        ),
        (
            lambda p, x, s: ({**p, "kernel": p["kernel"][:3]}, x, s),
            r"params\['kernel'\] must have shape \(4, 20\), got \(3, 20\)",
        ),
        (lambda p, x, s: (p, x, s[:1]), r"initial_state must hold 2 arrays"),
        (
            lambda p, x, s: (p, x, (s[0][:, :2], s[1])),
            r"initial_state\[0\] \(h\) must have shape \(3, 5\), got \(3, 2\)",
        ),
        (lambda p, x, s: ([1, 2, 3], x, s), r"params must be a dict"),
    ],
)
def test_bad_input_names_the_argument_and_shapes(change, message):
    module = load_generated("numpy", "lstm")
    params, x, init, _, _ = problem(module, np.float64)
    with pytest.raises(ValueError, match=message):
        module.forward(*change(params, x, init))


def test_backward_checks_d_outputs_shape():
    module = load_generated("numpy", "lstm")
    params, x, init, d_out, _ = problem(module, np.float64)
    _, _, tape = module.forward(params, x, init)
    with pytest.raises(ValueError, match=r"d_outputs must have shape \(3, 6, 5\), got \(3, 5, 5\)"):
        module.backward(params, tape, d_out[:, 1:])
