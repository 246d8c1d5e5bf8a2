"""Cell specifications: variant name -> CellSpec (gate blocks, states, per-unit update text).

A spec is plain data; it holds no SymPy. The per-unit update is written in lstmgen's small
expression language (see ``lang.py``) as one ``name = expression`` line per textbook line. The
structure around it is fixed: each gate block ``g`` gets the pre-activation
``a_g = x_t @ kernel[:, g] + h_tm1 @ recurrent_kernel[:, g] + bias[g]``, computed by matrix
products that the targets emit (the input projection hoisted out of the time loop).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field, replace

DEFAULT_ACTIVATION = "tanh"
DEFAULT_RECURRENT_ACTIVATION = "sigmoid"


@dataclass(frozen=True)
class MatrixParam:
    """A weight matrix that statements multiply by: ``target = source @ name[block]``.

    Attributes:
        name: parameter name (in PARAM_NAMES after the per-unit parameters).
        rows: rows in units: the number of (units,)-wide values a product concatenates as
            its source (``[i_tm1, f_tm1, o_tm1] @ w[i]``: 3).
        blocks: column blocks, each ``width`` wide; a product reads one of them.
        width: the size each column block has: ``units``, or another size the layer takes
            (``proj_units``); a product onto another width than ``units`` makes a state of
            that width (LSTMP's ``h = m @ projection``).
    """

    name: str
    rows: int
    blocks: tuple[str, ...]
    width: str = "units"


@dataclass(frozen=True)
class VectorParam:
    """A parameter vector the statements read per unit.

    Attributes:
        name: parameter name (in PARAM_NAMES after the per-unit parameters).
        blocks: empty for a (units,) vector read as ``name``; else the gate blocks it spans,
            (len(blocks) * units,), each block read as ``name[block]``.
        initializer: its default Keras initializer, a name (``"ones"``) or a config as
            JSON text.
        argument: the prefix of the layer's ``<argument>_initializer`` / ``_regularizer`` /
            ``_constraint`` arguments; vectors that share it share those (TF Addons'
            ``norm_gamma``); the name itself when empty.
    """

    name: str
    blocks: tuple[str, ...] = ()
    initializer: str = "zeros"
    argument: str = ""


@dataclass(frozen=True)
class CellSpec:
    """One recurrent cell.

    Attributes:
        name: variant name, also the generated module's file name.
        summary: one line for ``lstmgen variants`` and the module docstring.
        blocks: gate block names in kernel column order (Keras: ``i f c o``).
        states: state names; ``states[0]`` is the output and the recurrent input.
        statements: ``(target, expression)`` per-unit update lines, in order. Names available:
            ``a_<block>``, ``<state>_tm1``, earlier targets, and activation calls.
        activation: Keras ``activation`` (candidate and output squashing).
        recurrent_activation: Keras ``recurrent_activation`` (the gates).
        unit_params: per-unit parameter vectors, each (units,), used by name in the
            statements (peepholes); they follow kernel, recurrent_kernel, bias in PARAM_NAMES.
        class_name: Python class name of the generated Keras layer.
        keras_layer: the stock Keras layer the variant reproduces when given the same
            ``activation`` and ``recurrent_activation`` (``"LSTM"``, ``"GRU"``), or ``""``
            if none.
        recurrent_bias: the statements read the input product ``ax_<block>`` and the
            recurrent product ``ah_<block>`` apart, each with its own bias row (bias shape
            (2, blocks * units)), instead of their sum ``a_<block>``.
        products_apart: the statements read the bare products ``wx_<block>`` (``x_t @
            kernel``) and ``uh_<block>`` (``h_tm1 @ recurrent_kernel``) and the bias blocks
            ``bias[<block>]`` themselves (TF Addons' LayerNorm LSTM normalises each product
            before the bias).
        vectors: further parameter vectors read per unit (``VectorParam``), after the
            per-unit parameters in PARAM_NAMES.
        matrix_params: weight matrices the statements multiply by inside the step (products
            ``target = source @ weight[block]``, see ``lang.py``), after the per-unit
            parameters in PARAM_NAMES.
        recurrent_blocks: the gate blocks the recurrent product ``h_tm1 @ recurrent_kernel``
            feeds (None: all). Each other block's columns of ``recurrent_kernel`` are read by
            a product inside the step instead (``u = (r * h_tm1) @ recurrent_kernel[h]``,
            Keras GRU with ``reset_after=False``).
        keras_options: arguments that make ``keras.layers.<keras_layer>`` compute the
            variant, as ``(name, value)`` pairs (``reset_after=False``); the generated layer
            accepts them with these values only.
        source: the spec file it was read from, as the user wrote the path (``""`` for a
            built-in or named variant); regeneration hints name it. Not part of the cell:
            two specs that differ only here compare equal.
    """

    name: str
    summary: str
    blocks: tuple[str, ...]
    states: tuple[str, ...]
    statements: tuple[tuple[str, str], ...]
    activation: str
    recurrent_activation: str
    class_name: str
    keras_layer: str
    unit_params: tuple[str, ...] = ()
    recurrent_bias: bool = False
    matrix_params: tuple[MatrixParam, ...] = ()
    recurrent_blocks: tuple[str, ...] | None = None
    keras_options: tuple[tuple[str, bool], ...] = ()
    source: str = field(default="", compare=False)
    vectors: tuple[VectorParam, ...] = ()
    products_apart: bool = False

    @property
    def preactivation_groups(self) -> tuple[str, ...]:
        """Prefixes of the statements' inputs: ``("a",)``; ``("ax", "ah")`` apart, each with
        its bias row; ``("wx", "uh")`` for the bare products (``products_apart``: the
        statements read the bias as ``bias[<block>]``)."""
        if self.products_apart:
            return ("wx", "uh")
        return ("ax", "ah") if self.recurrent_bias else ("a",)


def lstm_spec(
    name: str,
    activation: str = DEFAULT_ACTIVATION,
    recurrent_activation: str = DEFAULT_RECURRENT_ACTIVATION,
    summary: str = "",
    class_name: str = "",
    cell_clip: float | None = None,
    forget_bias: float = 0.0,
) -> CellSpec:
    """Keras 3 LSTM (gate blocks i|f|c|o) with the given activations.

    Options (TF1 ``LSTMCell``'s), baked in as constants: ``cell_clip`` clips ``c`` to
    ``[-cell_clip, cell_clip]`` after the update (``c = clip(f * c_tm1 + i * g, -3, 3)``);
    ``forget_bias`` is added to ``a_f`` (``f = sigmoid(a_f + 1)``). Either one appends its
    suffix to the name (``lstm_clip-3_fb-1``), the summary and the class name, and the spec
    no longer claims ``keras.layers.LSTM`` (see ``with_options``).

    Raises:
        OptionError: ``cell_clip`` not a finite number > 0, or ``forget_bias`` not finite.
    """
    act, ract = activation, recurrent_activation
    spec = CellSpec(
        name=name,
        summary=summary or f"Keras LSTM with activation={act}, recurrent_activation={ract}",
        blocks=("i", "f", "c", "o"),
        states=("h", "c"),
        statements=(
            ("i", f"{ract}(a_i)"),
            ("f", f"{ract}(a_f)"),
            ("g", f"{act}(a_c)"),
            ("o", f"{ract}(a_o)"),
            ("c", "f * c_tm1 + i * g"),
            (f"{act}_c", f"{act}(c)"),
            ("h", f"o * {act}_c"),
        ),
        activation=act,
        recurrent_activation=ract,
        class_name=class_name or class_name_of(name),
        keras_layer="LSTM",
    )
    if cell_clip is None and not forget_bias:
        return spec
    return with_options(spec, cell_clip, forget_bias)


def peephole_spec(
    name: str,
    summary: str,
    *,
    input_gate: bool = True,
    forget_gate: bool = True,
    output_gate: bool = True,
    input_activation: bool = True,
    output_activation: bool = True,
    coupled: bool = False,
    cell_clip: float | None = None,
    forget_bias: float = 0.0,
) -> CellSpec:
    """The peephole LSTM (Gers & Schmidhuber) and the ablations of Greff et al. (2017).

    Vanilla: ``i = s(a_i + p_i*c_tm1)``, ``f = s(a_f + p_f*c_tm1)``, ``c = f*c_tm1 + i*g``,
    ``o = s(a_o + p_o*c)``, ``h = o*tanh(c)``. A removed gate is the constant 1 and loses its
    weights and peephole; a removed activation is the identity; ``coupled`` ties
    ``f = 1 - i`` (no forget weights). Keras's ``lstm`` is the no-peephole (NP) ablation.

    ``cell_clip`` and ``forget_bias`` as in ``lstm_spec`` (TF1 ``LSTMCell``: the output
    gate's peephole reads the clipped ``c``; ``f = s(a_f + 1 + p_f*c_tm1)``).

    Raises:
        OptionError: a bad option value, or ``forget_bias`` without a forget gate block
            (``forget_gate=False`` or ``coupled``).
    """
    blocks, params, lines = ["c"], [], []
    if input_gate:
        blocks.insert(0, "i")
        params.append("peephole_i")
        lines.append(("i", "sigmoid(a_i + peephole_i * c_tm1)"))
    if forget_gate and not coupled:
        blocks.insert(len(blocks) - 1, "f")
        params.append("peephole_f")
        lines.append(("f", "sigmoid(a_f + peephole_f * c_tm1)"))
    elif coupled:
        lines.append(("f", "1 - i"))
    if input_activation:
        lines.append(("g", "tanh(a_c)"))
    candidate = "g" if input_activation else "a_c"
    gate_in = "i * " if input_gate else ""
    keep = "f * c_tm1" if forget_gate else "c_tm1"
    lines.append(("c", f"{keep} + {gate_in}{candidate}"))
    if not output_gate:
        lines.append(("h", "tanh(c)" if output_activation else "1 * c"))
    else:
        if output_activation:
            lines.append(("tanh_c", "tanh(c)"))
        blocks.append("o")
        params.append("peephole_o")
        lines.append(("o", "sigmoid(a_o + peephole_o * c)"))
        lines.append(("h", "o * tanh_c" if output_activation else "o * c"))
    spec = CellSpec(
        name=name,
        summary=summary,
        blocks=tuple(blocks),
        states=("h", "c"),
        statements=tuple(lines),
        activation="tanh",
        recurrent_activation="sigmoid",
        class_name=class_name_of(name),
        keras_layer="",
        unit_params=tuple(params),
    )
    if cell_clip is None and not forget_bias:
        return spec
    return with_options(spec, cell_clip, forget_bias)


def gru_spec(
    name: str,
    activation: str = DEFAULT_ACTIVATION,
    recurrent_activation: str = DEFAULT_RECURRENT_ACTIVATION,
    summary: str = "",
    class_name: str = "",
) -> CellSpec:
    """Keras 3 GRU with ``reset_after=True`` (its default; gate blocks z|r|h, bias (2, 3 * units)):
    the reset gate scales the recurrent product, which has its own bias row."""
    act, ract = activation, recurrent_activation
    return CellSpec(
        name=name,
        summary=summary or f"Keras GRU with activation={act}, recurrent_activation={ract}",
        blocks=("z", "r", "h"),
        states=("h",),
        statements=(
            ("z", f"{ract}(ax_z + ah_z)"),
            ("r", f"{ract}(ax_r + ah_r)"),
            ("hh", f"{act}(ax_h + r * ah_h)"),
            ("h", "z * h_tm1 + (1 - z) * hh"),
        ),
        activation=act,
        recurrent_activation=ract,
        class_name=class_name or class_name_of(name),
        keras_layer="GRU",
        recurrent_bias=True,
        keras_options=(("reset_after", True),),
    )


def gru_reset_before_spec(
    name: str,
    activation: str = DEFAULT_ACTIVATION,
    recurrent_activation: str = DEFAULT_RECURRENT_ACTIVATION,
    summary: str = "",
    class_name: str = "",
) -> CellSpec:
    """Keras 3 GRU with ``reset_after=False`` (gate blocks z|r|h, bias (3 * units,)): the reset
    gate scales the previous state before its product with the candidate's recurrent
    weights, a product inside the step."""
    act, ract = activation, recurrent_activation
    return CellSpec(
        name=name,
        summary=summary
        or f"Keras GRU (reset_after=False) with activation={act}, recurrent_activation={ract}",
        blocks=("z", "r", "h"),
        states=("h",),
        statements=(
            ("z", f"{ract}(a_z)"),
            ("r", f"{ract}(a_r)"),
            ("rh", "r * h_tm1"),
            ("u_h", "rh @ recurrent_kernel[h]"),
            ("hh", f"{act}(a_h + u_h)"),
            ("h", "z * h_tm1 + (1 - z) * hh"),
        ),
        activation=act,
        recurrent_activation=ract,
        class_name=class_name or class_name_of(name),
        keras_layer="GRU",
        recurrent_blocks=("z", "r"),
        keras_options=(("reset_after", False),),
    )


def projection_spec(name: str, summary: str) -> CellSpec:
    """LSTMP (Sak et al. 2014): the Keras LSTM whose output ``h = (o * tanh(c)) @ projection``
    has ``proj_units``; the projected h is also the recurrent input (recurrent_kernel
    (proj_units, 4 * units)), c keeps ``units``."""
    return CellSpec(
        name=name,
        summary=summary,
        blocks=("i", "f", "c", "o"),
        states=("h", "c"),
        statements=(
            ("i", "sigmoid(a_i)"),
            ("f", "sigmoid(a_f)"),
            ("g", "tanh(a_c)"),
            ("o", "sigmoid(a_o)"),
            ("c", "f * c_tm1 + i * g"),
            ("tanh_c", "tanh(c)"),
            ("m", "o * tanh_c"),
            ("h", "m @ projection"),
        ),
        activation="tanh",
        recurrent_activation="sigmoid",
        class_name=class_name_of(name),
        keras_layer="",
        matrix_params=(MatrixParam("projection", 1, ("h",), width="proj_units"),),
    )


def fgr_spec(name: str, summary: str) -> CellSpec:
    """Greff et al. FGR: the peephole LSTM with full gate recurrence.

    Every gate also reads the previous step's activations of all gates through its own
    recurrent matrices (nine (units, units) matrices, held as the column blocks i|f|o of
    ``gate_recurrent_kernel`` (3 * units, 3 * units), rows ordered i_tm1, f_tm1, o_tm1); the
    gate activations are therefore states.
    """
    gates = "[i_tm1, f_tm1, o_tm1]"
    return CellSpec(
        name=name,
        summary=summary,
        blocks=("i", "f", "c", "o"),
        states=("h", "c", "i", "f", "o"),
        statements=(
            ("r_i", f"{gates} @ gate_recurrent_kernel[i]"),
            ("r_f", f"{gates} @ gate_recurrent_kernel[f]"),
            ("r_o", f"{gates} @ gate_recurrent_kernel[o]"),
            ("i", "sigmoid(a_i + r_i + peephole_i * c_tm1)"),
            ("f", "sigmoid(a_f + r_f + peephole_f * c_tm1)"),
            ("g", "tanh(a_c)"),
            ("c", "f * c_tm1 + i * g"),
            ("tanh_c", "tanh(c)"),
            ("o", "sigmoid(a_o + r_o + peephole_o * c)"),
            ("h", "o * tanh_c"),
        ),
        activation="tanh",
        recurrent_activation="sigmoid",
        class_name=class_name_of(name),
        keras_layer="",
        unit_params=("peephole_i", "peephole_f", "peephole_o"),
        matrix_params=(MatrixParam("gate_recurrent_kernel", 3, ("i", "f", "o")),),
    )


def class_name_of(name: str) -> str:
    """``lstm_ra-relu_act-softsign`` -> ``LSTMRaReluActSoftsign``."""
    parts = re.split(r"[_\-]+", name)
    head, rest = parts[0], parts[1:]
    return head.upper() + "".join(p[:1].upper() + p[1:] for p in rest)


VARIANTS: dict[str, CellSpec] = {
    "lstm": lstm_spec(
        "lstm",
        summary="Keras 3 LSTM: sigmoid gates, tanh candidate and output (gate blocks i|f|c|o)",
        class_name="LSTM",
    ),
    "lstm_hard_sigmoid": lstm_spec(
        "lstm_hard_sigmoid",
        recurrent_activation="hard_sigmoid",
        summary="LSTM with Keras 3 hard_sigmoid gates relu6(x + 3) / 6",
        class_name="LSTMHardSigmoid",
    ),
    "lstm_hard_sigmoid_keras2": lstm_spec(
        "lstm_hard_sigmoid_keras2",
        recurrent_activation="hard_sigmoid_keras2",
        summary="LSTM with Keras 2 / tf-keras hard_sigmoid gates clip(0.2 x + 0.5, 0, 1)",
        class_name="LSTMHardSigmoidKeras2",
    ),
    "lstm_peephole": peephole_spec(
        "lstm_peephole",
        "Peephole LSTM (Gers & Schmidhuber): gates also read c_tm1 (i, f) and c (o)",
    ),
    "lstm_peephole_nig": peephole_spec(
        "lstm_peephole_nig",
        "Greff et al. NIG: peephole LSTM without input gate (i = 1)",
        input_gate=False,
    ),
    "lstm_peephole_nfg": peephole_spec(
        "lstm_peephole_nfg",
        "Greff et al. NFG: peephole LSTM without forget gate (f = 1)",
        forget_gate=False,
    ),
    "lstm_peephole_nog": peephole_spec(
        "lstm_peephole_nog",
        "Greff et al. NOG: peephole LSTM without output gate (o = 1)",
        output_gate=False,
    ),
    "lstm_peephole_niaf": peephole_spec(
        "lstm_peephole_niaf",
        "Greff et al. NIAF: peephole LSTM without input activation (g = a_c)",
        input_activation=False,
    ),
    "lstm_peephole_noaf": peephole_spec(
        "lstm_peephole_noaf",
        "Greff et al. NOAF: peephole LSTM without output activation (h = o * c)",
        output_activation=False,
    ),
    "lstm_peephole_cifg": peephole_spec(
        "lstm_peephole_cifg",
        "Greff et al. CIFG: peephole LSTM with coupled input and forget gate (f = 1 - i)",
        coupled=True,
    ),
    "lstm_peephole_fgr": fgr_spec(
        "lstm_peephole_fgr",
        "Greff et al. FGR: peephole LSTM with full gate recurrence (gates read all gates' "
        "previous activations)",
    ),
    "lstm_projection": projection_spec(
        "lstm_projection",
        "LSTMP (Sak et al. 2014): Keras LSTM with a projected output h = (o * tanh(c)) @ "
        "projection, proj_units wide and the recurrent input",
    ),
    "gru": gru_spec(
        "gru",
        summary="Keras 3 GRU (reset_after=True): reset gate after the recurrent product, "
        "gate blocks z|r|h, bias (2, 3 * units)",
        class_name="GRU",
    ),
    "gru_reset_before": gru_reset_before_spec(
        "gru_reset_before",
        summary="Keras 3 GRU (reset_after=False): reset gate before the candidate's recurrent "
        "product, gate blocks z|r|h, bias (3 * units,)",
        class_name="GRUResetBefore",
    ),
}

_ACTIVATION_VARIANT = re.compile(r"^lstm_ra-(?P<ract>[a-z0-9_]+)_act-(?P<act>[a-z0-9_]+)$")


def is_activation_variant(name: str) -> bool:
    """Whether ``name`` is an ``lstm_ra-<recurrent_activation>_act-<activation>`` name."""
    return bool(_ACTIVATION_VARIANT.match(name))


def activation_variant_name(activation: str, recurrent_activation: str) -> str:
    """Deterministic variant name for an LSTM with the given activations.

    A combination that a built-in variant already covers gets that variant's name.
    """
    for name, spec in VARIANTS.items():
        if (spec.activation, spec.recurrent_activation) == (
            activation,
            recurrent_activation,
        ):
            return name
    return f"lstm_ra-{recurrent_activation}_act-{activation}"


def resolve_variant(
    name: str, activations: tuple[str, ...] = (), others: tuple[str, ...] = ()
) -> CellSpec:
    """The spec for a built-in name or an ``lstm_ra-<ract>_act-<act>`` name, either one
    optionally followed by option suffixes ``_clip-<cell_clip>`` then ``_fb-<forget_bias>``
    (``lstm_peephole_clip-3_fb-1``; values in ``number_text`` form).

    Args:
        name: variant name.
        activations: the valid activation names (checked for generated names).
        others: further variant names to list among the choices when ``name`` is unknown
            (the cells shipped as spec files).

    Raises:
        ValueError: unknown variant or activation, naming the value and the choices, or a
            suffix value not written canonically.
        OptionError: an option that the base variant cannot take, or a bad option value.
    """
    if name in VARIANTS:
        return VARIANTS[name]
    base, cell_clip, forget_bias = split_options(name)
    if base != name and (base in VARIANTS or _ACTIVATION_VARIANT.match(base)):
        return with_options(resolve_variant(base, activations), cell_clip, forget_bias)
    match = _ACTIVATION_VARIANT.match(name)
    if match:
        for key in ("ract", "act"):
            if activations and match[key] not in activations:
                raise ValueError(
                    f"Unknown activation {match[key]!r} in variant {name!r}; "
                    f"expected one of {sorted(activations)}."
                )
        return lstm_spec(name, match["act"], match["ract"])
    raise ValueError(
        f"Unknown variant {name!r}; expected one of {sorted({*VARIANTS, *others})} "
        "or lstm_ra-<recurrent_activation>_act-<activation>, optionally followed by "
        "_clip-<cell_clip> and _fb-<forget_bias>."
    )


# --- options of the LSTM family: cell_clip and forget_bias (TF1 LSTMCell's) ----------------


class OptionError(ValueError):
    """A bad ``cell_clip`` / ``forget_bias``, or one the variant cannot take.

    Attributes:
        option: ``"cell_clip"`` or ``"forget_bias"``, the argument at fault.
    """

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?(?:e[+-][0-9]+)?"
_OPTION_SUFFIXES = re.compile(
    rf"^(?P<base>.+?)(?:_clip-(?P<clip>{_NUMBER}))?(?:_fb-(?P<fb>{_NUMBER}))?$"
)


def number_text(value: float) -> str:
    """Canonical text of an option value: ``1`` (not ``1.0``), ``-1``, ``2.5``, ``1e-07``."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _shown(value) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return number_text(value) if math.isfinite(value) else repr(float(value))
    return repr(value)


def check_options(cell_clip: float | None = None, forget_bias: float = 0.0) -> None:
    """Raise OptionError unless ``cell_clip`` is None or a finite number > 0 and
    ``forget_bias`` is a finite number."""
    if cell_clip is not None and not (
        isinstance(cell_clip, numbers.Real)
        and not isinstance(cell_clip, bool)
        and math.isfinite(cell_clip)
        and cell_clip > 0
    ):
        raise OptionError(
            "cell_clip", f"cell_clip must be a finite number > 0, got {_shown(cell_clip)}."
        )
    if not (
        isinstance(forget_bias, numbers.Real)
        and not isinstance(forget_bias, bool)
        and math.isfinite(forget_bias)
    ):
        raise OptionError(
            "forget_bias", f"forget_bias must be a finite number, got {_shown(forget_bias)}."
        )


def option_suffix(cell_clip: float | None = None, forget_bias: float = 0.0) -> str:
    """``_clip-<cell_clip>`` then ``_fb-<forget_bias>``, each only when set: ``_clip-3_fb-1``."""
    check_options(cell_clip, forget_bias)
    clip = "" if cell_clip is None else f"_clip-{number_text(cell_clip)}"
    bias = f"_fb-{number_text(forget_bias)}" if forget_bias else ""
    return clip + bias


def split_options(name: str) -> tuple[str, float | None, float]:
    """``lstm_peephole_clip-3_fb-1`` -> ``("lstm_peephole", 3.0, 1.0)``; a name without
    suffixes -> ``(name, None, 0.0)``.

    Raises:
        ValueError: a suffix value not written as ``number_text`` writes it (one spec, one
            name), naming the canonical name.
        OptionError: a bad value (``_clip-0``).
    """
    match = _OPTION_SUFFIXES.match(name)
    if not match or not (match["clip"] or match["fb"]):
        return name, None, 0.0
    if split_options(match["base"])[0] != match["base"]:
        raise ValueError(
            f"Variant name {name!r} has its options out of order or repeated; "
            "write <variant>_clip-<cell_clip>_fb-<forget_bias>, each at most once."
        )
    cell_clip = None if match["clip"] is None else float(match["clip"])
    forget_bias = 0.0 if match["fb"] is None else float(match["fb"])
    canonical = match["base"] + option_suffix(cell_clip, forget_bias)
    if canonical != name:
        raise ValueError(f"Variant name {name!r} is not canonical; write it as {canonical!r}.")
    return match["base"], cell_clip, forget_bias


def name_with_options(name: str, cell_clip: float | None = None, forget_bias: float = 0.0) -> str:
    """``name`` with the option suffixes added: (``lstm``, 3, 1) -> ``lstm_clip-3_fb-1``.

    Options already in the name are kept; the same option with another value is an error.

    Raises:
        OptionError: a bad value, or a value that contradicts the name's.
    """
    check_options(cell_clip, forget_bias)
    base, named_clip, named_bias = split_options(name)
    for option, named, given, default in (
        ("cell_clip", named_clip, cell_clip, None),
        ("forget_bias", named_bias, forget_bias, 0.0),
    ):
        if named != default and given != default and named != given:
            raise OptionError(
                option,
                f"{option}={_shown(given)} contradicts variant {name!r}, "
                f"which has {option}={_shown(named)}.",
            )
    cell_clip = named_clip if cell_clip is None else cell_clip
    forget_bias = forget_bias or named_bias
    return base + option_suffix(cell_clip, forget_bias)


_FORGET_INPUT = re.compile(r"(?<=\()a_f(?=[ )])")


def with_options(spec: CellSpec, cell_clip: float | None = None, forget_bias: float = 0.0):
    """An LSTM-family spec with ``cell_clip`` / ``forget_bias`` baked into its statements.

    ``c = <update>`` becomes ``c = clip(<update>, -<cell_clip>, <cell_clip>)``; the forget
    gate line ``f = act(a_f ...)`` becomes ``f = act(a_f + <forget_bias> ...)``. The name,
    the summary and the class name get the options; ``keras_layer`` is cleared (the stock
    layer with the same weights computes something else). No options: ``spec`` itself.

    Raises:
        OptionError: a bad value; ``spec`` is not LSTM-family (states ``h, c``, ...); or
            ``forget_bias`` for a variant without a forget gate block (``f = 1 - i``).
    """
    suffix = option_suffix(cell_clip, forget_bias)
    if not suffix:
        return spec
    option = "cell_clip" if cell_clip is not None else "forget_bias"
    value = cell_clip if cell_clip is not None else forget_bias
    if split_options(spec.name)[0] != spec.name:
        raise OptionError(
            option,
            f"{option}={_shown(value)}: variant {spec.name!r} already has options; "
            "name them all at once (name_with_options).",
        )
    if spec.states[:2] != ("h", "c") or "c" not in dict(spec.statements):
        raise OptionError(
            option,
            f"{option}={_shown(value)} applies to LSTM-family variants (states h, c, ...); "
            f"variant {spec.name!r} has states {', '.join(spec.states)}.",
        )
    statements, described = list(spec.statements), []
    if cell_clip is not None:
        clip = number_text(cell_clip)
        statements = [
            (t, f"clip({text}, -{clip}, {clip})" if t == "c" else text) for t, text in statements
        ]
        described.append(f"cell_clip={clip} (c clipped to [-{clip}, {clip}])")
    if forget_bias:
        lines = dict(statements)
        if "f" not in spec.blocks or not _FORGET_INPUT.search(lines.get("f", "")):
            raise OptionError(
                "forget_bias",
                f"forget_bias={_shown(forget_bias)} needs a forget gate block reading a_f; "
                f"variant {spec.name!r} has none (blocks {'|'.join(spec.blocks)}"
                + (f", f = {lines['f']})." if "f" in lines else ")."),
            )
        bias = number_text(forget_bias)
        term = f"a_f - {bias[1:]}" if bias.startswith("-") else f"a_f + {bias}"
        statements = [
            (t, _FORGET_INPUT.sub(term, text, count=1) if t == "f" else text)
            for t, text in statements
        ]
        described.append(f"forget_bias={bias} (added to a_f)")
    return replace(
        spec,
        name=spec.name + suffix,
        summary=f"{spec.summary}; {', '.join(described)}",
        statements=tuple(statements),
        class_name=spec.class_name + _class_suffix(cell_clip, forget_bias),
        keras_layer="",
    )


def _class_suffix(cell_clip: float | None, forget_bias: float) -> str:
    """``Clip3``, ``Clip2p5``, ``Fbm1``: the option suffix as identifier characters."""

    def part(value):
        return number_text(value).replace("-", "m").replace(".", "p").replace("+", "")

    clip = "" if cell_clip is None else f"Clip{part(cell_clip)}"
    return clip + (f"Fb{part(forget_bias)}" if forget_bias else "")
