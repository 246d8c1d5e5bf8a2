"""A spec file is hostile input: any text ends in a clean refusal or in working code.

The five inputs that used to break ``emit --spec`` (a traceback, an OverflowError or a
NameError in the emitted module, a 6,000-character message, a broken one-block backward),
then a property test over random spec texts and expressions (hypothesis): either
``SpecFileError`` with one line ``file:line: problem`` (text cut to about 80 characters) and
``emit --spec`` writes nothing, or modules that import, run and pass the numeric check.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, assume, event, given, settings
from hypothesis import strategies as st

from lstmgen import emit, verify
from lstmgen.cli import main
from lstmgen.equations import forward_program
from lstmgen.fingerprint import fingerprint
from lstmgen.specfile import SpecFileError, load_spec
from lstmgen.verify import autodiff_check, load_module, numeric_check

# The recursive strategies' own repr is long; hypothesis warns about it when reporting.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


def with_own_class(spec):
    """The spec with a class name of its own equations: Keras registers each generated TF
    class by name, and two cells of one name with other equations may not both load."""
    return dataclasses.replace(spec, class_name=f"Cell{fingerprint(forward_program(spec))}")


def one_block(expression: str) -> str:
    """A cell with one gate block and one state whose update is ``expression``."""
    head = 'name = "one"\nblocks = ["h"]\nstates = ["h"]\n\n[equations]\n'
    return f"{head}h = {json.dumps(expression)}\n"


GOOD = one_block("a_h + h_tm1")


def with_field(line: str) -> str:
    """``GOOD`` with one more top-level line (line 5), before ``[equations]``."""
    return GOOD.replace("[equations]", f"{line}\n[equations]")


def assert_refused(path, line: int | None = None) -> str:
    """``load_spec`` refuses ``path`` with a clean message, and the CLI writes nothing."""
    with pytest.raises(SpecFileError) as error:
        load_spec(path)
    message = str(error.value)
    check_message(message, path, line)
    out = path.parent / "out"
    result = CliRunner().invoke(
        main, ["emit", "--target", "all", "--spec", str(path), "--out", str(out)]
    )
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert not out.exists()
    assert message in result.output
    return message


def check_message(message: str, path, line: int | None = None) -> None:
    assert "\n" not in message and "\r" not in message
    assert re.match(rf"{re.escape(str(path))}(:[1-9][0-9]*)?: \S", message), message
    if line is not None:
        assert message.startswith(f"{path}:{line}: "), message
    # Echoed text is cut to about 80 characters: the problem stays short.
    assert len(message) - len(str(path)) <= 420, message


def write(tmp_path, text: str):
    path = tmp_path / "cell.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the five inputs of issue #10 -------------------------------------------------------------


def test_an_expression_of_20000_terms_is_refused_without_a_traceback(tmp_path):
    path = write(tmp_path, one_block(" + ".join(["a_h"] * 20_000) + " + h_tm1"))
    message = assert_refused(path, 6)
    assert "expression too long" in message and "split it into several lines" in message


def test_deep_nesting_is_refused(tmp_path):
    text = "tanh(" * 60 + "a_h + h_tm1" + ")" * 60
    assert "too deep" in assert_refused(write(tmp_path, one_block(text)), 6)


def test_numbers_beyond_float64_are_refused(tmp_path):
    path = write(tmp_path, one_block("tanh(a_h * 1e308 * 1e308 + h_tm1)"))
    assert "not finite in float64" in assert_refused(path, 6)


def test_a_derivative_beyond_float64_is_refused_at_its_line(tmp_path):
    path = write(tmp_path, one_block("1e308 * a_h**2 + h_tm1"))
    message = assert_refused(path, 6)
    assert "derivative" in message and "not finite" in message


@pytest.mark.parametrize(
    "expression", ["a_h / 0 + h_tm1", "a_h / (h_tm1 - h_tm1)", "h_tm1 + a_h * (a_h - a_h)**-1"]
)
def test_division_by_zero_is_refused(tmp_path, expression):
    assert "division by zero" in assert_refused(write(tmp_path, one_block(expression)), 6)


def test_refusing_3000_nested_parentheses_echoes_at_most_80_characters(tmp_path):
    path = write(tmp_path, one_block("(" * 3000 + "a_h + h_tm1" + ")" * 3000))
    message = assert_refused(path, 6)
    echoed = re.findall(r"'([^']*)'", message)
    assert echoed and all(len(text) <= 80 for text in echoed)
    assert len(message) < len(str(path)) + 200


def test_one_gate_block_emits_working_numpy_and_tf_modules(tmp_path):
    path = write(tmp_path, one_block("2 + tanh(a_h) * h_tm1"))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["emit", "--target", "all", "--spec", str(path), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    spec = load_spec(path)
    for target in ("numpy", "tf"):
        source = (out / target / "one.py").read_text()
        assert source == emit.build(spec, target, out)
    module = load_module(emit.build(spec, "numpy"), "test_hostile_one_block")
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s) for k, s in module.param_shapes(3, 4).items()}
    outputs, _, tape = module.forward(params, rng.normal(size=(2, 5, 3)))
    d_params, _, _ = module.backward(params, tape, np.ones_like(outputs))
    assert d_params["kernel"].shape == (3, 4)
    assert numeric_check(spec).status == "PASS"
    assert autodiff_check(spec).status == "PASS"


# --- other hostile texts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (one_block("a_h + h_tm1 # \"\"\" import os"), 6, "'#' is not part of the language"),
        (one_block("stop_gradient(a_h) + h_tm1"), 6, "'a_h' gets no gradient"),
        (one_block("a_h**0.5 + h_tm1"), 6, "use sqrt(x)"),
        (one_block("log(0) * a_h + h_tm1"), 6, "not a finite real number"),
        (one_block("max(a_h) + h_tm1"), 6, "max() takes exactly two arguments"),
        (one_block("exp(a_h, h_tm1)"), 6, "exp() takes exactly one argument"),
        (with_field('class_name = "X(): pass\\n#"'), 5, "class_name"),
        (with_field('summary = "\\"\\"\\" + 1"'), 5, "summary"),
        (GOOD.replace('states = ["h"]', 'states = ["np"]'), 3, "'np' is reserved"),
        (GOOD + 'd_h = "h_tm1"\n', 7, "'d_h' is reserved"),
        (GOOD + 'k = "2"\n', 7, "reads no name"),
        (GOOD.replace('blocks = ["h"]', 'blocks = ["h", "h"]'), 2, "one name twice"),
        (one_block("a_h + " + "x" * 500), 6, "unknown name"),
        ('name = "x' * 300, 1, "invalid TOML"),
    ],
)  # fmt: skip
def test_hostile_texts_are_refused_on_one_line(tmp_path, text, line, problem):
    message = assert_refused(write(tmp_path, text), line)
    assert problem in message


# --- property: any text is refused cleanly or emitted as working code ----------------------

# Names: mostly those the small cells declare, now and then one they do not (or may not).
NAMES = ["a_h", "a_h", "h_tm1", "h_tm1", "a_z", "g", "x", "np", "d_h", "h", "tmp0"]
NUMBERS = ["0", "1", "2", "0.5", "3.25", "1e308", "1e-308", "1e-320", "1e300", "0.0", "7"]
UNARY = ["tanh", "sigmoid", "exp", "log", "sqrt", "abs", "log_sigmoid", "relu", "softplus",
         "hard_sigmoid", "elu"]  # fmt: skip
WRONG = ["nope", "__import__", "Tanh", "print"]

NUMBER = st.one_of(
    st.sampled_from(NUMBERS), st.floats(-10, 10, allow_nan=False).map(lambda v: repr(round(v, 3)))
)


def _language(inner, valid: bool):
    """One step of an expression over ``inner``: everything the language has, and (unless
    ``valid``) powers, bounds, arities and functions that it refuses."""
    powers = ["2", "3", "-1", "-2", "8", "-8", "0", "1"] + ([] if valid else ["9", "0.5", "x"])
    bounds = ["-3, 3", "-0.5, 2", "-1e300, 1e300"] + ([] if valid else ["1, -1", "x, 1"])
    steps = [
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda e: f"-{e}"),
        st.tuples(inner, st.sampled_from(powers)).map(lambda t: f"({t[0]})**{t[1]}"),
        st.tuples(st.sampled_from(UNARY + ["stop_gradient"] * (not valid)), inner).map(
            lambda t: f"{t[0]}({t[1]})"
        ),
        st.tuples(st.sampled_from(["max", "min"]), inner, inner).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
        st.tuples(inner, st.sampled_from(bounds)).map(lambda t: f"clip({t[0]}, {t[1]})"),
    ]
    if not valid:  # wrong arity or an unknown function
        steps.append(
            st.tuples(
                st.sampled_from(UNARY + WRONG + ["max", "clip"]),
                st.lists(inner, min_size=1, max_size=3),
            ).map(lambda t: f"{t[0]}({', '.join(t[1])})")
        )
    return st.one_of(*steps)


# Expressions in the language over the names every small cell declares (stop_gradient is
# left out: finite differences see through it), and expressions over anything.
valid_expressions = st.recursive(
    st.one_of(st.sampled_from(["a_h", "h_tm1"]), NUMBER),
    lambda inner: _language(inner, valid=True),
    max_leaves=8,
)
hostile_expressions = st.recursive(
    st.one_of(st.sampled_from(NAMES), NUMBER),
    lambda inner: _language(inner, valid=False),
    max_leaves=8,
)
expressions = st.one_of(valid_expressions, valid_expressions, hostile_expressions)


def equations(draw, blocks: list[str]) -> list[str]:
    """``g`` from a random expression plus the last block, then ``h`` from another plus g
    and h_tm1, so that many random expressions make a cell that uses all its inputs."""
    g = f"{draw(expressions)} + a_{blocks[0]}"
    h = f"{draw(expressions)} + g * h_tm1"
    if draw(st.integers(0, 7)) == 0:  # now and then, no scaffolding at all
        g, h = draw(expressions), draw(expressions)
    return [f"g = {json.dumps(g)}", f"h = {json.dumps(h)}"]


# Pieces of spec files, valid and not: a TOML value per field.
FIELD_VALUES = {
    "name": ['"Bad Name"', "3", '"' + "n" * 70 + '"'],
    "blocks": ["[]", '["h", 1]', '["a b"]', '["h", "h"]'],
    "states": ['["h", "g"]', '["if"]', "[]", '["np"]'],
    "summary": ['"A cell"', '"quote \\" inside"', "1", '"' + "s" * 300 + '"'],
    "class_name": ['"MyCell"', '"my cell"', '"None"', '"X(): pass"'],
    "unit_params": ['["p"]', "[]", '["a_h"]'],
    "recurrent_bias": ["true", "1"],
    "matrices": [
        '{ w = { rows = 1, blocks = ["h"], width = "proj_units" } }',
        '{ w = { rows = 1, blocks = ["h"], width = "wide" } }',
        '{ w = { rows = 1, blocks = ["h"], width = 1 } }',
        '"w"',
    ],
    "colour": ['"red"'],
}


@st.composite
def spec_texts(draw):
    blocks = draw(st.sampled_from([["h"], ["z", "h"]]))
    fields = {"name": '"cell"', "blocks": json.dumps(blocks), "states": '["h"]'}
    if draw(st.booleans()):
        key = draw(st.sampled_from(sorted(FIELD_VALUES)))
        fields[key] = draw(st.sampled_from(FIELD_VALUES[key]))
    if draw(st.integers(0, 5)) == 0:
        fields.pop(draw(st.sampled_from(sorted(fields))))
    lines = [f"{key} = {value}" for key, value in fields.items()]
    text = "\n".join([*lines, "", "[equations]", *equations(draw, blocks)]) + "\n"
    if draw(st.integers(0, 9)) == 0:  # now and then, damage the TOML itself
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(['"', "[", "\\", "= =", "\n[x", "\x00"]))
    return text


def _run_clean(spec) -> bool:
    """Run the emitted NumPy module forward and backward on small random data; True if it
    ran without any warning and every value is finite."""
    module = load_module(emit.build(spec, "numpy"), f"test_hostile_{spec.name}")
    rng = np.random.default_rng(1)
    params = {k: rng.normal(size=s) * 0.5 for k, s in module.param_shapes(3, 3).items()}
    x = rng.normal(size=(2, 4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            outputs, final, tape = module.forward(params, x)
            if not all(np.all(np.isfinite(a)) for a in (outputs, *final)):
                return False
            d_params, d_x, d_init = module.backward(params, tape, np.ones_like(outputs))
        except (RuntimeWarning, FloatingPointError):
            return False  # an intermediate overflow (1e300 * a_h**8): as TF, but ill-posed
    return all(np.all(np.isfinite(a)) for a in (*d_params.values(), d_x, *d_init))


def _property(tmp_path_factory, text: str, with_tf: bool) -> None:
    path = tmp_path_factory.mktemp("hostile") / "cell.toml"
    path.write_text(text, encoding="utf-8")
    try:
        spec = with_own_class(load_spec(path))
    except SpecFileError as error:
        event(f"refused: {str(error).split(': ', 1)[1][:30]}")
        assert_refused(path)
        return
    # Accepted: both targets render and compile; NumPy runs and passes the numeric check.
    for target in ("numpy", "tf"):
        compile(emit.build(spec, target), f"<{target}>", "exec")
    clean = _run_clean(spec)
    event(f"accepted, {'runs clean' if clean else 'overflows'}")
    assume(clean)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # finite differences step across kinks and overflows
        result = numeric_check(spec)
        if result.status != "PASS":
            # Finite differences of an ill-conditioned cell (near a pole: outputs of 1e5)
            # can miss by more than 1e-7. Then other steps and stencils must agree, or else
            # TF autodiff of the generated forward (no step at all) and the NumPy module.
            event("numeric check: other stencils")
            if not _within_rounding(spec):
                event("numeric check: tf autodiff")
                assert _agrees_with_tf_autodiff(spec), (text, result)
    if with_tf:
        assert autodiff_check(spec).status == "PASS", text


def _within_rounding(spec) -> bool:
    """``verify.numeric_check`` again, where its central differences with steps of 1e-6 are
    too coarse or too fine for this cell: every array must match some estimate (central,
    step 1e-6; five-point, steps 1e-4 and 1e-3) to 1e-7 of its largest entry plus the
    rounding error of that estimate, ``eps |loss| / step`` with ``|loss|`` the sum of the
    magnitudes of the loss's terms. A wrong derivative is off by far more than either."""
    module = load_module(emit.build(spec, "numpy"), f"test_hostile_fd_{spec.name}")
    params, x, init, d_out, d_final = verify._random_problem(module, spec)

    def terms():
        outputs, final, _ = module.forward(params, x, init)
        return [outputs * d_out, *(f * w for f, w in zip(final, d_final, strict=True))]

    def loss():
        return float(sum(np.sum(t) for t in terms()))

    magnitude = float(sum(np.sum(np.abs(t)) for t in terms()))
    _, _, tape = module.forward(params, x, init)
    d_params, d_x, d_init = module.backward(params, tape, d_out, d_final)
    pairs = [(params[k], d_params[k]) for k in params] + [(x, d_x)]
    pairs += [(init[k], d_init[k]) for k in range(len(init))]
    central = {1: 0.5, -1: -0.5}
    five_point = {1: 8 / 12, -1: -8 / 12, 2: -1 / 12, -2: 1 / 12}
    stencils = [(1e-6, central), (1e-4, five_point), (1e-3, five_point)]
    for value, analytic in pairs:
        matched = False
        for step, weights in stencils:
            fd = np.zeros_like(value)
            for index in np.ndindex(value.shape):
                saved = value[index]
                for k, w in weights.items():
                    value[index] = saved + k * step
                    fd[index] += w * loss() / step
                value[index] = saved
            bound = verify.NUMERIC_TOLERANCE * np.max(np.abs(fd)) + 4e-16 * magnitude / step
            matched = matched or bool(np.max(np.abs(analytic - fd)) <= bound)
        if not matched:
            return False
    return True


def _agrees_with_tf_autodiff(spec) -> bool:
    """TF's backward matches ``tf.GradientTape`` of TF's forward, and the NumPy module's
    forward and backward match TF's."""
    if autodiff_check(spec).status != "PASS":
        return False
    modules = [load_module(emit.build(spec, t), f"test_hostile_{t}") for t in ("numpy", "tf")]
    params, x, init, d_out, d_final = verify._random_problem(modules[0], spec)
    results = []
    for module in modules:
        outputs, final, tape = module.forward(params, x, init)
        d_params, d_x, d_init = module.backward(params, tape, d_out, d_final)
        arrays = [outputs, *final, d_x, *d_init, *(d_params[k] for k in sorted(d_params))]
        results.append([np.asarray(a) for a in arrays])
    return all(
        verify.relative_error(a, b) <= verify.FLOAT64_TOLERANCE
        for a, b in zip(*results, strict=True)
    )


EXAMPLES = 150
SETTINGS = dict(
    deadline=None,
    derandomize=os.environ.get("LSTMGEN_HYPOTHESIS_RANDOM") is None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: bounded time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.filter_too_much],
)  # fmt: skip


@settings(max_examples=EXAMPLES, **SETTINGS)
@given(text=spec_texts())
def test_any_spec_text_is_refused_cleanly_or_works(tmp_path_factory, text):
    _property(tmp_path_factory, text, with_tf=False)


@st.composite
def expression_cells(draw):
    blocks = draw(st.sampled_from([["h"], ["z", "h"]]))
    head = f'name = "cell"\nblocks = {json.dumps(blocks)}\nstates = ["h"]\n\n[equations]\n'
    return head + "\n".join(equations(draw, blocks)) + "\n"


@settings(max_examples=2 * EXAMPLES, **SETTINGS)
@given(text=expression_cells())
def test_any_expression_is_refused_cleanly_or_works(tmp_path_factory, text):
    _property(tmp_path_factory, text, with_tf=False)


@settings(max_examples=15, **SETTINGS)
@given(expression=expressions)
def test_accepted_expressions_agree_with_tf_autodiff(tmp_path_factory, expression):
    text = one_block(f"tanh(a_h) * h_tm1 + {expression}")
    _property(tmp_path_factory, text, with_tf=True)
