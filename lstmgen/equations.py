"""Forward equations: CellSpec -> ForwardProgram (checked, per-unit SymPy assignments)."""

from __future__ import annotations

import sympy as sp

from .activations import ACTIVATIONS
from .lang import ExpressionError, parse_expression
from .program import Assignment, ForwardProgram
from .spec import CellSpec


class SpecError(ValueError):
    """A spec that does not describe a valid cell; the message names the line."""


def forward_program(spec: CellSpec) -> ForwardProgram:
    """Parse and check the spec's update lines.

    Raises:
        SpecError: unknown name or activation, a name assigned twice or shadowing an input,
            a state never updated, a gate block or a value never used.
    """
    preactivations = tuple(sp.Symbol(f"a_{block}") for block in spec.blocks)
    states_tm1 = tuple(sp.Symbol(f"{state}_tm1") for state in spec.states)
    names = {s.name: s for s in preactivations + states_tm1}
    functions = {name: ACTIVATIONS[name] for name in sorted(ACTIVATIONS)}
    assignments = []
    for number, (target, text) in enumerate(spec.statements, start=1):
        where = f"variant {spec.name!r}, statement {number} ({target} = {text})"
        if not target.isidentifier() or target in functions:
            raise SpecError(f"{where}: {target!r} is not a valid name to assign")
        if target in names:
            raise SpecError(f"{where}: {target!r} is already defined")
        try:
            expr = parse_expression(text, names, functions)
        except ExpressionError as error:
            raise SpecError(f"{where}: {error.message}") from None
        symbol = sp.Symbol(target)
        names[target] = symbol
        assignments.append(Assignment(symbol, expr, f"{target} = {text.strip()}"))
    program = ForwardProgram(
        preactivations=preactivations,
        states_tm1=states_tm1,
        states=tuple(sp.Symbol(state) for state in spec.states),
        assignments=tuple(assignments),
    )
    _check_uses(spec, program)
    return program


def _check_uses(spec: CellSpec, program: ForwardProgram) -> None:
    targets = {a.target for a in program.assignments}
    for state in program.states:
        if state not in targets:
            raise SpecError(f"variant {spec.name!r}: state {state.name!r} is never updated")
    used = set().union(*(a.expr.free_symbols for a in program.assignments))
    for a in program.preactivations:
        if a not in used:
            raise SpecError(
                f"variant {spec.name!r}: gate block pre-activation {a.name!r} is never used"
            )
    for a in program.assignments:
        if a.target not in used and a.target not in program.states:
            raise SpecError(f"variant {spec.name!r}: {a.text!r}: {a.target.name!r} is never used")
