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
        class_name=class_name or _class_name(name),
        keras_layer="LSTM",
    )


def _class_name(name: str) -> str:
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
