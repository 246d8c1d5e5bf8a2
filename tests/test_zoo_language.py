"""The language the zoo needs, as spec files: reductions across units, parameter vectors over
gate blocks, the bare products, cells without a recurrent kernel; and the refusals that keep
each of them to a clean ``file:line: problem``."""

from __future__ import annotations

import numpy as np
import pytest

from lstmgen import emit
from lstmgen.specfile import SpecFileError, builtin_cells, load_spec
from lstmgen.verify import load_module, numeric_check

HEAD = 'name = "cell"\nblocks = ["z", "h"]\nstates = ["h"]\n'


def spec_text(equations: str, head: str = HEAD, extra: str = "") -> str:
    return f"{head}{extra}\n[equations]\n{equations}"


def write(tmp_path, text: str):
    path = tmp_path / "cell.toml"
    path.write_text(text)
    return path


def refused(tmp_path, text: str, line: int, *fragments: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(SpecFileError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


GOOD = """z = "sigmoid(a_z)"
h = "(1 - z) * h_tm1 + z * tanh(a_h)"
"""


@pytest.mark.parametrize(
    "equations, line, fragments",
    [
        # a reduction inside an expression
        ('m = "1 + mean(a_z)"\n' + GOOD, 6, ("mean() must be the whole right-hand side",)),
        # a reduction of row values only
        (
            'm = "mean(a_z)"\nq = "mean(m * 2)"\nz = "sigmoid(a_z)"\nh = "z * h_tm1 + a_h + q"\n',
            7,
            ("must vary across units",),
        ),
        # a state that is one value per row
        ('m = "mean(a_h + a_z)"\nh = "m * 2"\n', 7, ("one value per row",)),
        ('m = "mean()"\n' + GOOD, 6, ("mean() takes one term",)),
        ('m = "sum([])"\n' + GOOD, 6, ("empty list",)),
    ],
)
def test_reductions_are_whole_lines_over_units_wide_terms(tmp_path, equations, line, fragments):
    refused(tmp_path, spec_text(equations), line, *fragments)


@pytest.mark.parametrize(
    "vectors, line, fragments",
    [
        ('gain = { blocks = ["q"] }\n', 6, ("vector 'gain' must be",)),
        ('gain = { initializer = "not a name" }\n', 6, ("vector 'gain' must be",)),
        ('gain = { initializer = "{\\"class_name\\": 1}" }\n', 6, ("vector 'gain' must be",)),
        (
            'g1 = { argument = "g", initializer = "ones" }\ng2 = { argument = "g" }\n',
            7,
            ("sharing argument 'g' need one initializer",),
        ),
        ('gain = { colour = "red" }\n', 6, ("vector 'gain' must be",)),
    ],
)
def test_vectors_are_declared_with_blocks_of_the_cell_and_keras_initializers(
    tmp_path, vectors, line, fragments
):
    refused(tmp_path, spec_text(GOOD, extra=f"\n[vectors]\n{vectors}"), line, *fragments)


def test_a_vector_block_of_another_name_is_an_unknown_name(tmp_path):
    extra = '\n[vectors]\ngain = { blocks = ["z", "h"] }\n'
    text = spec_text('z = "sigmoid(a_z * gain[q])"\nh = "z * h_tm1 + gain[h] + 0 * gain[z]"\n')
    refused(tmp_path, text.replace("\n[equations]", extra + "\n[equations]"), 9, "gain[q]")


@pytest.mark.parametrize(
    "extra, line, fragments",
    [
        ('inputs = "both"\n', 3, ("inputs must be one of",)),
        ('recurrent_bias = true\ninputs = "sum"\n', 4, ("inputs must be one of",)),
        ('inputs = "products"\nrecurrent_blocks = []\n', 0, ("every block fed",)),
    ],
)
def test_inputs_name_one_of_three_structures(tmp_path, extra, line, fragments):
    text = spec_text('z = "sigmoid(wx_z + uh_z + bias[z])"\nh = "z * h_tm1 + wx_h + uh_h"\n')
    path = write(tmp_path, text.replace("states", extra + "states"))
    with pytest.raises(SpecFileError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: " if line else f"{path}"), message
    for fragment in fragments:
        assert fragment in message


PRODUCTS = """name = "bare"
blocks = ["z", "h"]
states = ["h"]
inputs = "products"

[vectors]
gain = { blocks = ["z", "h"], initializer = "ones" }

[equations]
z = "sigmoid(wx_z * gain[z] + uh_z + bias[z])"
m = "mean([wx_h, uh_h])"
h = "z * h_tm1 + (1 - z) * tanh((wx_h - m) * gain[h] + bias[h])"
"""


def test_bare_products_vectors_and_reductions_pass_the_numeric_check(tmp_path):
    spec = load_spec(write(tmp_path, PRODUCTS))
    module = load_module(emit.build(spec, "numpy"), "zoo_language_bare")
    assert module.PARAM_NAMES == ("kernel", "recurrent_kernel", "bias", "gain")
    assert module.param_shapes(3, 4)["gain"] == (8,)
    assert numeric_check(spec).status == "PASS"


def test_a_cell_without_recurrent_kernel_has_none_and_does_no_gemm_in_the_loop():
    source = emit.build(builtin_cells()["qrnn"], "numpy")
    module = load_module(source, "zoo_language_qrnn")
    assert "recurrent_kernel" not in module.PARAM_NAMES
    loop = source[source.index("    for t in range(time):") : source.index("    outputs = ")]
    assert "@" not in loop, loop
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s) for k, s in module.param_shapes(3, 2).items()}
    outputs, (h, c), _ = module.forward(params, rng.normal(size=(2, 4, 3)))
    np.testing.assert_array_equal(outputs[:, -1], h)


@pytest.mark.parametrize(
    "name, class_name, fragment",
    [
        ("lstm", "", "name 'lstm' is a built-in variant's"),
        ("indrnn", "", "name 'indrnn' is a built-in variant's"),
        ("lstm_ra-relu_act-tanh", "", "is a built-in variant's"),
        ("my_cell", "LSTMHardSigmoid", "class_name 'LSTMHardSigmoid' is built-in variant"),
    ],
)
def test_a_spec_may_not_take_a_built_in_name(tmp_path, name, class_name, fragment):
    head = HEAD.replace('"cell"', f'"{name}"')
    if class_name:
        head += f'class_name = "{class_name}"\n'
    path = write(tmp_path, spec_text(GOOD, head=head))
    with pytest.raises(SpecFileError, match=fragment):
        load_spec(path)


UNTAPED_BEFORE_TAPED = """name = "skipping"
blocks = ["z", "h"]
states = ["h", "y", "c"]

[equations]
z = "sigmoid(a_z)"
y = "2 * z"
c = "z * c_tm1 + (1 - z) * tanh(a_h)"
h = "c * 2 + y"
"""


def test_a_state_the_backward_does_not_read_before_one_it_does(tmp_path):
    """y is carried but never read back (its line is linear in z, y_tm1 unused), c is: the
    tape must hold c's own sequence, not the state before it in the tuple."""
    spec = load_spec(write(tmp_path, UNTAPED_BEFORE_TAPED))
    module = load_module(emit.build(spec, "numpy"), "zoo_language_skipping")
    rng = np.random.default_rng(1)
    params = {k: rng.normal(size=s) for k, s in module.param_shapes(3, 2).items()}
    initial = tuple(rng.normal(size=(2, 2)) for _ in module.STATE_NAMES)
    _, _, tape = module.forward(params, rng.normal(size=(2, 4, 3)), initial)
    assert "y" not in tape
    np.testing.assert_array_equal(tape["c"][0], initial[2])
    assert numeric_check(spec).status == "PASS"
