"""Command line: ``lstmgen emit | derive | verify | variants``: parse, call one function, exit."""

from __future__ import annotations

import os
import re
import shlex
import sys
import tempfile
from pathlib import Path

import click

from . import emit as emitting
from .activations import ACTIVATIONS
from .printers import TARGETS
from .spec import (
    VARIANTS,
    CellSpec,
    OptionError,
    activation_variant_name,
    name_with_options,
    number_text,
)
from .specfile import SpecFileError, load_spec, spec_file_text, spec_name_problem
from .specfile import all_variants as builtin_variants
from .specfile import resolve as resolve_name

ACTIVATION_CHOICE = click.Choice(sorted(ACTIVATIONS))
OPTION_FLAGS = {"cell_clip": "--cell-clip", "forget_bias": "--forget-bias"}
# TensorFlow's C++ start-up lines: glog/absl (``I0000 00:00:17.. 6388 port.cc:153] ...``,
# older ``2024-01-11 05:40:05.06: I tensorflow/...``), absl's banner, and the continuation
# of cpu_feature_guard's line.
_TF_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] "
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .* rebuild TensorFlow)"
)


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow (if installed) without its start-up log lines on stderr.

    ``TF_CPP_MIN_LOG_LEVEL=3`` (unless the user set it) silences TensorFlow's own logging;
    TF >= 2.18 logs its first lines through absl before reading it, so the import runs with
    file descriptor 2 captured, and whatever else it wrote is passed on.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            pass  # verify reports the checks that need it as NOT RUN
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        lines = capture.read().decode("utf-8", errors="replace").splitlines(keepends=True)
    kept = "".join(line for line in lines if not _TF_LOG_LINE.match(line))
    if kept:
        click.echo(kept, err=True, nl=False)


def _specs(
    variants: tuple[str, ...],
    activation: str | None,
    recurrent_activation: str | None,
    spec_files: tuple[Path, ...] = (),
    cell_clip: float | None = None,
    forget_bias: float = 0.0,
) -> list[CellSpec]:
    """Variants named on the command line, the spec files, and the activation flags' one;
    ``--cell-clip`` / ``--forget-bias`` apply to the named variants and the activation one."""
    given = {
        flag: value
        for flag, value, is_set in (
            ("--cell-clip", cell_clip, cell_clip is not None),
            ("--forget-bias", forget_bias, forget_bias != 0),
        )
        if is_set
    }
    if given and not (variants or activation or recurrent_activation):
        shown = " and ".join(f"{flag} {number_text(value)}" for flag, value in given.items())
        raise click.BadParameter(
            f"{shown}: options apply to the variants named with --variant or "
            "--activation/--recurrent-activation; none given.",
            param_hint=" / ".join(f"'{flag}'" for flag in given),
        )

    def resolve(name: str) -> CellSpec:
        try:
            if given:
                name = name_with_options(name, cell_clip, forget_bias)
            return resolve_name(name, tuple(ACTIVATIONS))
        except OptionError as error:  # names the value (and the variant, if at fault)
            flag = OPTION_FLAGS[error.option]
            raise click.BadParameter(str(error), param_hint=f"'{flag}'") from None
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="'--variant'") from None

    specs = [resolve(name) for name in variants]
    try:
        specs += [load_spec(path) for path in spec_files]
    except SpecFileError as error:
        raise click.BadParameter(str(error), param_hint="'--spec'") from None
    if activation or recurrent_activation:
        act = activation or "tanh"
        ract = recurrent_activation or "sigmoid"
        specs.append(resolve(activation_variant_name(act, ract)))
    if not specs:
        specs = list(builtin_variants().values())
    unique = {spec.name: spec for spec in specs}
    return list(unique.values())


variant_option = click.option(
    "--variant",
    "variants",
    multiple=True,
    metavar="NAME",
    help=f"Variant to use (repeatable): one of {', '.join(sorted(VARIANTS))}, the cells of "
    "`lstmgen variants`, "
    "or lstm_ra-<recurrent_activation>_act-<activation>.",
)
spec_option = click.option(
    "--spec",
    "spec_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A user-defined cell described in a TOML spec file (repeatable; see examples/).",
)
activation_option = click.option(
    "--activation", type=ACTIVATION_CHOICE, help="Keras `activation` of an LSTM variant."
)
recurrent_option = click.option(
    "--recurrent-activation",
    type=ACTIVATION_CHOICE,
    help="Keras `recurrent_activation` of an LSTM variant.",
)
cell_clip_option = click.option(
    "--cell-clip",
    type=float,
    default=None,
    metavar="FLOAT",
    help="Clip c to [-FLOAT, FLOAT] after the update (TF1 LSTMCell's cell_clip), in each "
    "LSTM-family variant given; names get _clip-<FLOAT>.",
)
forget_bias_option = click.option(
    "--forget-bias",
    type=float,
    default=0.0,
    metavar="FLOAT",
    help="Add FLOAT to a_f (TF1 LSTMCell's forget_bias), in each variant given with a "
    "forget gate block; names get _fb-<FLOAT>.",
)


@click.group()
@click.version_option(package_name="lstmgen")
def main() -> None:
    """lstmgen: LSTM difference equations -> verified NumPy and TensorFlow code."""


def _emit_command(
    target: str,
    variants: tuple[str, ...],
    spec_files: tuple[Path, ...],
    activation: str | None,
    recurrent_activation: str | None,
    cell_clip: float | None,
    forget_bias: float,
    out: Path,
) -> str:
    """The ``lstmgen emit`` invocation with these arguments (``--check`` dropped), quoted
    for a POSIX shell: what rewrites the files a ``--check`` found stale, and nothing else."""
    words = ["lstmgen", "emit", "--target", target]
    for name in variants:
        words += ["--variant", name]
    for path in spec_files:
        words += ["--spec", str(path)]
    for flag, value in (
        ("--activation", activation),
        ("--recurrent-activation", recurrent_activation),
    ):
        if value:
            words += [flag, value]
    if cell_clip is not None:
        words += ["--cell-clip", number_text(cell_clip)]
    if forget_bias:
        words += ["--forget-bias", number_text(forget_bias)]
    if emitting.out_argument(out):
        words += ["--out", emitting.out_argument(out)]
    return shlex.join(words)


@main.command()
@click.option(
    "--target",
    type=click.Choice([*TARGETS, "all"]),
    default="numpy",
    show_default=True,
    help="Code to generate.",
)
@variant_option
@spec_option
@activation_option
@recurrent_option
@cell_clip_option
@forget_bias_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=emitting.DEFAULT_OUT,
    show_default=True,
    help="Output folder; files go to <out>/<target>/<variant>.py.",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a file is stale.")
def emit(
    target,
    variants,
    spec_files,
    activation,
    recurrent_activation,
    cell_clip,
    forget_bias,
    out,
    check,
) -> None:
    """Generate modules (default: every built-in variant)."""
    specs = _specs(variants, activation, recurrent_activation, spec_files, cell_clip, forget_bias)
    targets = list(TARGETS) if target == "all" else [target]
    files = emitting.plan(specs, targets, out)
    if check:
        outcomes = emitting.check_files(files)
        bad = [o for o in outcomes if o.status != "unchanged"]
        for outcome in bad:
            click.echo(f"{outcome.status}: {outcome.path}")
        if bad:
            command = _emit_command(
                target,
                variants,
                spec_files,
                activation,
                recurrent_activation,
                cell_clip,
                forget_bias,
                out,
            )
            click.echo(
                f"{len(bad)} of {len(outcomes)} generated files are stale or missing; "
                f"regenerate with: {command}",
                err=True,
            )
            sys.exit(1)
        click.echo(f"{len(outcomes)} generated files are up to date.")
        return
    try:
        outcomes = emitting.write_files(files)
    except emitting.ForeignFileError as error:
        raise click.ClickException(str(error)) from None
    for outcome in outcomes:
        click.echo(f"{outcome.status}: {outcome.path}")


@main.command()
@variant_option
@spec_option
@activation_option
@recurrent_option
@cell_clip_option
@forget_bias_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "latex", "markdown"]),
    default="text",
    show_default=True,
)
def derive(
    variants, spec_files, activation, recurrent_activation, cell_clip, forget_bias, fmt
) -> None:
    """Print the forward equations and their derived adjoints."""
    from .report import derivation_report

    default = () if spec_files or activation or recurrent_activation else ("lstm",)
    specs = _specs(
        variants or default,
        activation,
        recurrent_activation,
        spec_files,
        cell_clip,
        forget_bias,
    )
    click.echo("\n\n".join(derivation_report(spec, fmt) for spec in specs))


@main.command()
@variant_option
@spec_option
@activation_option
@recurrent_option
@cell_clip_option
@forget_bias_option
@click.option("--all", "all_variants", is_flag=True, help="Verify every built-in variant.")
@click.option(
    "--target",
    type=click.Choice([*TARGETS, "all"]),
    default="all",
    show_default=True,
    help="Generated code to check: against Keras (numpy, tf); jax: against JAX autodiff and "
    "the NumPy module.",
)
def verify(
    variants,
    spec_files,
    activation,
    recurrent_activation,
    cell_clip,
    forget_bias,
    all_variants,
    target,
) -> None:
    """Check derivations exactly and generated code numerically and against Keras."""
    _import_tensorflow_quietly()
    from .verify import format_header, format_row, run_checks, table_widths

    variants = verified_names(variants, all_variants)
    specs = _specs(variants, activation, recurrent_activation, spec_files, cell_clip, forget_bias)
    targets = list(TARGETS) if target == "all" else [target]
    # On a terminal, a transient line on stderr says what runs; rows go to stdout as they end.
    terminal = sys.stderr.isatty()

    def progress(spec: CellSpec, check: str, k: int, n: int) -> None:
        if terminal:
            click.echo(
                f"\r\x1b[Kverifying {spec.name}: {check} ({k}/{n} variants)", nl=False, err=True
            )

    widths = table_widths(spec.name for spec in specs)
    click.echo(format_header(widths))
    results = []
    for result in run_checks(specs, targets, progress=progress):
        if terminal:
            click.echo("\r\x1b[K", nl=False, err=True)
        click.echo(format_row(result, widths))
        results.append(result)
    failed = [r for r in results if r.status == "FAIL"]
    if failed:
        click.echo(f"{len(failed)} of {len(results)} checks failed.", err=True)
        sys.exit(1)


def verified_names(variants: tuple[str, ...], all_variants: bool) -> tuple[str, ...]:
    """The variants ``verify`` checks: those named, and with ``--all`` every built-in one
    (the Python-defined family and the cells shipped as spec files), sorted."""
    if not all_variants:
        return variants
    return tuple(sorted(set(variants) | set(builtin_variants())))


@main.command()
@click.option(
    "--as-spec",
    "as_spec",
    metavar="NAME",
    help="Print variant NAME (any name --variant takes) as a spec file to copy and change, "
    "instead of the list.",
)
@click.option(
    "--name",
    "spec_name",
    metavar="NAME",
    help="With --as-spec: the spec file's cell name (default: my_<variant>).",
)
def variants(as_spec: str | None, spec_name: str | None) -> None:
    """List the built-in variants: summary, equations, states and parameter shapes."""
    from .report import variant_listing

    if as_spec is not None:
        click.echo(_as_spec_file(as_spec, spec_name), nl=False)
        return
    if spec_name is not None:
        raise click.BadParameter("--name goes with --as-spec", param_hint="'--name'")
    click.echo("\n\n".join(variant_listing(spec) for spec in builtin_variants().values()))
    click.echo(
        "\nAny LSTM with other activations: --activation A --recurrent-activation A "
        f"(A in {', '.join(sorted(ACTIVATIONS))}), named lstm_ra-<A>_act-<A>.\n"
        "Any LSTM-family variant with --cell-clip V / --forget-bias V, named "
        "<variant>_clip-<V>_fb-<V>; any cell of your own with --spec FILE.toml\n"
        "(lstmgen variants --as-spec VARIANT prints a variant as one to start from)."
    )


def _as_spec_file(variant: str, name: str | None) -> str:
    """``variants --as-spec``: the variant as spec file text, under ``name``."""
    try:
        spec = resolve_name(variant, tuple(ACTIVATIONS))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--as-spec'") from None
    if name is None:
        name = "my_" + re.sub(r"[^a-z0-9_\-]", "_", spec.name)[:61]
    if spec_name_problem(name):
        raise click.BadParameter(spec_name_problem(name), param_hint="'--name'")
    try:
        resolve_name(name)
    except ValueError:
        pass
    else:
        raise click.BadParameter(
            f"{name!r} is a built-in variant's name; give the cell a name of its own",
            param_hint="'--name'",
        )
    try:
        return spec_file_text(spec, name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--as-spec'") from None
