"""Fingerprints: ForwardProgram -> a short hash of what the cell computes.

A generated module carries the fingerprint of its forward program in its header, in
``FINGERPRINT`` and in its Keras layer's config, so a checkpoint saved from one cell refuses
to load into a different cell of the same name. The hash is over a canonical text of the
program that this module writes itself (not ``srepr``, whose spelling and argument order are
SymPy's to change): every node as ``Name(arg, ...)``, the arguments of sums and products
sorted, numbers as exact rationals or as 30-digit decimals.
"""

from __future__ import annotations

import hashlib

import sympy as sp

from .program import Assignment, ForwardProgram, Reduction

FINGERPRINT_LENGTH = 16


def canonical_expression(expr: sp.Expr) -> str:
    """``a_i + 2*c_tm1`` -> ``Add(Mul(2,c_tm1),a_i)``: order-free for sums and products."""
    if expr.is_Symbol:
        return expr.name
    if expr.is_Integer or expr.is_Rational:
        return str(sp.Rational(expr))
    if expr.is_Float:
        return str(sp.Float(expr, 30))
    if expr.is_Number:  # nan, oo, zoo: never in a checked program, but never a crash either
        return type(expr).__name__
    args = [canonical_expression(a) for a in expr.args]
    if isinstance(expr, (sp.Add, sp.Mul)):
        args.sort()
    return f"{type(expr).__name__}({','.join(args)})"


def canonical_program(program: ForwardProgram) -> str:
    """The structure and every statement of ``program``, one item per line."""
    lines = [
        "inputs " + ",".join(s.name for s in program.preactivations),
        "states " + ",".join(s.name for s in program.states),
        "widths " + ",".join(program.state_widths),
        "unit_params " + ",".join(s.name for s in program.unit_params),
        "matrices " + ",".join(program.matrix_params),
        "recurrent_bias " + str(program.recurrent_bias),
        "recurrent_blocks " + ",".join(str(k) for k in program.recurrent_blocks),
    ]
    if not program.recurrent_kernel:
        lines.append("no recurrent_kernel")
    for statement in program.assignments:
        if isinstance(statement, Assignment):
            lines.append(f"{statement.target.name} = {canonical_expression(statement.expr)}")
        elif isinstance(statement, Reduction):
            terms = ",".join(canonical_expression(t) for t in statement.terms)
            lines.append(f"{statement.target.name} = {statement.op}([{terms}])")
        else:
            sources = ",".join(s.name for s in statement.sources)
            lines.append(
                f"{statement.target.name} = [{sources}] @ {statement.weight}"
                f"[{statement.block}/{statement.count}]"
            )
    return "\n".join(lines)


def fingerprint(program: ForwardProgram) -> str:
    """The first ``FINGERPRINT_LENGTH`` hex digits of the SHA-256 of the canonical program."""
    digest = hashlib.sha256(canonical_program(program).encode("utf-8")).hexdigest()
    return digest[:FINGERPRINT_LENGTH]
