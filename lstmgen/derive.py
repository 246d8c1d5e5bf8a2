"""Adjoints: ForwardProgram -> BackwardProgram, by reverse-mode differentiation in SymPy.

Statement by statement in reverse: for ``y = f(x1, ..., xk)`` each argument receives
``d_y * df/dxj``, accumulated (``d_x = d_x + ...``) when ``x`` is used more than once. A
matrix product ``y = concat(s1, ..., sk) @ w[:, block]`` is linear: its adjoint is
``concat(d_s1, ..., d_sk) (+)= d_y @ w[:, block].T``, and the weight block's gradient gets
``concat(s1, ..., sk).T @ d_y`` from each step.
Derivatives come from SymPy (``sp.diff``) and the activations' declared ``fdiff``; every
forward right-hand side that appears in a derivative is then replaced by its name, so the
backward step reads forward values from the tape instead of recomputing them.
"""

from __future__ import annotations

import sympy as sp

from .program import (
    AdjointBlock,
    Assignment,
    BackwardProgram,
    ForwardProgram,
    Product,
    ProductAdjoint,
    Reduction,
    ReductionAdjoint,
)


def adjoint_symbol(name: sp.Symbol) -> sp.Symbol:
    """``c`` -> ``d_c``."""
    return sp.Symbol(f"d_{name.name}")


def adjoint_program(forward: ForwardProgram) -> BackwardProgram:
    """Derive the backward step of ``forward``."""
    order = {
        s: k
        for k, s in enumerate(
            forward.preactivations
            + forward.states_tm1
            + forward.unit_params
            + tuple(a.target for a in forward.assignments)
        )
    }
    # Right-hand sides -> their names (a bare name on the right is a copy, not a value to tape).
    to_tape = {
        a.expr: a.target
        for a in forward.assignments
        if isinstance(a, Assignment) and not a.expr.is_Symbol
    }
    adjoint_of = {state: adjoint_symbol(state) for state in forward.states}
    blocks = []
    read_by_products = set()
    for statement in reversed(forward.assignments):
        d_y = adjoint_of[statement.target]
        if isinstance(statement, Product):
            accumulate = tuple(s in adjoint_of for s in statement.sources)
            d_sources = tuple(adjoint_symbol(s) for s in statement.sources)
            adjoint_of.update(zip(statement.sources, d_sources, strict=True))
            adjoint = ProductAdjoint(statement, d_y, d_sources, accumulate)
            blocks.append(AdjointBlock(statement, (adjoint,)))
            read_by_products |= set(statement.sources)
            continue
        if isinstance(statement, Reduction):
            # Each reduced element receives the same share of the row value's adjoint.
            each = sp.Symbol(f"{d_y.name}_each")
            lines = [ReductionAdjoint(statement, d_y, each)]
            seed, terms = each, statement.terms
        else:
            lines, seed, terms = [], d_y, (statement.expr,)
        named = []
        for x in sorted(set().union(*(t.free_symbols for t in terms)), key=order.__getitem__):
            partial = sp.Add(*(sp.diff(t, x) for t in terms)).xreplace(to_tape)
            term = _reuse(seed * partial, named)
            d_x = adjoint_symbol(x)
            if x in adjoint_of:
                expr = adjoint_of[x] + term
            else:
                expr = term
                named.append((term, d_x))
            adjoint_of[x] = d_x
            lines.append(Assignment(d_x, expr, f"{d_x.name} = {expr}"))
        blocks.append(AdjointBlock(statement, tuple(lines)))
    forward_names = set(order) - set(forward.unit_params)
    read = read_by_products.union(
        *(a.expr.free_symbols for b in blocks for a in b.assignments if isinstance(a, Assignment))
    )
    return BackwardProgram(
        seeds=tuple(adjoint_symbol(s) for s in forward.states),
        blocks=tuple(blocks),
        d_preactivations=tuple(adjoint_of[a] for a in forward.preactivations),
        d_states_tm1=tuple(adjoint_of.get(s) for s in forward.states_tm1),
        tape=tuple(sorted(read & forward_names, key=order.__getitem__)),
        d_unit_params=tuple(adjoint_of[p] for p in forward.unit_params),
    )


def _reuse(term: sp.Expr, named: list[tuple[sp.Expr, sp.Symbol]]) -> sp.Expr:
    """``term`` with the products this block already named replaced by their names.

    ``o = sigmoid(a_o + peephole_o * c)`` gives ``d_a_o = d_o*o*(1 - o)`` first (the
    pre-activation comes first in the order); the other arguments' adjoints then read
    ``d_peephole_o = c*d_a_o`` and ``d_c = d_c + d_a_o*peephole_o`` instead of repeating the
    product. ``named`` holds this block's adjoints that hold their term alone: a name is
    assigned once per block, so it still holds that value where it is read.
    """
    for value, name in named:
        if isinstance(value, sp.Mul):
            term = term.subs(value, name)
    return term
