"""Spec files: a TOML file describing a cell -> CellSpec, with errors that name file and line.

Format (see ``examples/``)::

    name = "my_cell"                 # variant name, also the generated file name
    summary = "One line about it"
    blocks = ["i", "f", "c", "o"]    # gate blocks, kernel column order
    states = ["h", "c"]              # states[0] is the output and the recurrent input
    unit_params = ["peephole_i"]     # optional per-unit parameter vectors (units,)
    recurrent_bias = false           # optional: read ax_<block> = x @ kernel + bias[0] and
                                     # ah_<block> = h_tm1 @ recurrent_kernel + bias[1] apart
    recurrent_blocks = ["z", "r"]    # optional: the blocks h_tm1 @ recurrent_kernel feeds; the
                                     # others' columns are products in the equations
                                     # (u_h = "rh @ recurrent_kernel[h]")

    [matrices]                       # optional weight matrices for products in the equations
    gate_recurrent_kernel = { rows = 3, blocks = ["i", "f", "o"] }  # (3 units, 3 units)

    [equations]                      # one line per textbook line, in order
    i = "sigmoid(a_i + peephole_i * c_tm1)"
    ...

Expressions use lstmgen's language (``lang.py``): numbers, names, ``+ - * /``, unary
minus, parentheses and activation calls; the text is parsed through an AST allowlist, never
evaluated.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .equations import SpecError, forward_program
from .spec import CellSpec, MatrixParam, class_name_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_FIELDS = {
    "name",
    "summary",
    "blocks",
    "states",
    "unit_params",
    "recurrent_bias",
    "recurrent_blocks",
    "matrices",
    "class_name",
    "equations",
}


class SpecFileError(ValueError):
    """A bad spec file; the message is ``<file>:<line>: <problem>``."""


def load_spec(path: str | Path) -> CellSpec:
    """Read, parse and check a spec file.

    Raises:
        SpecFileError: unreadable TOML, a missing or unknown field, or any problem of the
            cell itself (unknown name, unsupported operator, a state never updated, a gate
            block or value never used, a use before definition), naming the file and line.
    """
    source, path = os.fspath(path), Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecFileError(f"{path}: cannot read spec file: {error.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecFileError(f"{path}: invalid TOML: {error}") from None
    lines = text.splitlines()

    def fail(problem: str, key: str | None = None, table: str | None = None):
        line = _line_of(lines, key, table) if key else 0
        where = f"{path}:{line}" if line else str(path)
        raise SpecFileError(f"{where}: {problem}")

    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        fail(f"unknown field {unknown[0]!r}; expected {sorted(_FIELDS)}", unknown[0])
    for key in ("name", "blocks", "states", "equations"):
        if key not in data:
            fail(f"missing field {key!r}")
    name = data["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_\-]*", name):
        fail(f"name must be lower-case letters, digits, '_' or '-', got {name!r}", "name")
    for key in ("blocks", "states", "unit_params", "recurrent_blocks"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(v, str) and v.isidentifier() for v in value
        ):
            fail(f"{key} must be a list of names, got {value!r}", key)
    recurrent_bias = data.get("recurrent_bias", False)
    if not isinstance(recurrent_bias, bool):
        fail(f"recurrent_bias must be true or false, got {recurrent_bias!r}", "recurrent_bias")
    matrices = []
    for matrix, entry in data.get("matrices", {}).items():
        rows = entry.get("rows") if isinstance(entry, dict) else None
        blocks = entry.get("blocks") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or set(entry) != {"rows", "blocks"}
            or not isinstance(rows, int)
            or rows < 1
            or not isinstance(blocks, list)
            or not blocks
            or not all(isinstance(b, str) and b.isidentifier() for b in blocks)
        ):
            fail(
                f"matrix {matrix!r} must be {{ rows = <count>, blocks = [<names>] }}, "
                f"got {entry!r}",
                matrix,
                "matrices",
            )
        matrices.append(MatrixParam(matrix, rows, tuple(blocks)))
    if not data["states"]:
        fail("states must name at least one state", "states")
    equations = data["equations"]
    if not isinstance(equations, dict) or not all(isinstance(v, str) for v in equations.values()):
        fail('[equations] must be a table of name = "expression" lines', "equations")
    spec = CellSpec(
        name=name,
        summary=str(data.get("summary", f"user-defined cell from {path.name}")),
        blocks=tuple(data["blocks"]),
        states=tuple(data["states"]),
        statements=tuple(equations.items()),
        activation="",
        recurrent_activation="",
        class_name=str(data.get("class_name") or class_name_of(name)),
        keras_layer="",
        unit_params=tuple(data.get("unit_params", [])),
        recurrent_bias=recurrent_bias,
        matrix_params=tuple(matrices),
        recurrent_blocks=(tuple(data["recurrent_blocks"]) if "recurrent_blocks" in data else None),
        source=source,
    )
    try:
        forward_program(spec)
    except SpecError as error:
        if error.statement is not None:
            fail(error.problem, spec.statements[error.statement][0], "equations")
        fail(error.problem, {"matrix_params": "matrices"}.get(error.field, error.field))
    return spec


def _line_of(lines: list[str], key: str, table: str | None) -> int:
    """1-based line of ``key = ...`` (inside ``[table]`` when given), else 0."""
    inside = table is None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = table is not None and stripped == f"[{table}]"
            if inside and key == table:
                return number
            continue
        if inside and re.match(rf"{re.escape(key)}\s*=", stripped):
            return number
    return 0
