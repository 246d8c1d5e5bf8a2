"""Derivation report: CellSpec -> forward equations and derived adjoints (text, LaTeX, Markdown)."""

from __future__ import annotations

import re

from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from . import derive, equations
from .activations import ACTIVATIONS
from .program import Assignment, BackwardProgram, ForwardProgram
from .spec import CellSpec

_NAME_OF = {cls: name for name, cls in ACTIVATIONS.items()}
_LATEX_OF = {"sigmoid": r"\sigma", "tanh": r"\tanh", "exponential": r"\exp"}


def _function_name(cls) -> str:
    """``Sigmoid`` -> ``sigmoid``; ``HardSigmoidGrad`` -> ``hard_sigmoid_grad``."""
    if cls in _NAME_OF:
        return _NAME_OF[cls]
    return (
        re.sub(r"(?<!^)(?=[A-Z0-9][a-z])", "_", cls.__name__).lower().replace("keras_2", "keras2")
    )


class _TextPrinter(StrPrinter):
    def _print_Function(self, expr):
        return f"{_function_name(type(expr))}({self._print(expr.args[0])})"


class _LatexPrinter(LatexPrinter):
    def _print_Function(self, expr, exp=None):
        name = _function_name(type(expr))
        head = _LATEX_OF.get(name, r"\operatorname{" + name.replace("_", r"\_") + "}")
        text = rf"{head}\left({self._print(expr.args[0])}\right)"
        return text if exp is None else rf"{text}^{{{exp}}}"

    def _print_Symbol(self, expr, style="plain"):
        return latex_name(expr.name)


def latex_name(name: str) -> str:
    """LaTeX for a name: ``d_c_tm1`` -> ``\\bar{c}_{t-1}``, ``tanh_c`` -> ``\\mathrm{tanh\\_c}``."""
    if name.startswith("d_"):
        return rf"\bar{{{latex_name(name[2:])}}}"
    if name.endswith("_tm1"):
        return rf"{latex_name(name[:-4])}_{{t-1}}"
    if name.startswith("a_"):
        return rf"a_{{{name[2:]}}}"
    if "_" in name:
        escaped = name.replace("_", r"\_")
        return rf"\mathrm{{{escaped}}}"
    return name


def _lines(assignments: tuple[Assignment, ...], printer) -> list[tuple[str, str]]:
    return [(printer.doprint(a.target), printer.doprint(a.expr)) for a in assignments]


def derivation_report(spec: CellSpec, fmt: str = "text") -> str:
    """The forward equations, the derived adjoints and the tape of ``spec``."""
    forward = equations.forward_program(spec)
    backward = derive.adjoint_program(forward)
    if fmt == "text":
        return _text(spec, forward, backward)
    if fmt == "latex":
        return _latex(forward, backward)
    if fmt == "markdown":
        return _markdown(spec, forward, backward)
    raise ValueError(f"Unknown format {fmt!r}; expected one of ['latex', 'markdown', 'text'].")


def _structure(spec: CellSpec, backward: BackwardProgram) -> list[str]:
    blocks = "|".join(spec.blocks)
    first = spec.states[0]
    direct = backward.d_states_tm1[0]
    extra = f" + {direct.name}" if direct is not None else ""
    return [
        f"a = x_t @ kernel + {first}_tm1 @ recurrent_kernel + bias   (blocks {blocks})",
        f"d_{first}_tm1 = d_a @ recurrent_kernel.T{extra}",
        "d_kernel = sum_t x_t.T @ d_a_t;  d_recurrent_kernel = sum_t "
        f"{first}_tm1.T @ d_a_t;  d_bias = sum_t,batch d_a_t;  d_x_t = d_a_t @ kernel.T",
    ]


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


def _latex(forward: ForwardProgram, backward: BackwardProgram) -> str:
    printer = _LatexPrinter()
    rows = [rf"{t} &= {e}" for t, e in _lines(forward.assignments, printer)]
    forward_tex = "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"
    rows = [
        rf"{t} &= {e}" for block in backward.blocks for t, e in _lines(block.assignments, printer)
    ]
    backward_tex = "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"
    return f"% forward\n{forward_tex}\n% backward (bar = adjoint)\n{backward_tex}"


def _markdown(spec: CellSpec, forward: ForwardProgram, backward: BackwardProgram) -> str:
    tex = _latex(forward, backward).split("% backward (bar = adjoint)\n")
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
