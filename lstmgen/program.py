"""Step programs shared by the equation and derivation stages: plain data, no logic.

A program is straight-line code on per-unit values of one time step. The matrix products
around it (pre-activations in, recurrent products out) are structure, described by names.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Assignment:
    """``target = expr``; ``text`` is the line as the spec wrote it (for comments)."""

    target: sp.Symbol
    expr: sp.Expr
    text: str


@dataclass(frozen=True)
class ForwardProgram:
    """One forward time step.

    Attributes:
        preactivations: ``a_<block>`` inputs, in kernel column order.
        states_tm1: previous states ``<state>_tm1``, in state order.
        states: new state names, in state order (each is some assignment's target).
        assignments: the update lines, in order.
        unit_params: per-unit parameters (units,) the lines read, e.g. peepholes.
    """

    preactivations: tuple[sp.Symbol, ...]
    states_tm1: tuple[sp.Symbol, ...]
    states: tuple[sp.Symbol, ...]
    assignments: tuple[Assignment, ...]
    unit_params: tuple[sp.Symbol, ...] = ()


@dataclass(frozen=True)
class AdjointBlock:
    """The adjoint statements that differentiate one forward assignment."""

    forward: Assignment
    assignments: tuple[Assignment, ...]


@dataclass(frozen=True)
class BackwardProgram:
    """One backward time step, the reverse of a ForwardProgram.

    Attributes:
        seeds: adjoints of the new states, ``d_<state>`` (inputs of the step).
        blocks: adjoint blocks in execution order (forward assignments reversed).
        d_preactivations: ``d_a_<block>`` outputs, in kernel column order.
        d_states_tm1: ``d_<state>_tm1`` outputs; ``None`` where the update does not read that
            state directly (its adjoint then flows through the recurrent product only).
        tape: forward values the backward step reads, in forward order.
        d_unit_params: ``d_<param>`` per-step contributions to the unit parameters' adjoints
            (batch, units); the driver sums them over batch and time.
    """

    seeds: tuple[sp.Symbol, ...]
    blocks: tuple[AdjointBlock, ...]
    d_preactivations: tuple[sp.Symbol, ...]
    d_states_tm1: tuple[sp.Symbol | None, ...]
    tape: tuple[sp.Symbol, ...]
    d_unit_params: tuple[sp.Symbol, ...] = ()
