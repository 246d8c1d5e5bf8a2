"""Hoisting: ForwardProgram -> Split (what runs once over every step, and the loop's step).

A value that depends on the input alone (an input product, a per-unit parameter, or a
line that reads only such values) is the same computed inside the time loop or before it,
for every step at once on (time, batch, units) tensors. ``split_program`` moves such lines
out of the step ("pre"), and in the lines that stay ("loop") names the input-only part of
each sum or product: ``i = sigmoid(dh_i*rh + dx_i*rx + bias_i)`` becomes
``i_in = dx_i*rx + bias_i`` before the loop and ``i = sigmoid(dh_i*rh + i_in)`` in it.
Both halves are ForwardPrograms, so ``derive.adjoint_program`` derives each: the loop's
adjoint gives the adjoints of the values it reads from the pre program, whose adjoint,
run once after the backward loop, gives the input products' and the unit parameters'.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp
from sympy.printing.str import StrPrinter

from .activations import ACTIVATIONS, BINARY, FUNCTIONS, UNARY
from .equations import RESERVED, reads
from .program import Assignment, ForwardProgram, Product, Reduction


@dataclass(frozen=True)
class Split:
    """A program cut in two at the time loop.

    Attributes:
        pre: runs once over every step; its ``preactivations`` are the original's
            input-only inputs, its ``states`` the values the loop reads from it (no
            ``states_tm1``); row values among them are broadcast to units for the loop.
        loop: the step; its ``preactivations`` are the pre program's ``states``, then the
            original's other inputs (the recurrent products).
    """

    pre: ForwardProgram
    loop: ForwardProgram

    @property
    def hoisted(self) -> tuple[sp.Symbol, ...]:
        """The values the loop reads from the pre program, in the loop's input order."""
        return self.pre.states


def input_preactivations(forward: ForwardProgram) -> tuple[sp.Symbol, ...]:
    """The inputs that depend on x alone: the input products (``wx_<block>``, or
    ``ax_<block>`` with their bias row), or with ``inputs = "sum"`` every ``a_<block>`` of a
    cell with no recurrent kernel. With one, none: the loop would still multiply each
    step's x for the blocks the recurrent product feeds, so the products cannot all leave
    the loop."""
    if forward.products_apart or forward.recurrent_bias:
        return forward.preactivations[: len(forward.preactivations) // 2]
    if forward.recurrent_kernel:
        return ()
    return forward.preactivations


def split_program(forward: ForwardProgram) -> Split | None:
    """Split ``forward`` at the time loop; None when no line or term can leave it."""
    inputs = input_preactivations(forward)
    if not inputs:
        return None
    hoister = _Hoister(forward, inputs)
    placed = (hoister.place(statement) for statement in forward.assignments)
    loop = tuple(statement for statement in placed if statement is not None)
    if not hoister.pre:
        return None
    read = set().union(*(reads(s) for s in loop))
    pre_values = inputs + tuple(s.target for s in hoister.pre)
    hoisted = tuple(v for v in pre_values if v in read)
    pre_targets = {s.target for s in hoister.pre}
    pre = ForwardProgram(
        preactivations=inputs,
        states_tm1=(),
        states=hoisted,
        assignments=tuple(hoister.pre),
        recurrent_bias=forward.recurrent_bias,
        products_apart=forward.products_apart,
        recurrent_kernel=False,
        state_widths=("units",) * len(hoisted),
        row_values=tuple(r for r in forward.row_values if r in pre_targets),
        **_unit_params(forward, set().union(*(reads(s) for s in hoister.pre))),
    )
    loop_program = replace(
        forward,
        preactivations=hoisted + tuple(a for a in forward.preactivations if a not in inputs),
        assignments=loop,
        row_values=tuple(r for r in forward.row_values if r not in pre_targets),
        **_unit_params(forward, read),
    )
    return Split(pre, loop_program)


def _unit_params(forward: ForwardProgram, read: set) -> dict:
    """``unit_params`` and ``unit_sources`` of the unit parameters in ``read``."""
    pairs = [
        (p, source)
        for p, source in zip(forward.unit_params, forward.unit_sources, strict=True)
        if p in read
    ]
    return {
        "unit_params": tuple(p for p, _ in pairs),
        "unit_sources": tuple(source for _, source in pairs),
    }


class _Hoister:
    """Walks the statements in order, collecting the pre program's (``pre``)."""

    def __init__(self, forward: ForwardProgram, inputs: tuple[sp.Symbol, ...]):
        self.forward = forward
        # Input-only names, and those of them that vary with the input (not parameters).
        self.only = set(inputs) | set(forward.unit_params)
        self.varying = set(inputs)
        self.taken = set(RESERVED) | {
            s.name
            for s in (
                *forward.preactivations,
                *forward.states_tm1,
                *forward.states,
                *forward.unit_params,
                *(a.target for a in forward.assignments),
            )
        }
        self.pre: list[Assignment | Reduction] = []

    def place(self, statement):
        """The statement as the loop runs it (None: it left the loop)."""
        read = reads(statement)
        if (
            not isinstance(statement, Product)
            and statement.target not in self.forward.states
            and read <= self.only
        ):
            self._hoist(statement, read)
            return None
        if isinstance(statement, Assignment):
            expr = self._lift_whole(statement.expr, statement.target.name)
            text = f"{statement.target} = {_text(expr)}"
            return statement if expr == statement.expr else Assignment(statement.target, expr, text)
        if isinstance(statement, Reduction):
            terms = tuple(self._lift_whole(t, statement.target.name) for t in statement.terms)
            if terms == statement.terms:
                return statement
            listed = ", ".join(_text(t) for t in terms)
            text = f"{statement.target} = {statement.op}([{listed}])"
            return Reduction(statement.target, terms, statement.op, text)
        return statement

    def _hoist(self, statement, read: set) -> None:
        self.pre.append(statement)
        self.only.add(statement.target)
        if read & self.varying:
            self.varying.add(statement.target)

    def _lift_whole(self, expr: sp.Expr, target: str) -> sp.Expr:
        """``expr`` (a line the loop keeps) with its input-only parts named."""
        if expr.free_symbols <= self.only:
            return self._named(expr, target) if self._worth([expr]) else expr
        return self._lift(expr, target)

    def _lift(self, expr: sp.Expr, target: str) -> sp.Expr:
        """In a sum or product, the input-only terms (factors) together become one name;
        in any other function, each input-only argument does; the rest is searched."""
        if not expr.args:
            return expr
        args = expr.args
        inside = [a for a in args if a.free_symbols <= self.only]
        rest = [self._lift(a, target) for a in args if not a.free_symbols <= self.only]
        if isinstance(expr, (sp.Add, sp.Mul)):
            # A product's number factors go along but do not make it worth a name.
            group = inside if isinstance(expr, sp.Add) else [a for a in inside if a.free_symbols]
            if self._worth(group):
                return expr.func(self._named(expr.func(*inside), target), *rest)
            return expr.func(*inside, *rest)
        lifted = iter(rest)
        return expr.func(
            *(
                (self._named(a, target) if self._worth([a]) else a)
                if a.free_symbols <= self.only
                else next(lifted)
                for a in args
            )
        )

    def _worth(self, group: list[sp.Expr]) -> bool:
        """Whether naming ``group`` saves the loop work: it varies with the input and is
        more than one name."""
        if not any(a.free_symbols & self.varying for a in group):
            return False
        return len(group) > 1 or not group[0].is_Symbol

    def _named(self, value: sp.Expr, target: str) -> sp.Symbol:
        """A new pre line ``<target>_in = value`` (``_in2``... if taken); its name."""
        name, number = f"{target}_in", 2
        while name in self.taken:
            name, number = f"{target}_in{number}", number + 1
        self.taken.add(name)
        symbol = sp.Symbol(name)
        self._hoist(Assignment(symbol, value, f"{name} = {_text(value)}"), value.free_symbols)
        return symbol


_NAME_OF = {cls: name for name, cls in {**FUNCTIONS, **UNARY, **BINARY, **ACTIVATIONS}.items()}


class _SpecText(StrPrinter):
    """Expressions as a spec writes them: ``sigmoid(a)``, not ``Sigmoid(a)``."""

    def _print_Function(self, expr):
        name = _NAME_OF.get(type(expr), type(expr).__name__.lower())
        return f"{name}({', '.join(self._print(a) for a in expr.args)})"


def _text(expr: sp.Expr) -> str:
    """A new or rewritten line's right-hand side, for comments and docstrings."""
    return _SpecText().doprint(expr)
