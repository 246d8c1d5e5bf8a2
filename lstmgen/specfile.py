"""Spec files: a TOML file describing a cell -> CellSpec, with errors that name file and line.

Format (see ``examples/``)::

    name = "my_cell"                 # variant name, also the generated file name
    summary = "One line about it"
    blocks = ["i", "f", "c", "o"]    # gate blocks, kernel column order
    states = ["h", "c"]              # states[0] is the output and the recurrent input
    unit_params = ["peephole_i"]     # optional per-unit parameter vectors (units,)

    [equations]                      # one line per textbook line, in order
    i = "sigmoid(a_i + peephole_i * c_tm1)"
    ...

Expressions use lstmgen's language (``lang.py``): numbers, names, ``+ - * /``, unary
minus, parentheses and activation calls; the text is parsed through an AST allowlist, never
evaluated.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .equations import SpecError, forward_program
from .spec import CellSpec, class_name_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_FIELDS = {"name", "summary", "blocks", "states", "unit_params", "class_name", "equations"}


class SpecFileError(ValueError):
    """A bad spec file; the message is ``<file>:<line>: <problem>``."""


def load_spec(path: str | Path) -> CellSpec:
    """Read, parse and check a spec file.

    Raises:
        SpecFileError: unreadable TOML, a missing or unknown field, or any problem of the
            cell itself (unknown name, unsupported operator, a state never updated, a gate
            block or value never used, a use before definition), naming the file and line.
    """
    path = Path(path)
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
    for key in ("blocks", "states", "unit_params"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(v, str) and v.isidentifier() for v in value
        ):
            fail(f"{key} must be a list of names, got {value!r}", key)
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
    )
    try:
        forward_program(spec)
    except SpecError as error:
        if error.statement is not None:
            fail(error.problem, spec.statements[error.statement][0], "equations")
        fail(error.problem, error.field)
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
