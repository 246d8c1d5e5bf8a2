"""Forward equations: CellSpec -> ForwardProgram (checked, per-unit SymPy assignments)."""

from __future__ import annotations

import sympy as sp

from .activations import ACTIVATIONS
from .lang import ExpressionError, parse_expression
from .program import Assignment, ForwardProgram
from .spec import CellSpec


class SpecError(ValueError):
    """A spec that does not describe a valid cell; the message names the line.

    Attributes:
        problem: the problem alone, without the variant and statement prefix.
        statement: 0-based index of the offending statement, or None.
        field: the spec field at fault when no statement is (``states``, ``blocks``,
            ``unit_params``), or None.
    """

    def __init__(self, message: str, problem: str = "", statement=None, field=None):
        super().__init__(message)
        self.problem = problem or message
        self.statement = statement
        self.field = field


def forward_program(spec: CellSpec) -> ForwardProgram:
    """Parse and check the spec's update lines.

    Raises:
        SpecError: unknown name or activation, a name assigned twice or shadowing an input,
            a state never updated, a gate block or a value never used.
    """
    preactivations = tuple(sp.Symbol(f"a_{block}") for block in spec.blocks)
    states_tm1 = tuple(sp.Symbol(f"{state}_tm1") for state in spec.states)
    unit_params = tuple(sp.Symbol(name) for name in spec.unit_params)
    names = {s.name: s for s in preactivations + states_tm1 + unit_params}
    functions = {name: ACTIVATIONS[name] for name in sorted(ACTIVATIONS)}
    assignments = []
    for number, (target, text) in enumerate(spec.statements, start=1):
        where = f"variant {spec.name!r}, statement {number} ({target} = {text})"
        if not target.isidentifier() or target in functions:
            problem = f"{target!r} is not a valid name to assign"
            raise SpecError(f"{where}: {problem}", problem, number - 1)
        if target in names:
            problem = f"{target!r} is already defined"
            raise SpecError(f"{where}: {problem}", problem, number - 1)
        try:
            expr = parse_expression(text, names, functions)
        except ExpressionError as error:
            problem = error.message
            if "unknown name" in problem:
                problem += " (lines run in order: a name is known only after its line)"
            raise SpecError(f"{where}: {problem}", problem, number - 1) from None
        symbol = sp.Symbol(target)
        names[target] = symbol
        assignments.append(Assignment(symbol, expr, f"{target} = {text.strip()}"))
    program = ForwardProgram(
        preactivations=preactivations,
        states_tm1=states_tm1,
        states=tuple(sp.Symbol(state) for state in spec.states),
        assignments=tuple(assignments),
        unit_params=unit_params,
    )
    _check_uses(spec, program)
    return program


def _check_uses(spec: CellSpec, program: ForwardProgram) -> None:
    targets = {a.target for a in program.assignments}
    for state in program.states:
        if state not in targets:
            problem = f"state {state.name!r} is never updated"
            raise SpecError(f"variant {spec.name!r}: {problem}", problem, field="states")
    used = set().union(*(a.expr.free_symbols for a in program.assignments))
    for a in program.preactivations:
        if a not in used:
            problem = f"gate block pre-activation {a.name!r} is never used"
            raise SpecError(f"variant {spec.name!r}: {problem}", problem, field="blocks")
    for p in program.unit_params:
        if p not in used:
            problem = f"parameter {p.name!r} is never used"
            raise SpecError(f"variant {spec.name!r}: {problem}", problem, field="unit_params")
    for a in program.assignments:
        if a.target not in used and a.target not in program.states:
            problem = f"{a.target.name!r} is never used"
            index = program.assignments.index(a)
            raise SpecError(f"variant {spec.name!r}: {a.text!r}: {problem}", problem, index)
