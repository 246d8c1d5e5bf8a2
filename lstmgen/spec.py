"""Cell specifications: variant name -> CellSpec (gate blocks, states, per-unit update text).

A spec is plain data; it holds no SymPy. The per-unit update is written in lstmgen's small
expression language (see ``lang.py``) as one ``name = expression`` line per textbook line. The
structure around it is fixed: each gate block ``g`` gets the pre-activation
``a_g = x_t @ kernel[:, g] + h_tm1 @ recurrent_kernel[:, g] + bias[g]``, computed by matrix
products that the targets emit (the input projection hoisted out of the time loop).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_ACTIVATION = "tanh"
DEFAULT_RECURRENT_ACTIVATION = "sigmoid"


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
            ``activation`` and ``recurrent_activation`` (``"LSTM"``), or ``""`` if none.
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


def lstm_spec(
    name: str,
    activation: str = DEFAULT_ACTIVATION,
    recurrent_activation: str = DEFAULT_RECURRENT_ACTIVATION,
    summary: str = "",
    class_name: str = "",
) -> CellSpec:
    """Keras 3 LSTM (gate blocks i|f|c|o) with the given activations."""
    act, ract = activation, recurrent_activation
    return CellSpec(
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
) -> CellSpec:
    """The peephole LSTM (Gers & Schmidhuber) and the ablations of Greff et al. (2017).

    Vanilla: ``i = s(a_i + p_i*c_tm1)``, ``f = s(a_f + p_f*c_tm1)``, ``c = f*c_tm1 + i*g``,
    ``o = s(a_o + p_o*c)``, ``h = o*tanh(c)``. A removed gate is the constant 1 and loses its
    weights and peephole; a removed activation is the identity; ``coupled`` ties
    ``f = 1 - i`` (no forget weights). Keras's ``lstm`` is the no-peephole (NP) ablation.
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
    return CellSpec(
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
}

_ACTIVATION_VARIANT = re.compile(r"^lstm_ra-(?P<ract>[a-z0-9_]+)_act-(?P<act>[a-z0-9_]+)$")


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


def resolve_variant(name: str, activations: tuple[str, ...] = ()) -> CellSpec:
    """The spec for a built-in name or an ``lstm_ra-<ract>_act-<act>`` name.

    Args:
        name: variant name.
        activations: the valid activation names (checked for generated names).

    Raises:
        ValueError: unknown variant or activation, naming the value and the choices.
    """
    if name in VARIANTS:
        return VARIANTS[name]
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
        f"Unknown variant {name!r}; expected one of {sorted(VARIANTS)} "
        "or lstm_ra-<recurrent_activation>_act-<activation>."
    )
