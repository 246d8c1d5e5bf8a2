"""The derived adjoints: exact against sympy.diff, numeric against finite differences, and
a deliberately wrong derivative must fail both."""

from __future__ import annotations

from dataclasses import replace

import mpmath
import pytest
import sympy as sp

from lstmgen import derive, equations, printers, render
from lstmgen.activations import to_elementary
from lstmgen.program import Product, ProductAdjoint
from lstmgen.spec import VARIANTS, resolve_variant
from lstmgen.verify import Shapes, compare_exact, exact_check, load_module, numeric_check

VARIANT_NAMES = [*sorted(VARIANTS), "lstm_ra-relu_act-softsign"]


# FGR's five states make the unrolled loss large: two steps keep its check to seconds.
SHAPES = {"lstm_peephole_fgr": Shapes(time=2)}


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_exact_check_passes(variant):
    result = exact_check(resolve_variant(variant), shapes=SHAPES.get(variant, Shapes()))
    assert result.status == "PASS", result
    assert result.max_error < 1e-40


@pytest.mark.parametrize(
    "variant", ["lstm", "gru", "gru_reset_before", "lstm_projection", "lstm_peephole_fgr"]
)
def test_exact_check_with_coupled_units_and_batch(variant):
    """Two units and two sequences: the products couple the units (LSTMP's projection onto
    three units, so that a mixed-up size cannot pass). FGR, whose unrolled loss is the
    largest, with one sequence (its batch sums are those of the others)."""
    batch = 1 if variant == "lstm_peephole_fgr" else 2
    shapes = Shapes(batch=batch, time=2, input_dim=2, units=2, proj_units=3)
    result = exact_check(VARIANTS[variant], shapes=shapes)
    assert result.status == "PASS", result


@pytest.mark.parametrize("variant", ["gru_reset_before", "lstm_peephole_fgr"])
def test_wrong_product_adjoint_fails_exact_check(variant):
    """A product's adjoint with its sources' adjoints in the wrong order (FGR), or through
    another block of the weight (GRU), is caught."""
    spec = VARIANTS[variant]
    forward = equations.forward_program(spec)
    backward = derive.adjoint_program(forward)
    blocks = []
    for block in backward.blocks:
        item = block.assignments[0]
        if isinstance(item, ProductAdjoint):
            if len(item.d_sources) > 1:
                item = replace(item, d_sources=item.d_sources[::-1])
            else:
                item = replace(item, product=replace(item.product, block=0))
        blocks.append(replace(block, assignments=(item, *block.assignments[1:])))
    wrong = replace(backward, blocks=tuple(blocks))
    # One unit suffices: the blocks and the three sources' rows differ all the same.
    shapes = Shapes(batch=1, time=2, input_dim=2, units=1)
    assert compare_exact(spec, forward, backward, shapes=shapes).status == "PASS"
    assert compare_exact(spec, forward, wrong, shapes=shapes).status == "FAIL"


def _sign_flipped(spec, target_name="d_f"):
    """The derived backward with one adjoint's sign flipped."""
    forward = equations.forward_program(spec)
    backward = derive.adjoint_program(forward)
    blocks = []
    for block in backward.blocks:
        lines = tuple(
            replace(a, expr=-a.expr) if a.target.name == target_name else a
            for a in block.assignments
        )
        blocks.append(replace(block, assignments=lines))
    return forward, replace(backward, blocks=tuple(blocks))


def test_flipped_sign_fails_exact_check():
    spec = VARIANTS["lstm"]
    forward, wrong = _sign_flipped(spec)
    result = compare_exact(spec, forward, wrong)
    assert result.status == "FAIL"
    assert result.max_error > 1e-3


def test_flipped_sign_fails_numeric_check():
    spec = VARIANTS["lstm"]
    forward, wrong = _sign_flipped(spec)
    printed = printers.print_programs(forward, wrong, "numpy")
    source = render.render_module(render.module_context(spec, forward, wrong, printed, "numpy"))
    assert "d_f = -c_tm1 * d_c" in source
    result = numeric_check(spec, module=load_module(source, "wrong"))
    assert result.status == "FAIL"
    assert result.max_error > 1e-3


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_numeric_check_passes(variant):
    result = numeric_check(resolve_variant(variant))
    assert result.status == "PASS", result


@pytest.mark.parametrize("point", [-5.0, -3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0, 5.0])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_adjoint_against_finite_differences(variant, point):
    """Per statement y = f(x, ...): the derived d_x (with d_y = 1) vs a central difference of f.

    Arguments sit near the kinks (-3, -2.5, 0, 2.5, 3) but 0.37 off them, so the difference
    quotient is defined.
    """
    forward = equations.forward_program(VARIANTS[variant])
    backward = derive.adjoint_program(forward)
    step = 1e-8
    for block in backward.blocks:
        statement = block.forward
        if isinstance(statement, Product):
            continue  # linear; its adjoint is checked by the exact check
        arguments = sorted(statement.expr.free_symbols, key=str)
        for x in arguments:
            env = {s: sp.Float(point + 0.37 + 0.1 * k, 30) for k, s in enumerate(arguments)}
            f = sp.lambdify([x], to_elementary(statement.expr.xreplace({**env, x: x})), "mpmath")
            with mpmath.workdps(40):
                fd = (f(env[x] + step) - f(env[x] - step)) / (2 * step)
            # Forward values the adjoint reads, from the same arguments.
            values = dict(env)
            for a in forward.assignments:
                if not isinstance(a, Product):
                    values.setdefault(a.target, a.expr.xreplace(values))
            # The block's lines in order (a line may read an adjoint an earlier line of the
            # block named), with d_y = 1 and every adjoint the block adds to starting at 0.
            values.update({line.target: sp.Integer(0) for line in block.assignments})
            values[derive.adjoint_symbol(statement.target)] = sp.Integer(1)
            for line in block.assignments:
                values[line.target] = line.expr.xreplace(values)
            derived = to_elementary(values[derive.adjoint_symbol(x)]).evalf(30)
            assert float(derived) == pytest.approx(float(fd), rel=1e-6, abs=1e-9), (
                statement.text,
                x,
            )
