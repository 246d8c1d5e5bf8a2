"""User-defined cells from TOML spec files: parsing, errors with file and line, examples."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner
from generated_modules import ROOT

from lstmgen import emit
from lstmgen.activations import ACTIVATIONS
from lstmgen.cli import main
from lstmgen.equations import forward_program
from lstmgen.fingerprint import fingerprint
from lstmgen.spec import VARIANTS
from lstmgen.specfile import SpecFileError, all_variants, load_spec, resolve, spec_file_text
from lstmgen.verify import exact_check, load_module, numeric_check

EXAMPLES = ROOT / "examples"

GOOD = """\
name = "tiny"
blocks = ["f", "c"]
states = ["h"]

[equations]
f = "sigmoid(a_f)"
g = "tanh(a_c)"
h = "f * h_tm1 + (1 - f) * g"
"""


def write(tmp_path, text):
    path = tmp_path / "cell.toml"
    path.write_text(text)
    return path


def test_peephole_example_reproduces_the_builtin_exactly():
    spec = load_spec(EXAMPLES / "peephole_lstm.toml")
    builtin = VARIANTS["lstm_peephole"]
    assert spec.statements == builtin.statements
    assert (spec.blocks, spec.states, spec.unit_params) == (
        builtin.blocks,
        builtin.states,
        builtin.unit_params,
    )
    for target in ("numpy", "tf"):
        mine = emit.build(spec, target)
        theirs = emit.build(builtin, target)
        # Only the variant's name and class name differ, and the hints name the file.
        renamed = (
            theirs.replace("lstm_peephole", "peephole_lstm")
            .replace(builtin.class_name, spec.class_name)
            .replace("--variant peephole_lstm", f"--spec {EXAMPLES / 'peephole_lstm.toml'}")
        )
        assert mine == renamed
    # And it runs identically.
    a, b = (
        load_module(emit.build(spec, "numpy"), "a"),
        load_module(emit.build(builtin, "numpy"), "b"),
    )
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s) for k, s in a.param_shapes(3, 4).items()}
    x = rng.normal(size=(2, 5, 3))
    np.testing.assert_array_equal(a.forward(params, x)[0], b.forward(params, x)[0])


def test_mgu_example_reads_the_products_apart_and_passes_exact_and_numeric_checks():
    spec = load_spec(EXAMPLES / "mgu.toml")
    assert spec.recurrent_bias and spec.states == ("h",)
    module = load_module(emit.build(spec, "numpy"), "test_specfile_mgu")
    assert module.param_shapes(3, 4)["bias"] == (2, 8)
    assert exact_check(spec).status == "PASS"
    assert numeric_check(spec).status == "PASS"


def test_janet_example_passes_exact_and_numeric_checks():
    spec = load_spec(EXAMPLES / "janet.toml")
    assert spec.states == ("h",)
    assert exact_check(spec).status == "PASS"
    assert numeric_check(spec).status == "PASS"


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ('g = "tanh(a_c)"', 'g = "tanh(a_q)"', 7, "unknown name 'a_q'"),
        ('g = "tanh(a_c)"', 'g = "a_c ** 0.5"', 7, "use sqrt(x)"),
        ('g = "tanh(a_c)"', 'g = "gelu(a_c)"', 7, "unknown function 'gelu'"),
        ('g = "tanh(a_c)"', "g = \"__import__('os')\"", 7, "is not part of the language"),
        (
            'h = "f * h_tm1 + (1 - f) * g"',
            'k = "f * h_tm1 + (1 - f) * g"',
            3,
            "state 'h' is never updated",
        ),
        ('g = "tanh(a_c)"', 'g = "tanh(a_f)"', 2, "pre-activation 'a_c' is never used"),
        # A cycle: f reads g, which is defined after it from f.
        ('f = "sigmoid(a_f)"', 'f = "sigmoid(a_f + g)"', 6, "unknown name 'g'"),
        ('f = "sigmoid(a_f)"', 'f = "sigmoid(a_f)"\nunused = "f * 2"', 7, "'unused' is never used"),
        ('name = "tiny"', 'name = "Tiny Cell"', 1, "name must be lower-case"),
        ('states = ["h"]', 'states = ["h"]\ncolour = "red"', 4, "unknown field 'colour'"),
        ('states = ["h"]', 'states = ["h"]\nrecurrent_bias = 1', 4, "recurrent_bias must be"),
        # With recurrent_bias the inputs are ax_<block> and ah_<block>, not a_<block>.
        ('states = ["h"]', 'states = ["h"]\nrecurrent_bias = true', 7, "unknown name 'a_f'"),
    ],
)
def test_bad_spec_names_file_line_and_problem(tmp_path, old, new, line, message):
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(SpecFileError) as error:
        load_spec(path)
    assert str(error.value).startswith(f"{path}:{line}: ")
    assert message in str(error.value)


def test_bad_toml_and_missing_fields(tmp_path):
    with pytest.raises(SpecFileError, match="invalid TOML"):
        load_spec(write(tmp_path, "name = \n"))
    with pytest.raises(SpecFileError, match="missing field 'equations'"):
        load_spec(write(tmp_path, GOOD.split("[equations]")[0]))


def test_cli_refuses_bad_spec_and_writes_nothing(tmp_path):
    path = write(tmp_path, GOOD.replace('g = "tanh(a_c)"', 'g = "tanh(a_q)"'))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["emit", "--target", "all", "--spec", str(path), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert f"{path}:7: unknown name 'a_q'" in result.output
    assert not out.exists()


def test_cli_emits_derives_and_verifies_a_spec(tmp_path):
    path = write(tmp_path, GOOD)
    runner = CliRunner()
    result = runner.invoke(
        main, ["emit", "--target", "all", "--spec", str(path), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "numpy" / "tiny.py").is_file() and (tmp_path / "tf" / "tiny.py").is_file()
    derived = runner.invoke(main, ["derive", "--spec", str(path)])
    assert "d_h_tm1 = d_h*f" in derived.output
    verified = runner.invoke(main, ["verify", "--spec", str(path), "--target", "numpy"])
    assert verified.exit_code == 0, verified.output


def test_products_inside_the_step_from_a_spec_file_match_the_builtin_gru_reset_before():
    spec = load_spec(EXAMPLES / "gru_rb.toml")
    builtin = VARIANTS["gru_reset_before"]
    assert spec.statements == builtin.statements
    assert spec.recurrent_blocks == builtin.recurrent_blocks == ("z", "r")
    mine = load_module(emit.build(spec, "numpy"), "test_specfile_gru_rb")
    theirs = load_module(emit.build(builtin, "numpy"), "test_specfile_gru_reset_before")
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s) for k, s in mine.param_shapes(3, 4).items()}
    x = rng.normal(size=(2, 5, 3))
    d_outputs = rng.normal(size=(2, 5, 4))
    (out_a, _, tape_a), (out_b, _, tape_b) = mine.forward(params, x), theirs.forward(params, x)
    np.testing.assert_array_equal(out_a, out_b)
    grads_a, grads_b = (
        mine.backward(params, tape_a, d_outputs),
        theirs.backward(params, tape_b, d_outputs),
    )
    for name in mine.PARAM_NAMES:
        np.testing.assert_array_equal(grads_a[0][name], grads_b[0][name])
    assert exact_check(spec).status == "PASS"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('u_h = "rh @ recurrent_kernel[h]"', 'u_h = "rh @ recurrent_kernel[z]"', "already feeds"),
        (
            'u_h = "rh @ recurrent_kernel[h]"',
            'u_h = "(r * h_tm1) @ recurrent_kernel[h]"',
            "a product is",
        ),
        ('u_h = "rh @ recurrent_kernel[h]"', 'u_h = "rh @ kernel[h]"', "the weight must be one of"),
        ('recurrent_blocks = ["z", "r"]', 'recurrent_blocks = ["z", "r", "h"]', "already feeds"),
        (
            'recurrent_blocks = ["z", "r"]',
            'recurrent_blocks = ["z"]',
            "'r' of 'recurrent_kernel' is never used",
        ),
    ],
)
def test_bad_products_name_the_line_and_problem(tmp_path, old, new, message):
    text = (EXAMPLES / "gru_rb.toml").read_text()
    assert old in text
    path = write(tmp_path, text.replace(old, new))
    with pytest.raises(SpecFileError) as error:
        load_spec(path)
    assert message in str(error.value)
    assert str(error.value).startswith(f"{path}:")


# Every built-in variant, and names with options, as ``variants --as-spec`` writes them.
AS_SPEC = sorted(all_variants()) + [
    "lstm_ra-relu_act-softsign",
    "lstm_peephole_clip-0.3_fb-1",
    "lstm_fb-0.5",
]


@pytest.mark.parametrize("variant", AS_SPEC)
def test_every_builtin_written_as_a_spec_file_reads_back_as_the_same_cell(variant, tmp_path):
    """1c of issue 10: a built-in is a file a user can copy and change. The file the
    loader reads back is the same cell: every field but the names, the summary and what a
    spec file cannot carry (the Keras layer it reproduces) equal, and the same fingerprint."""
    builtin = resolve(variant, tuple(ACTIVATIONS))
    result = CliRunner().invoke(main, ["variants", "--as-spec", variant])
    assert result.exit_code == 0, result.output
    path = write(tmp_path, result.output)
    loaded = load_spec(path)
    assert loaded.name == "my_" + variant.replace(".", "_")
    unchanged = dataclasses.replace(
        loaded,
        name=builtin.name,
        summary=builtin.summary,
        class_name=builtin.class_name,
        activation=builtin.activation,
        recurrent_activation=builtin.recurrent_activation,
        keras_layer=builtin.keras_layer,
        keras_options=builtin.keras_options,
    )
    assert unchanged == builtin
    assert fingerprint(forward_program(loaded)) == fingerprint(forward_program(builtin))
    if builtin.keras_layer:
        assert f"drop-in for keras.layers.{builtin.keras_layer}" in " ".join(
            line.removeprefix("# ") for line in result.output.splitlines()
        )


def test_a_builtin_as_a_spec_file_emits_a_module_that_computes_the_same(tmp_path):
    result = CliRunner().invoke(
        main, ["variants", "--as-spec", "gru_reset_before", "--name", "my_gru"]
    )
    spec = load_spec(write(tmp_path, result.output))
    a = load_module(emit.build(spec, "numpy"), "test_specfile_as_spec_gru")
    b = load_module(emit.build(VARIANTS["gru_reset_before"], "numpy"), "test_specfile_gru_rb")
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s) for k, s in b.param_shapes(3, 4).items()}
    x = rng.normal(size=(2, 5, 3))
    np.testing.assert_array_equal(a.forward(params, x)[0], b.forward(params, x)[0])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--as-spec", "no_such_cell"], ["'--as-spec'", "no_such_cell", "'slstm'", "'lstm'"]),
        (["--as-spec", "lstm", "--name", "Bad Name"], ["'--name'", "lower-case"]),
        (["--as-spec", "gru", "--name", "lstm"], ["'--name'", "built-in"]),
        (["--name", "my_cell"], ["'--name'", "--as-spec"]),
    ],
)
def test_as_spec_refusals_name_the_option(args, words):
    result = CliRunner().invoke(main, ["variants", *args])
    assert result.exit_code == 2 and not result.stdout.startswith("#")
    for word in words:
        assert word in result.output


def test_a_matrix_of_a_width_spec_files_cannot_write_is_refused():
    lstmp = VARIANTS["lstm_projection"]
    odd = dataclasses.replace(
        lstmp, matrix_params=(dataclasses.replace(lstmp.matrix_params[0], width="odd_units"),)
    )
    with pytest.raises(ValueError, match="'projection' is odd_units wide"):
        spec_file_text(odd, "my_cell")


PROJECTED = """\
name = "projected"
blocks = ["i", "f", "c", "o"]
states = ["h", "c"]

[matrices]
projection = { rows = 1, blocks = ["h"], width = "proj_units" }

[equations]
i = "sigmoid(a_i)"
f = "sigmoid(a_f)"
g = "tanh(a_c)"
o = "sigmoid(a_o)"
c = "f * c_tm1 + i * g"
m = "o * tanh(c)"
h = "m @ projection"
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ('width = "proj_units"', 'width = "wide"', 6, ["'projection'", '"proj_units"']),
        ('width = "proj_units"', "width = 3", 6, ["'projection'", "width"]),
        (
            'c = "f * c_tm1 + i * g"\nm = "o * tanh(c)"\nh = "m @ projection"',
            's = "f * c_tm1 + i * g"\nc = "s @ projection"\nh = "o * tanh(s)"',
            14,
            ["state 'c' is proj_units wide", "only the first state"],
        ),
    ],
)
def test_matrix_widths_are_units_or_proj_units_and_only_the_output_is_projected(
    tmp_path, old, new, line, words
):
    assert old in PROJECTED
    path = write(tmp_path, PROJECTED.replace(old, new))
    with pytest.raises(SpecFileError) as error:
        load_spec(path)
    message = str(error.value)
    assert message.startswith(f"{path}:{line}: ") and "\n" not in message
    for word in words:
        assert word in message


def test_a_projected_spec_derives_and_passes_the_numeric_check(tmp_path):
    spec = load_spec(write(tmp_path, PROJECTED))
    assert spec.matrix_params[0].width == "proj_units"
    module = load_module(emit.build(spec, "numpy"), "test_specfile_projected")
    assert module.param_shapes(3, 4, 2)["recurrent_kernel"] == (2, 16)
    assert numeric_check(spec).status == "PASS"
