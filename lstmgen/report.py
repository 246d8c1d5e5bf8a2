"""Derivation report: CellSpec -> forward equations and derived adjoints (text, LaTeX, Markdown)."""

from __future__ import annotations

import re

from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from . import derive, equations
from .activations import ACTIVATIONS, BINARY, UNARY
from .program import (
    Assignment,
    BackwardProgram,
    ForwardProgram,
    Product,
    ProductAdjoint,
    Reduction,
    ReductionAdjoint,
)
from .render import size_product
from .spec import CellSpec

_NAME_OF = {cls: name for name, cls in {**UNARY, **BINARY, **ACTIVATIONS}.items()}
_LATEX_OF = {
    "sigmoid": r"\sigma",
    "tanh": r"\tanh",
    "exponential": r"\exp",
    "log": r"\log",
    "max": r"\max",
    "min": r"\min",
}


def _function_name(cls) -> str:
    """``Sigmoid`` -> ``sigmoid``; ``HardSigmoidGrad`` -> ``hard_sigmoid_grad``."""
    if cls in _NAME_OF:
        return _NAME_OF[cls]
    return (
        re.sub(r"(?<!^)(?=[A-Z0-9][a-z])", "_", cls.__name__).lower().replace("keras_2", "keras2")
    )


class _TextPrinter(StrPrinter):
    def _print_Function(self, expr):
        return f"{_function_name(type(expr))}({', '.join(self._print(a) for a in expr.args)})"


class _LatexPrinter(LatexPrinter):
    def _print_Function(self, expr, exp=None):
        name = _function_name(type(expr))
        head = _LATEX_OF.get(name, r"\operatorname{" + name.replace("_", r"\_") + "}")
        args = ", ".join(self._print(a) for a in expr.args)
        text = rf"{head}\left({args}\right)"
        return text if exp is None else rf"{text}^{{{exp}}}"

    def _print_Symbol(self, expr, style="plain"):
        return latex_name(expr.name)


def latex_name(name: str) -> str:
    """LaTeX for a name: single letters plain, longer names upright and whole, adjoints barred
    on the base, subscripts outside: ``hh`` -> ``\\mathrm{hh}``, ``d_c_tm1`` ->
    ``\\bar{c}_{t-1}``, ``d_a_i`` -> ``\\bar{a}_{i}``, ``ax_z`` -> ``a^{x}_{z}``,
    ``tanh_c`` -> ``\\mathrm{tanh\\_c}``."""
    base, sub, sup = _name_parts(name)
    return base + (f"^{{{sup}}}" if sup else "") + (f"_{{{sub}}}" if sub else "")


def _name_parts(name: str) -> tuple[str, str, str]:
    """``(base, subscript, superscript)`` of a name, each LaTeX (the scripts may be empty)."""
    if name.startswith("d_") and len(name) > 2:
        base, sub, sup = _name_parts(name[2:])
        return rf"\bar{{{base}}}", sub, sup
    if name.endswith("_tm1") and len(name) > 4:
        base, sub, sup = _name_parts(name[:-4])
        return base, f"{sub}, t-1" if sub else "t-1", sup
    if name.startswith("a_") and len(name) > 2:
        return "a", _word(name[2:]), ""
    if name.startswith(("ax_", "ah_")) and len(name) > 3:
        return "a", _word(name[3:]), name[1]
    return _word(name), "", ""


def _word(name: str) -> str:
    """A single letter as itself; anything longer upright, so that ``hh`` is not ``h h``."""
    if len(name) == 1:
        return name
    return r"\mathrm{" + name.replace("_", r"\_") + "}"


def _lines(statements, printer) -> list[tuple[str, str]]:
    """``(target, right-hand side)`` pairs; Products and their adjoints as matrix products
    (``[i_tm1, f_tm1, o_tm1] @ gate_recurrent_kernel[i]``)."""
    lines = []
    for statement in statements:
        if isinstance(statement, Assignment):
            lines.append((printer.doprint(statement.target), printer.doprint(statement.expr)))
        elif isinstance(statement, Product):
            lines.append((printer.doprint(statement.target), _product(statement, printer)))
        elif isinstance(statement, Reduction):
            lines.append((printer.doprint(statement.target), _reduction(statement, printer)))
        elif isinstance(statement, ReductionAdjoint):
            lines.append((printer.doprint(statement.each), _reduction_share(statement, printer)))
        else:
            lines += _product_adjoint(statement, printer)
    return lines


def _reduction(reduction: Reduction, printer) -> str:
    r"""``mean([u, v])`` over the units of every term; ``\operatorname{mean}`` in LaTeX."""
    terms = [printer.doprint(t) for t in reduction.terms]
    if isinstance(printer, LatexPrinter):
        inner = terms[0] if len(terms) == 1 else r"\left[" + ", ".join(terms) + r"\right]"
        return rf"\operatorname{{{reduction.op}}}\left({inner}\right)"
    inner = terms[0] if len(terms) == 1 else f"[{', '.join(terms)}]"
    return f"{reduction.op}({inner})"


def _reduction_share(adjoint: ReductionAdjoint, printer) -> str:
    """What each reduced element receives: ``mean(d_m) / k`` (``sum(d_m)`` for a sum)."""
    d_out = printer.doprint(adjoint.d_output)
    count = len(adjoint.reduction.terms)
    divided = adjoint.reduction.op == "mean" and count > 1
    if isinstance(printer, LatexPrinter):
        text = rf"\operatorname{{{adjoint.reduction.op}}}\left({d_out}\right)"
        return rf"{text} / {count}" if divided else text
    text = f"{adjoint.reduction.op}({d_out})"
    return f"{text} / {count}" if divided else text


def _concat(names, printer) -> str:
    names = [printer.doprint(n) for n in names]
    if len(names) == 1:
        return names[0]
    if isinstance(printer, LatexPrinter):
        return rf"\left[{', '.join(names)}\right]"
    return f"[{', '.join(names)}]"


def _weight(product: Product, printer, transpose: bool = False) -> str:
    """``w[i]`` (``w`` when the weight is one block), ``W_{i}^T`` in LaTeX."""
    if isinstance(printer, LatexPrinter):
        return _latex_weight(product, transpose=transpose)
    block = "" if product.whole else f"[{product.block_name}]"
    return product.weight + block + (".T" if transpose else "")


def _latex_weight(product: Product, transpose: bool = False, adjoint: bool = False) -> str:
    """``\\mathrm{w}_{i}^{T}``; the adjoint bars the name only: ``\\bar{\\mathrm{w}}_{i}``."""
    name = _word(product.weight)
    name = rf"\bar{{{name}}}" if adjoint else name
    block = "" if product.whole else f"_{{{_word(product.block_name)}}}"
    return name + block + ("^{T}" if transpose else "")


def _product(product: Product, printer) -> str:
    times = r" \, " if isinstance(printer, LatexPrinter) else " @ "
    return _concat(product.sources, printer) + times + _weight(product, printer)


def _product_adjoint(adjoint: ProductAdjoint, printer) -> list[tuple[str, str]]:
    """``[d_i_tm1, ...] (+)= d_r_i @ w[i].T`` and the weight block's per-step gradient."""
    latex = isinstance(printer, LatexPrinter)
    product, d_out = adjoint.product, printer.doprint(adjoint.d_output)
    times = r" \, " if latex else " @ "
    back = d_out + times + _weight(product, printer, transpose=True)
    lines = []
    if any(adjoint.accumulate):
        added = [
            printer.doprint(d) if acc else "0"
            for d, acc in zip(adjoint.d_sources, adjoint.accumulate, strict=True)
        ]
        joined = f"[{', '.join(added)}]" if len(added) > 1 else added[0]
        if latex:
            joined = joined.replace("[", r"\left[").replace("]", r"\right]")
        back = f"{joined} + {back}"
    lines.append((_concat(adjoint.d_sources, printer), back))
    gradient = _concat(product.sources, printer) + ("^{T}" if latex else ".T") + times + d_out
    name = "d_" + product.weight + ("" if product.whole else f"[{product.block_name}]")
    if latex:
        lines.append((_latex_weight(product, adjoint=True), r"\sum_{t} " + gradient))
    else:
        lines.append((name, f"sum_t {gradient}"))
    return lines


def derivation_report(spec: CellSpec, fmt: str = "text") -> str:
    """The forward equations, the derived adjoints and the tape of ``spec``."""
    forward = equations.forward_program(spec)
    backward = derive.adjoint_program(forward)
    if fmt == "text":
        return _text(spec, forward, backward)
    if fmt == "latex":
        return _latex(spec, forward, backward)
    if fmt == "markdown":
        return _markdown(spec, forward, backward)
    raise ValueError(f"Unknown format {fmt!r}; expected one of ['latex', 'markdown', 'text'].")


def parameter_shapes(spec: CellSpec) -> list[tuple[str, str]]:
    """``(name, shape)`` of each parameter in ``PARAM_NAMES`` order, sizes as words (the
    generated ``param_shapes``: the recurrent kernel's rows are the first state's width)."""
    width = f"{len(spec.blocks)} * units"
    forward = equations.forward_program(spec)
    shapes = [("kernel", f"(input_dim, {width})")]
    if forward.recurrent_kernel:
        shapes.append(("recurrent_kernel", f"({forward.state_widths[0]}, {width})"))
    shapes.append(("bias", f"(2, {width})" if spec.recurrent_bias else f"({width},)"))
    shapes += [(name, "(units,)") for name in spec.unit_params]
    shapes += [
        (v.name, f"({len(v.blocks)} * units,)" if v.blocks else "(units,)") for v in spec.vectors
    ]
    return shapes + [
        (m.name, size_product(m.rows, "units", m.width, len(m.blocks))) for m in spec.matrix_params
    ]


def variant_listing(spec: CellSpec) -> str:
    """Three lines for ``lstmgen variants``: name and summary, equations, parameter shapes."""
    recurrent = f"{spec.states[0]}_tm1@recurrent_kernel{_fed(spec)}"
    if not equations.forward_program(spec).recurrent_kernel:
        products = "a = x@kernel + bias (no recurrent kernel)"
    elif spec.products_apart:
        products = f"wx = x@kernel, uh = {recurrent}, bias[<block>]"
    elif spec.recurrent_bias:
        products = f"ax = x@kernel + bias[0], ah = {recurrent} + bias[1]"
    else:
        products = f"a = x@kernel + {recurrent} + bias"
    lines = "; ".join(f"{target} = {text.strip()}" for target, text in spec.statements)
    shapes = ", ".join(f"{name} {shape}" for name, shape in parameter_shapes(spec))
    return "\n".join(
        [
            f"{spec.name}: {spec.summary}",
            f"    {products} (blocks {'|'.join(spec.blocks)}); {lines}",
            f"    states {', '.join(spec.states)}; parameters: {shapes}",
        ]
    )


def _fed(spec: CellSpec) -> str:
    """``[z|r]`` when the recurrent product feeds some gate blocks only, else nothing."""
    if spec.recurrent_blocks is None or spec.recurrent_blocks == spec.blocks:
        return ""
    return f"[{'|'.join(spec.recurrent_blocks)}]"


def _structure(spec: CellSpec, backward: BackwardProgram) -> list[str]:
    blocks = "|".join(spec.blocks)
    first, fed = spec.states[0], _fed(spec)
    direct = backward.d_states_tm1[0]
    extra = f" + {direct.name}" if direct is not None else ""
    if not equations.forward_program(spec).recurrent_kernel:
        return [
            f"a = x_t @ kernel + bias   (blocks {blocks}; no recurrent kernel)",
            "d_kernel = sum_t x_t.T @ d_a_t;  d_bias = sum_t,batch d_a_t;  "
            "d_x_t = d_a_t @ kernel.T",
        ]
    if spec.products_apart:
        return [
            f"wx = x_t @ kernel;  uh = {first}_tm1 @ recurrent_kernel   (blocks {blocks}; "
            "the bias is read per block)",
            f"d_{first}_tm1 = d_uh @ recurrent_kernel.T{extra}",
            f"d_kernel = sum_t x_t.T @ d_wx_t;  d_recurrent_kernel = sum_t {first}_tm1.T @ "
            "d_uh_t;  d_x_t = d_wx_t @ kernel.T",
        ]
    if spec.recurrent_bias:
        return [
            f"ax = x_t @ kernel + bias[0];  ah = {first}_tm1 @ recurrent_kernel{fed} + bias[1]"
            f"   (blocks {blocks})",
            f"d_{first}_tm1 = d_ah{fed} @ recurrent_kernel{fed}.T{extra}",
            "d_kernel = sum_t x_t.T @ d_ax_t;  d_recurrent_kernel = sum_t "
            f"{first}_tm1.T @ d_ah_t;  d_bias = sum_t,batch (d_ax_t, d_ah_t);  "
            "d_x_t = d_ax_t @ kernel.T",
        ]
    return [
        f"a = x_t @ kernel + {first}_tm1 @ recurrent_kernel{fed} + bias   (blocks {blocks})",
        f"d_{first}_tm1 = d_a{fed} @ recurrent_kernel{fed}.T{extra}",
        f"d_kernel = sum_t x_t.T @ d_a_t;  d_recurrent_kernel{fed} = sum_t "
        f"{first}_tm1.T @ d_a{fed}_t;  d_bias = sum_t,batch d_a_t;  d_x_t = d_a_t @ kernel.T",
    ] + (
        ["(the other blocks' recurrent_kernel columns: the products inside the step)"]
        if fed
        else []
    )


def _text(spec: CellSpec, forward: ForwardProgram, backward: BackwardProgram) -> str:
    printer = _TextPrinter()
    seeds = ", ".join(s.name for s in backward.seeds)
    out = [f"Variant {spec.name}: {spec.summary}", "", "Matrix products (structure):"]
    out += [f"  {line}" for line in _structure(spec, backward)]
    out += ["", "Forward (per unit, one time step):"]
    out += [f"  {t} = {e}" for t, e in _lines(forward.assignments, printer)]
    out += ["", f"Backward (derived adjoints; {seeds} arrive from the loss and from step t+1):"]
    for block in backward.blocks:
        out.append(f"  # {block.forward.text}")
        out += [f"  {t} = {e}" for t, e in _lines(block.assignments, printer)]
    out += ["", "Tape (forward values the backward step reads): "]
    out[-1] += ", ".join(s.name for s in backward.tape)
    return "\n".join(out)


def _latex_structure(
    spec: CellSpec, backward: BackwardProgram
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The matrix products of ``_structure`` as LaTeX ``(left, right)`` rows: the forward
    pre-activation products, and the recurrent adjoint and parameter gradients."""
    kernel, recurrent, bias = (_word(n) for n in ("kernel", "recurrent_kernel", "bias"))
    fed = _fed(spec).strip("[]")
    fed_sub = f"_{{{fed}}}" if fed else ""
    h_tm1 = latex_name(f"{spec.states[0]}_tm1")
    direct = backward.d_states_tm1[0]
    extra = f" + {latex_name(direct.name)}" if direct is not None else ""
    x_t = "x_{t}"
    if not equations.forward_program(spec).recurrent_kernel:
        forward = [("a", rf"{x_t} \, {kernel} + {bias}")]
        return forward, [
            (rf"\bar{{{kernel}}}", rf"\sum_{{t}} {x_t}^{{T}} \, \bar{{a}}_{{t}}"),
            (rf"\bar{{{bias}}}", r"\sum_{t, \mathrm{batch}} \bar{a}_{t}"),
            (r"\bar{x}_{t}", rf"\bar{{a}}_{{t}} \, {kernel}^{{T}}"),
        ]
    if spec.products_apart:
        wx, uh = r"\bar{w}^{x}", r"\bar{u}^{h}"
        forward = [("w^{x}", rf"{x_t} \, {kernel}"), ("u^{h}", rf"{h_tm1} \, {recurrent}")]
        return forward, [
            (latex_name(f"d_{spec.states[0]}_tm1"), rf"{uh} \, {recurrent}^{{T}}{extra}"),
            (rf"\bar{{{kernel}}}", rf"\sum_{{t}} {x_t}^{{T}} \, {wx}_{{t}}"),
            (rf"\bar{{{recurrent}}}", rf"\sum_{{t}} {h_tm1}^{{T}} \, {uh}_{{t}}"),
            (r"\bar{x}_{t}", rf"{wx}_{{t}} \, {kernel}^{{T}}"),
        ]
    if spec.recurrent_bias:
        ax, ah = r"\bar{a}^{x}", r"\bar{a}^{h}"
        forward = [
            ("a^{x}", rf"{x_t} \, {kernel} + {bias}_{{0}}"),
            ("a^{h}", rf"{h_tm1} \, {recurrent}{fed_sub} + {bias}_{{1}}"),
        ]
        d_fed, d_fed_t, d_x_t = ah + fed_sub, ah + "_{t}", ax + "_{t}"
        d_bias = rf"\left({ax}_{{t}}, {ah}_{{t}}\right)"
    else:
        forward = [("a", rf"{x_t} \, {kernel} + {h_tm1} \, {recurrent}{fed_sub} + {bias}")]
        d_fed = r"\bar{a}" + fed_sub
        d_fed_t = r"\bar{a}" + (f"_{{{fed}, t}}" if fed else "_{t}")
        d_x_t = d_bias = r"\bar{a}_{t}"
    gradients = [
        (latex_name(f"d_{spec.states[0]}_tm1"), rf"{d_fed} \, {recurrent}{fed_sub}^{{T}}{extra}"),
        (rf"\bar{{{kernel}}}", rf"\sum_{{t}} {x_t}^{{T}} \, {d_x_t}"),
        (rf"\bar{{{recurrent}}}{fed_sub}", rf"\sum_{{t}} {h_tm1}^{{T}} \, {d_fed_t}"),
        (rf"\bar{{{bias}}}", rf"\sum_{{t, \mathrm{{batch}}}} {d_bias}"),
        (r"\bar{x}_{t}", rf"{d_x_t} \, {kernel}^{{T}}"),
    ]
    return forward, gradients


def _align(rows: list[tuple[str, str]]) -> str:
    lines = " \\\\\n".join(rf"{t} &= {e}" for t, e in rows)
    return "\\begin{align*}\n" + lines + "\n\\end{align*}"


def _latex(spec: CellSpec, forward: ForwardProgram, backward: BackwardProgram) -> str:
    """The same statements as ``_text``: the matrix products around the per-unit lines."""
    printer = _LatexPrinter()
    products, gradients = _latex_structure(spec, backward)
    forward_tex = _align(products + _lines(forward.assignments, printer))
    rows = [line for block in backward.blocks for line in _lines(block.assignments, printer)]
    backward_tex = _align(rows + gradients)
    return f"% forward\n{forward_tex}\n% backward (bar = adjoint)\n{backward_tex}"


def _markdown(spec: CellSpec, forward: ForwardProgram, backward: BackwardProgram) -> str:
    tex = _latex(spec, forward, backward).split("% backward (bar = adjoint)\n")
    return "\n".join(
        [
            f"## {spec.name}",
            "",
            spec.summary + ".",
            "",
            "### Forward",
            "",
            "$$",
            tex[0].replace("% forward\n", "").strip(),
            "$$",
            "",
            "### Backward (adjoints, $\\bar{v} = \\partial L / \\partial v$)",
            "",
            "$$",
            tex[1].strip(),
            "$$",
            "",
            "### Plain text",
            "",
            "```text",
            _text(spec, forward, backward),
            "```",
        ]
    )
