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
                                     # (u_h = "rh @ recurrent_kernel[h]"), or with no such
                                     # product the others read x alone (kernel narrower)

    [matrices]                       # optional weight matrices for products in the equations
    gate_recurrent_kernel = { rows = 3, blocks = ["i", "f", "o"] }  # (3 units, 3 units)
    projection = { rows = 1, blocks = ["h"], width = "proj_units" }  # (units, proj_units):
                                     # h = "m @ projection", the first state proj_units wide

    [equations]                      # one line per textbook line, in order
    i = "sigmoid(a_i + peephole_i * c_tm1)"
    ...

Expressions use lstmgen's language (``lang.py``): numbers, names, ``+ - * /``, unary
minus, parentheses, integer powers ``x**n`` (``|n| <= 8``), activation calls, ``exp log sqrt
abs log_sigmoid stop_gradient``, ``max(a, b)``, ``min(a, b)`` and ``clip(x, lo, hi)``; the
text is parsed through an AST allowlist, never evaluated, and each line is at most 1000
characters and 40 levels deep. The loader also derives and prints the backward step, so
any problem of the cell surfaces here as ``file:line: problem`` (one line).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import keyword
import os
import re
import sys
import textwrap
from pathlib import Path

from . import derive, printers
from .equations import SpecError, forward_program, name_problem, reads
from .lang import non_finite, shorten
from .program import Assignment
from .spec import (
    VARIANTS,
    CellSpec,
    MatrixParam,
    VectorParam,
    class_name_of,
    resolve_variant,
)

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
    "inputs",
    "vectors",
    "matrices",
    "class_name",
    "equations",
}


class SpecFileError(ValueError):
    """A bad spec file; the message is ``<file>:<line>: <problem>``."""


CELLS = Path(__file__).resolve().parent / "cells"


@functools.cache
def builtin_cells() -> dict[str, CellSpec]:
    """The cells the package ships as spec files (``lstmgen/cells/*.toml``), by name,
    read by the loader ``--spec`` uses; named by ``--variant``, so they carry no source."""
    cells = (
        dataclasses.replace(load_spec(path, builtin=True), source="")
        for path in sorted(CELLS.glob("*.toml"))
    )
    return {spec.name: spec for spec in cells}


def all_variants() -> dict[str, CellSpec]:
    """Every built-in variant: the Python-defined family (``spec.VARIANTS``), then the
    cells shipped as spec files."""
    return {**VARIANTS, **builtin_cells()}


def resolve(name: str, activations: tuple[str, ...] = ()) -> CellSpec:
    """A built-in cell by name, else ``spec.resolve_variant`` (options, activations)."""
    cells = builtin_cells()
    return cells.get(name) or resolve_variant(name, activations, tuple(cells))


def load_spec(path: str | Path, builtin: bool = False) -> CellSpec:
    """Read, parse and check a spec file.

    Raises:
        SpecFileError: unreadable TOML, a missing or unknown field, or any problem of the
            cell itself (unknown name, unsupported operator, a state never updated, a gate
            block or value never used, a use before definition, a number or a derivative
            that is not finite), naming the file and line. The message is one line; text
            from the file is echoed cut to about 80 characters.
    """
    source, path = os.fspath(path), Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecFileError(f"{path}: cannot read spec file: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise SpecFileError(f"{path}: not UTF-8 text: {error.reason}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib ends its message with "(at line 3, column 5)": the line goes in front.
        message = _one_line(str(error))
        at = re.search(r" \(at line (\d+), column (\d+)\)$", message)
        where = f"{path}:{at[1]}" if at else str(path)
        problem = f"{message[: at.start()]} (column {at[2]})" if at else message
        raise SpecFileError(f"{where}: invalid TOML: {problem}") from None
    except RecursionError:
        raise SpecFileError(f"{path}: invalid TOML: nested too deeply") from None
    lines = text.splitlines()

    def fail(problem: str, key: str | None = None, table: str | None = None):
        line = _line_of(lines, key, table) if key else 0
        where = f"{path}:{line}" if line else str(path)
        raise SpecFileError(f"{where}: {_one_line(problem)}")

    try:
        spec = _check(path, data, fail, source)
    except RecursionError:
        fail("the cell is too deeply nested to derive; split long lines into several")
    if not builtin:
        _check_not_builtin(spec, fail)
    return spec


def _check_not_builtin(spec: CellSpec, fail) -> None:
    """A spec file may not take a built-in variant's name or class name: two modules of one
    name (or one Keras class) with other equations would shadow each other."""
    taken = all_variants()
    try:
        resolve_variant(spec.name)
        named = True
    except ValueError:
        named = False
    if spec.name in taken or named:
        fail(f"name {spec.name!r} is a built-in variant's; give the cell a name of its own", "name")
    classes = {v.class_name: v.name for v in taken.values()}
    if spec.class_name in classes:
        fail(
            f"class_name {spec.class_name!r} is built-in variant {classes[spec.class_name]!r}'s; "
            "set class_name (or the name) to one of its own",
            "class_name",
        )


def _check(path: Path, data: dict, fail, source: str) -> CellSpec:
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        fail(f"unknown field {shorten(unknown[0])}; expected {sorted(_FIELDS)}", unknown[0])
    for key in ("name", "blocks", "states", "equations"):
        if key not in data:
            fail(f"missing field {key!r}")
    name = data["name"]
    if spec_name_problem(name):
        fail(spec_name_problem(name), "name")
    for key in ("blocks", "states", "unit_params", "recurrent_blocks"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(v, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", v) for v in value
        ):
            fail(f"{key} must be a list of names, got {shorten(value)}", key)
        if len(set(value)) != len(value):
            fail(f"{key} names one name twice: {shorten(value)}", key)
    for key in ("states", "unit_params"):
        for value in data.get(key, []):
            if name_problem(value):
                fail(f"{key}: {name_problem(value)}", key)
    summary = data.get("summary", f"user-defined cell from {_plain(path.name)}")
    if not isinstance(summary, str) or not re.fullmatch(r"[^\\\"\x00-\x1f\x7f]{0,200}", summary):
        fail(
            "summary must be one line of at most 200 characters without quotes or "
            f"backslashes, got {shorten(summary)}",
            "summary",
        )
    class_name = data.get("class_name") or class_name_of(name)
    if (
        not isinstance(class_name, str)
        or not re.fullmatch(r"[A-Z][A-Za-z0-9_]{0,63}", class_name)
        or keyword.iskeyword(class_name)
    ):
        fail(
            f"class_name must be a Python class name (A-Z first), got {shorten(class_name)}",
            "class_name",
        )
    recurrent_bias = data.get("recurrent_bias", False)
    if not isinstance(recurrent_bias, bool):
        fail(f"recurrent_bias must be true or false, got {recurrent_bias!r}", "recurrent_bias")
    inputs = data.get("inputs", "apart" if recurrent_bias else "sum")
    if inputs not in INPUTS or (recurrent_bias and inputs != "apart"):
        fail(
            f'inputs must be one of {sorted(INPUTS)} (recurrent_bias = true is "apart"), '
            f"got {shorten(inputs)}",
            "inputs",
        )
    vectors = _vectors(data.get("vectors", {}), data, fail)
    matrices = []
    if not isinstance(data.get("matrices", {}), dict):
        fail("[matrices] must be a table of name = { rows, blocks, width } entries", "matrices")
    for matrix, entry in data.get("matrices", {}).items():
        if name_problem(matrix):
            fail(f"matrix {name_problem(matrix)}", matrix, "matrices")
        rows = entry.get("rows") if isinstance(entry, dict) else None
        blocks = entry.get("blocks") if isinstance(entry, dict) else None
        width = entry.get("width", "units") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or not {"rows", "blocks"} <= set(entry) <= {"rows", "blocks", "width"}
            or width not in WIDTHS
            or not isinstance(rows, int)
            or isinstance(rows, bool)
            or not 1 <= rows <= 64
            or not isinstance(blocks, list)
            or not blocks
            or len(set(blocks)) != len(blocks)
            or not all(
                isinstance(b, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", b)
                for b in blocks
            )
        ):
            fail(
                f"matrix {matrix!r} must be {{ rows = <count>, blocks = [<names>] }} (and "
                f'optionally width = "units" or "proj_units"), got {shorten(entry)}',
                matrix,
                "matrices",
            )
        matrices.append(MatrixParam(matrix, rows, tuple(blocks), width))
    if not data["states"]:
        fail("states must name at least one state", "states")
    equations = data["equations"]
    if not isinstance(equations, dict) or not all(isinstance(v, str) for v in equations.values()):
        fail('[equations] must be a table of name = "expression" lines', "equations", "equations")
    spec = CellSpec(
        name=name,
        summary=summary,
        blocks=tuple(data["blocks"]),
        states=tuple(data["states"]),
        statements=tuple(equations.items()),
        activation="",
        recurrent_activation="",
        class_name=class_name,
        keras_layer="",
        unit_params=tuple(data.get("unit_params", [])),
        recurrent_bias=inputs == "apart",
        products_apart=inputs == "products",
        vectors=vectors,
        matrix_params=tuple(matrices),
        recurrent_blocks=(tuple(data["recurrent_blocks"]) if "recurrent_blocks" in data else None),
        source=source,
    )
    inputs = [f"{group}_{block}" for group in spec.preactivation_groups for block in spec.blocks]
    inputs += [f"{state}_tm1" for state in spec.states] + list(spec.unit_params)
    inputs += [m.name for m in spec.matrix_params] + [v.name for v in spec.vectors]
    twice = sorted({n for n in inputs if inputs.count(n) > 1})
    if twice:
        fail(f"{twice[0]!r} names two inputs of the cell (a block, state or parameter)")
    try:
        forward = forward_program(spec)
    except SpecError as error:
        if error.statement is not None:
            fail(error.problem, spec.statements[error.statement][0], "equations")
        fail(error.problem, {"matrix_params": "matrices"}.get(error.field, error.field))
    _check_adjoints(spec, forward, fail)
    return spec


def _check_adjoints(spec: CellSpec, forward, fail) -> None:
    """Derive and print the backward step here, so that whatever the derivation makes of
    the text (a derivative with a non-finite constant, ``1e308 * a**2``) is refused with
    the line it came from, before anything is written."""
    backward = derive.adjoint_program(forward)
    targets = [a.target for a in forward.assignments]
    for block in backward.blocks:
        line = spec.statements[targets.index(block.forward.target)][0]
        for a in block.assignments:
            problem = non_finite(a.expr) if isinstance(a, Assignment) else ""
            if problem:
                fail(f"the derivative of this line: {problem}", line, "equations")
    inputs = (*forward.preactivations, *forward.unit_params)
    adjoints = (*backward.d_preactivations, *backward.d_unit_params)
    for x, d_x in zip(inputs, adjoints, strict=True):
        if _is_constant(backward, d_x):
            reader = next(a for a in forward.assignments if x in reads(a))
            line = spec.statements[forward.assignments.index(reader)][0]
            fail(
                f"{x.name!r} gets no gradient: it is read only through stop_gradient, so "
                "its weights could not learn",
                line,
                "equations",
            )
    # The NumPy-API targets (numpy, jax) print alike (one printer, another alias): one check.
    for target in dict.fromkeys(
        printers.NUMPY_API[0] if t in printers.NUMPY_API else t for t in printers.TARGETS
    ):
        try:
            printers.print_programs(forward, backward, target)
        except (TypeError, ValueError) as error:
            fail(f"cannot print the {target} code: {shorten(error, 120)}", "equations", "equations")


# How the gate blocks' inputs reach the equations: ``a_<block>`` (the sum of both products
# and the bias), ``ax_<block>`` / ``ah_<block>`` (each product with its bias row), or the
# bare products ``wx_<block>`` / ``uh_<block>`` with the bias read as ``bias[<block>]``.
INPUTS = {"sum", "apart", "products"}
# The widths of a matrix's column blocks: units, or the projection size (LSTMP's h =
# m @ projection) that the layer takes as ``proj_units``.
WIDTHS = ("units", "proj_units")
_VECTOR_KEYS = {"blocks", "initializer", "argument"}


def _vectors(table, data: dict, fail) -> tuple[VectorParam, ...]:
    """``[vectors]``: ``name = { blocks = [...], initializer = "ones", argument = "..." }``,
    every key optional; vectors that share an argument must share their initializer."""
    if not isinstance(table, dict):
        fail("[vectors] must be a table of name = { blocks, initializer, argument }", "vectors")
    vectors, defaults = [], {}
    for name, entry in table.items():
        if name_problem(name):
            fail(f"vector {name_problem(name)}", name, "vectors")
        entry = entry if isinstance(entry, dict) else {"?": entry}
        blocks = entry.get("blocks", [])
        initializer = entry.get("initializer", "zeros")
        argument = entry.get("argument", name)
        if (
            set(entry) - _VECTOR_KEYS
            or not isinstance(blocks, list)
            or len(set(blocks)) != len(blocks)
            or not all(isinstance(b, str) and b in data.get("blocks", []) for b in blocks)
            or not isinstance(initializer, str)
            or not _initializer_ok(initializer)
            or not isinstance(argument, str)
            or name_problem(argument)
        ):
            fail(
                f"vector {name!r} must be {{ blocks = [<gate blocks>], initializer = "
                f'"<Keras initializer or JSON config>", argument = "<name>" }}, '
                f"got {shorten(entry)}",
                name,
                "vectors",
            )
        if defaults.setdefault(argument, initializer) != initializer:
            fail(
                f"vectors sharing argument {argument!r} need one initializer, got "
                f"{shorten(defaults[argument])} and {shorten(initializer)}",
                name,
                "vectors",
            )
        vectors.append(VectorParam(name, tuple(blocks), initializer, argument))
    return tuple(vectors)


def _initializer_ok(text: str) -> bool:
    """A Keras initializer name, or a JSON object with a class name and a config."""
    if re.fullmatch(r"[a-z][a-z0-9_]{0,63}", text):
        return True
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return (
        isinstance(value, dict)
        and set(value) <= {"class_name", "config"}
        and isinstance(value.get("class_name"), str)
        and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", value["class_name"]) is not None
        and isinstance(value.get("config", {}), dict)
        and all(
            isinstance(k, str) and isinstance(v, (int, float, str, bool, type(None)))
            for k, v in value.get("config", {}).items()
        )
    )


def _is_constant(backward, adjoint) -> bool:
    """Whether the last assignment of ``adjoint`` holds a number (no name)."""
    value = None
    for block in backward.blocks:
        for a in block.assignments:
            if isinstance(a, Assignment) and a.target == adjoint:
                value = a.expr
    return value is not None and not value.free_symbols


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _plain(text: str) -> str:
    """``text`` without quotes, backslashes or control characters (a file name in a
    docstring)."""
    return re.sub(r"[\\\"\x00-\x1f\x7f]", "_", text)[:80]


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


def spec_name_problem(name) -> str | None:
    """Why ``name`` cannot name a spec file's cell, or None."""
    if isinstance(name, str) and _SPEC_NAME.fullmatch(name):
        return None
    return f"name must be lower-case letters, digits, '_' or '-' (at most 64), got {shorten(name)}"


_SPEC_NAME = re.compile(r"[a-z][a-z0-9_\-]{0,63}")


def spec_file_text(spec: CellSpec, name: str) -> str:
    """``spec`` as a spec file named ``name``: what ``load_spec`` reads back as the same
    cell (the same blocks, states, inputs, parameters and equations), for a user to copy
    and change. What a spec file does not carry (the Keras layer a built-in reproduces,
    its Keras options) is said in a comment.

    Raises:
        ValueError: ``name`` is not a spec file's name (``spec_name_problem``), or the cell
            has a weight matrix of a width spec files cannot write (``WIDTHS``).
    """
    if spec_name_problem(name):
        raise ValueError(spec_name_problem(name))
    wide = [m for m in spec.matrix_params if m.width not in WIDTHS]
    if wide:
        raise ValueError(
            f"variant {spec.name!r}: weight matrix {wide[0].name!r} is {wide[0].width} wide; "
            f"spec files write {' or '.join(WIDTHS)} wide matrices only"
        )
    lines = [*_spec_file_comment(spec), *_spec_file_fields(spec, name)]
    if spec.vectors:
        lines += ["", "[vectors]", *(f"{v.name} = {_vector_entry(v)}" for v in spec.vectors)]
    if spec.matrix_params:
        lines += ["", "[matrices]", *(f"{m.name} = {_matrix_entry(m)}" for m in spec.matrix_params)]
    lines += ["", "[equations]", *(f"{t} = {_toml_string(text)}" for t, text in spec.statements)]
    return "\n".join(lines) + "\n"


def _spec_file_comment(spec: CellSpec) -> list[str]:
    """What the file is, and what of the built-in it does not carry."""
    lines = [
        f"# {spec.name} as a spec file: `lstmgen emit --spec <this file>` generates the same",
        "# cell under its own name. Copy it, change it, verify it with `lstmgen verify --spec`.",
    ]
    if spec.keras_layer:
        options = "".join(f", {key}={value}" for key, value in spec.keras_options)
        note = (
            f"Not carried over: {spec.name}'s layer is a drop-in for keras.layers."
            f"{spec.keras_layer} (activation={spec.activation!r}, recurrent_activation="
            f"{spec.recurrent_activation!r}{options}); this cell's layer is a class of its own."
        )
        lines += [f"# {line}" for line in textwrap.wrap(note, 86)]
    return lines


def _spec_file_fields(spec: CellSpec, name: str) -> list[str]:
    """The top-level fields: name, summary, blocks, states, and those that differ from
    their defaults."""
    lines = [
        f"name = {_toml_string(name)}",
        f"summary = {_toml_string(_plain_summary(spec.summary))}",
        f"blocks = {_toml_list(spec.blocks)}",
        f"states = {_toml_list(spec.states)}",
    ]
    if spec.unit_params:
        lines.append(f"unit_params = {_toml_list(spec.unit_params)}")
    if spec.recurrent_bias or spec.products_apart:
        lines.append(f'inputs = "{"apart" if spec.recurrent_bias else "products"}"')
    if spec.recurrent_blocks is not None:
        lines.append(f"recurrent_blocks = {_toml_list(spec.recurrent_blocks)}")
    return lines


def _toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's."""
    return json.dumps(text)


def _toml_list(names) -> str:
    return "[" + ", ".join(_toml_string(n) for n in names) + "]"


def _matrix_entry(matrix: MatrixParam) -> str:
    width = "" if matrix.width == "units" else f", width = {_toml_string(matrix.width)}"
    return f"{{ rows = {matrix.rows}, blocks = {_toml_list(matrix.blocks)}{width} }}"


def _vector_entry(vector: VectorParam) -> str:
    items = [f"initializer = {_toml_string(vector.initializer)}"]
    if vector.blocks:
        items.insert(0, f"blocks = {_toml_list(vector.blocks)}")
    if vector.argument and vector.argument != vector.name:
        items.append(f"argument = {_toml_string(vector.argument)}")
    return "{ " + ", ".join(items) + " }"


def _plain_summary(text: str) -> str:
    """A summary a spec file takes: one line, no quotes or backslashes, 200 characters."""
    return re.sub(r"[\\\"\x00-\x1f\x7f]", "'", text)[:200]
