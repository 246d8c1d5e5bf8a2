"""Forward equations: CellSpec -> ForwardProgram (checked, per-unit SymPy assignments)."""

from __future__ import annotations

import keyword
import re
from dataclasses import replace

import sympy as sp

from .activations import ACTIVATIONS, BINARY, FUNCTIONS, UNARY
from .lang import ExpressionError, parse_expression, parse_product, parse_reduction, shorten
from .program import Assignment, ForwardProgram, Product, Reduction
from .spec import CellSpec

# Names the generated modules use next to the spec's own: a spec may not assign them.
RESERVED = frozenset(
    {"np", "tf", "keras", "a", "ax", "ah", "kernel", "recurrent_kernel", "bias", "x"}
    | set(ACTIVATIONS)
    | set(UNARY)
    | set(BINARY)
    | set(FUNCTIONS)
)


def name_problem(name: str) -> str:
    """Why ``name`` cannot name a value of the cell (state, parameter, line), or ""."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", name):
        return f"{shorten(name)} is not a valid name (ASCII letters, digits, '_', at most 64)"
    if keyword.iskeyword(name) or name in RESERVED or name.startswith("d_"):
        return (
            f"{name!r} is reserved (Python keywords, function names, {sorted(RESERVED)[:6]}"
            "..., and 'd_' names, which hold adjoints)"
        )
    return ""


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
    preactivations = tuple(
        sp.Symbol(f"{group}_{block}")
        for group in spec.preactivation_groups
        for block in spec.blocks
    )
    states_tm1 = tuple(sp.Symbol(f"{state}_tm1") for state in spec.states)
    per_unit = unit_param_symbols(spec)
    names = {s.name: s for s in preactivations + states_tm1} | per_unit
    unit_params = tuple(per_unit.values())
    weights = {m.name: m.blocks for m in spec.matrix_params}
    rows = {m.name: m.rows for m in spec.matrix_params}
    if spec.recurrent_blocks is not None:
        # The blocks the recurrent product does not feed are read inside the step.
        weights["recurrent_kernel"] = spec.blocks
        rows["recurrent_kernel"] = 1
    functions = {name: ACTIVATIONS[name] for name in sorted(ACTIVATIONS)}
    assignments = []
    for number, (target, text) in enumerate(spec.statements, start=1):
        where = f"variant {spec.name!r}, statement {number} ({shorten(f'{target} = {text}')})"
        problem = name_problem(target)
        if problem:
            problem = f"cannot assign: {problem}"
            raise SpecError(f"{where}: {problem}", problem, number - 1)
        if target in names or target in {s.name for s in names.values()}:
            problem = f"{target!r} is already defined"
            raise SpecError(f"{where}: {problem}", problem, number - 1)
        try:
            product = parse_product(text, names, weights)
            reduction = None if product else parse_reduction(text, names, functions)
            expr = None if product or reduction else parse_expression(text, names, functions)
        except ExpressionError as error:
            problem = error.message
            if "unknown name" in problem:
                problem += " (lines run in order: a name is known only after its line)"
            raise SpecError(f"{where}: {problem}", problem, number - 1) from None
        if expr is not None and not expr.free_symbols:
            problem = (
                f"{shorten(f'{target} = {text.strip()}')} reads no name; "
                "write the number where it is used"
            )
            raise SpecError(f"{where}: {problem}", problem, number - 1)
        symbol = sp.Symbol(target)
        names[target] = symbol
        line = f"{target} = {text.strip()}"
        if product:
            sources, weight, block = product
            if len(sources) != rows[weight]:
                problem = (
                    f"{weight} has {rows[weight]} * units rows; the product's source must "
                    f"concatenate {rows[weight]} values, got {len(sources)}"
                )
                raise SpecError(f"{where}: {problem}", problem, number - 1)
            block_index = weights[weight].index(block)
            count = len(weights[weight])
            assignments.append(Product(symbol, sources, weight, block_index, block, line, count))
        elif reduction:
            assignments.append(Reduction(symbol, reduction[1], reduction[0], line))
        else:
            assignments.append(Assignment(symbol, expr, line))
    program = ForwardProgram(
        preactivations=preactivations,
        states_tm1=states_tm1,
        states=tuple(sp.Symbol(state) for state in spec.states),
        assignments=tuple(assignments),
        unit_params=unit_params,
        recurrent_bias=spec.recurrent_bias,
        products_apart=spec.products_apart,
        unit_sources=unit_param_sources(spec),
        matrix_params=tuple(m.name for m in spec.matrix_params),
        recurrent_blocks=tuple(
            k
            for k, block in enumerate(spec.blocks)
            if spec.recurrent_blocks is None or block in spec.recurrent_blocks
        ),
    )
    reads_recurrent = any(
        isinstance(a, Product) and a.weight == "recurrent_kernel" for a in assignments
    )
    has_kernel = bool(program.recurrent_blocks) or reads_recurrent
    # The blocks recurrent_kernel has columns for: all when a product inside the step reads
    # the ones the recurrent product does not feed, else the fed ones (gates from x alone).
    columns = range(len(spec.blocks)) if reads_recurrent else program.recurrent_blocks
    program = replace(
        program, recurrent_kernel=has_kernel, recurrent_columns=tuple(columns) if has_kernel else ()
    )
    if spec.products_apart and (spec.recurrent_bias or spec.recurrent_blocks is not None):
        problem = "products apart need recurrent_bias false and every block fed"
        raise SpecError(f"variant {spec.name!r}: {problem}", problem, field="inputs")
    if spec.recurrent_bias and not program.recurrent_blocks:
        problem = "recurrent_bias needs a recurrent product; recurrent_blocks is empty"
        raise SpecError(f"variant {spec.name!r}: {problem}", problem, field="recurrent_bias")
    _check_uses(spec, program)
    state_widths, rows = _state_widths(spec, program)
    return replace(program, state_widths=state_widths, row_values=rows)


def unit_param_symbols(spec: CellSpec) -> dict[str, sp.Symbol]:
    """Every per-unit parameter by the name the statements read it with: with
    ``products_apart`` the bias blocks (``bias[i]`` -> ``bias_i``), then the per-unit
    parameters, then each vector (``peephole_f``, or per block: ``gamma[i]`` -> ``gamma_i``);
    in PARAM_NAMES order."""
    symbols = {}
    if spec.products_apart:
        symbols.update({f"bias[{b}]": sp.Symbol(f"bias_{b}") for b in spec.blocks})
    symbols.update({name: sp.Symbol(name) for name in spec.unit_params})
    for vector in spec.vectors:
        if vector.blocks:
            symbols.update(
                {f"{vector.name}[{b}]": sp.Symbol(f"{vector.name}_{b}") for b in vector.blocks}
            )
        else:
            symbols[vector.name] = sp.Symbol(vector.name)
    return symbols


def reads(statement: Assignment | Product | Reduction) -> set[sp.Symbol]:
    """The names a forward statement reads."""
    if isinstance(statement, Product):
        return set(statement.sources)
    if isinstance(statement, Reduction):
        return set().union(*(t.free_symbols for t in statement.terms))
    return set(statement.expr.free_symbols)


def unit_param_sources(spec: CellSpec) -> tuple[tuple[str, int], ...]:
    """(parameter, gate block index or -1) of each unit parameter, in ``unit_param_symbols``
    order."""
    sources = [("bias", k) for k in range(len(spec.blocks))] if spec.products_apart else []
    sources += [(name, -1) for name in spec.unit_params]
    for vector in spec.vectors:
        sources += [(vector.name, k) for k in range(len(vector.blocks))] or [(vector.name, -1)]
    return tuple(sources)


def _state_widths(
    spec: CellSpec, program: ForwardProgram
) -> tuple[tuple[str, ...], tuple[sp.Symbol, ...]]:
    """Each state's size: ``units``, or the width of the product that defines it. Per-unit
    lines and product sources read ``units``-wide values only."""
    width_of_weight = {m.name: m.width for m in spec.matrix_params}
    widths = {}
    for a in program.assignments:
        if isinstance(a, Product):
            widths[a.target] = width_of_weight.get(a.weight, "units")
    state_widths = tuple(widths.get(s, "units") for s in program.states)
    for index, a in enumerate(program.assignments):
        if a.target in program.states[1:] and widths.get(a.target, "units") != "units":
            problem = (
                f"state {a.target.name!r} is {widths[a.target]} wide; only the first state "
                "(the output and recurrent input) may have another width than units"
            )
            raise SpecError(f"variant {spec.name!r}: {a.text!r}: {problem}", problem, index)
    widths.update(zip(program.states_tm1, state_widths, strict=True))
    rows = set()
    for index, a in enumerate(program.assignments):
        read = reads(a)
        if isinstance(a, Reduction):
            rows.add(a.target)
            for term in a.terms:
                if term.free_symbols <= rows:
                    problem = "a reduction's term must vary across units (it reads row values only)"
                    raise SpecError(f"variant {spec.name!r}: {a.text!r}: {problem}", problem, index)
        elif isinstance(a, Assignment) and read and read <= rows:
            rows.add(a.target)
        if isinstance(a, Product) and rows & set(read):
            problem = "a product's source must be units wide, not a row value (a reduction)"
            raise SpecError(f"variant {spec.name!r}: {a.text!r}: {problem}", problem, index)
        if a.target in program.states and a.target in rows:
            problem = f"state {a.target.name!r} is one value per row; states are units wide"
            raise SpecError(f"variant {spec.name!r}: {a.text!r}: {problem}", problem, index)
        for name in sorted(read, key=str):
            if widths.get(name, "units") != "units":
                problem = (
                    f"{name.name!r} is {widths[name]} wide; per-unit lines and product "
                    "sources read units-wide values only"
                )
                raise SpecError(f"variant {spec.name!r}: {a.text!r}: {problem}", problem, index)
    return state_widths, tuple(a.target for a in program.assignments if a.target in rows)


def _check_uses(spec: CellSpec, program: ForwardProgram) -> None:
    targets = {a.target for a in program.assignments}
    for state in program.states:
        if state not in targets:
            problem = f"state {state.name!r} is never updated"
            raise SpecError(f"variant {spec.name!r}: {problem}", problem, field="states")
    used = set().union(*(reads(a) for a in program.assignments))
    for a in program.preactivations:
        if a not in used:
            problem = f"gate block pre-activation {a.name!r} is never used"
            raise SpecError(f"variant {spec.name!r}: {problem}", problem, field="blocks")
    for p in program.unit_params:
        if p not in used:
            problem = f"parameter {p.name!r} is never used"
            raise SpecError(f"variant {spec.name!r}: {problem}", problem, field="unit_params")
    products = [a for a in program.assignments if isinstance(a, Product)]
    read = [(a.weight, a.block_name) for a in products]
    for index, a in enumerate(program.assignments):
        if isinstance(a, Product) and read.count((a.weight, a.block_name)) > 1:
            problem = f"block {a.block_name!r} of {a.weight!r} is read by more than one product"
            raise SpecError(f"variant {spec.name!r}: {a.text!r}: {problem}", problem, index)
        if (
            isinstance(a, Product)
            and a.weight == "recurrent_kernel"
            and a.block_name in spec.recurrent_blocks
        ):
            problem = (
                f"block {a.block_name!r} of 'recurrent_kernel' already feeds the recurrent "
                f"product (recurrent_blocks {list(spec.recurrent_blocks)})"
            )
            raise SpecError(f"variant {spec.name!r}: {a.text!r}: {problem}", problem, index)
    in_step = [(m.name, block) for m in spec.matrix_params for block in m.blocks]
    if spec.recurrent_blocks is not None:
        unknown = sorted(set(spec.recurrent_blocks) - set(spec.blocks))
        if unknown:
            problem = f"recurrent_blocks names {unknown[0]!r}, not a gate block {list(spec.blocks)}"
            raise SpecError(f"variant {spec.name!r}: {problem}", problem, field="recurrent_blocks")
        # Each block with recurrent_kernel columns that the recurrent product does not feed
        # is a product's (GRU's reset-after candidate).
        in_step += [
            ("recurrent_kernel", block)
            for k, block in enumerate(spec.blocks)
            if k in program.recurrent_columns and k not in program.recurrent_blocks
        ]
    for weight, block in in_step:
        if (weight, block) not in read:
            problem = f"block {block!r} of {weight!r} is never used"
            field = "recurrent_blocks" if weight == "recurrent_kernel" else "matrix_params"
            raise SpecError(f"variant {spec.name!r}: {problem}", problem, field=field)
    for a in program.assignments:
        if a.target not in used and a.target not in program.states:
            problem = f"{a.target.name!r} is never used"
            index = program.assignments.index(a)
            raise SpecError(f"variant {spec.name!r}: {a.text!r}: {problem}", problem, index)
