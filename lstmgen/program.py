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
class Product:
    """``target = concat(sources) @ weight[:, block]``: a matrix product inside the step.

    ``sources`` are (units,)-wide values concatenated along the feature axis; ``block`` is
    the index of the weight's column block, of ``count`` blocks.
    """

    target: sp.Symbol
    sources: tuple[sp.Symbol, ...]
    weight: str
    block: int
    block_name: str
    text: str
    count: int = 1

    @property
    def whole(self) -> bool:
        """The weight is this one block."""
        return self.count == 1


@dataclass(frozen=True)
class Reduction:
    """``target = mean([e1, ..., ek])`` (or ``sum``): one value per batch row, over the
    units of every term together (k * units values); the target is a row value, broadcast
    where per-unit lines read it.

    ``terms`` are per-unit expressions; ``op`` is ``"mean"`` or ``"sum"``.
    """

    target: sp.Symbol
    terms: tuple[sp.Expr, ...]
    op: str
    text: str


@dataclass(frozen=True)
class ReductionAdjoint:
    """The structural half of a Reduction's adjoint: ``each = mean(d_output) / k`` over the
    units (``sum(d_output)`` for a sum), what each reduced element receives. ``d_output``
    holds per-unit shares whose row sum is the row value's adjoint (a row value is read by
    per-unit lines, each adding its own unit's share); the terms' adjoints follow as
    per-unit Assignments that read ``each``."""

    reduction: Reduction
    d_output: sp.Symbol
    each: sp.Symbol


@dataclass(frozen=True)
class ProductAdjoint:
    """The adjoint of a Product: ``concat(d_sources) (+)= d_output @ weight[:, block].T`` and
    this step's ``concat(sources).T @ d_output`` for the weight block's gradient.

    ``accumulate[k]``: whether ``d_sources[k]`` adds to an adjoint the sweep already holds.
    """

    product: Product
    d_output: sp.Symbol
    d_sources: tuple[sp.Symbol, ...]
    accumulate: tuple[bool, ...]


@dataclass(frozen=True)
class ForwardProgram:
    """One forward time step.

    Attributes:
        preactivations: ``a_<block>`` inputs, in kernel column order; with a recurrent bias
            the ``ax_<block>`` inputs, then the ``ah_<block>`` inputs.
        states_tm1: previous states ``<state>_tm1``, in state order.
        states: new state names, in state order (each is some assignment's target).
        assignments: the update lines, in order: Assignments (per unit) and Products.
        unit_params: per-unit parameters (units,) the lines read, e.g. peepholes.
        recurrent_bias: the inputs are the input and recurrent products apart (``ax``, ``ah``),
            each with a bias row, instead of their sum (``a``).
        matrix_params: the weight matrices the Products read.
        recurrent_blocks: indices of the gate blocks the recurrent product feeds; the other
            blocks' recurrent_kernel columns are Products inside the step.
        state_widths: each state's size (``units``, or e.g. ``proj_units`` for a state a
            Product onto a wider or narrower matrix defines).
        products_apart: the inputs are the bare products ``wx``, ``uh`` (no bias); the
            bias is read by the lines, block by block, as unit parameters.
        unit_sources: for each unit parameter, the parameter it is taken from and the
            gate block it is of that parameter (``("bias", 2)`` for ``bias_c``; ``-1``: the
            whole (units,) parameter).
        row_values: the values that are one number per batch row (reductions, and lines
            reading row values alone), broadcast where per-unit lines read them.
        recurrent_kernel: whether the cell has a ``recurrent_kernel`` at all: False when no
            gate block is fed by the recurrent product and no product reads it (IndRNN,
            minGRU, QRNN: the recurrence is per unit, or through the states alone).
        recurrent_columns: the gate blocks ``recurrent_kernel`` has columns for, in column
            order: every block when products inside the step read the columns of those the
            recurrent product does not feed (GRU's reset-after), else ``recurrent_blocks``
            alone (RAN: the content reads x alone, the kernel is (units, 2 * units)).
    """

    preactivations: tuple[sp.Symbol, ...]
    states_tm1: tuple[sp.Symbol, ...]
    states: tuple[sp.Symbol, ...]
    assignments: tuple[Assignment | Product | Reduction, ...]
    unit_params: tuple[sp.Symbol, ...] = ()
    recurrent_bias: bool = False
    matrix_params: tuple[str, ...] = ()
    recurrent_blocks: tuple[int, ...] = ()
    state_widths: tuple[str, ...] = ()
    recurrent_kernel: bool = True
    recurrent_columns: tuple[int, ...] = ()
    products_apart: bool = False
    unit_sources: tuple[tuple[str, int], ...] = ()
    row_values: tuple[sp.Symbol, ...] = ()


@dataclass(frozen=True)
class AdjointBlock:
    """The adjoint statements that differentiate one forward statement (for a Product, one
    ProductAdjoint)."""

    forward: Assignment | Product | Reduction
    assignments: tuple[Assignment | ProductAdjoint | ReductionAdjoint, ...]


@dataclass(frozen=True)
class BackwardProgram:
    """One backward time step, the reverse of a ForwardProgram.

    Attributes:
        seeds: adjoints of the new states, ``d_<state>`` (inputs of the step).
        blocks: adjoint blocks in execution order (forward assignments reversed).
        d_preactivations: ``d_a_<block>`` outputs, in the order of the preactivations.
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
