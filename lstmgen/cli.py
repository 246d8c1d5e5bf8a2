"""Command line: ``lstmgen emit | derive | verify | variants``: parse, call one function, exit."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import emit as emitting
from .activations import ACTIVATIONS
from .printers import TARGETS
from .spec import VARIANTS, CellSpec, activation_variant_name, lstm_spec, resolve_variant
from .specfile import SpecFileError, load_spec

ACTIVATION_CHOICE = click.Choice(sorted(ACTIVATIONS))


def _specs(
    variants: tuple[str, ...],
    activation: str | None,
    recurrent_activation: str | None,
    spec_files: tuple[Path, ...] = (),
) -> list[CellSpec]:
    """Variants named on the command line, the spec files, and the activation flags' one."""
    try:
        specs = [resolve_variant(name, tuple(ACTIVATIONS)) for name in variants]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--variant'") from None
    try:
        specs += [load_spec(path) for path in spec_files]
    except SpecFileError as error:
        raise click.BadParameter(str(error), param_hint="'--spec'") from None
    if activation or recurrent_activation:
        act = activation or "tanh"
        ract = recurrent_activation or "sigmoid"
        name = activation_variant_name(act, ract)
        specs.append(VARIANTS.get(name) or lstm_spec(name, act, ract))
    if not specs:
        specs = list(VARIANTS.values())
    unique = {spec.name: spec for spec in specs}
    return list(unique.values())


variant_option = click.option(
    "--variant",
    "variants",
    multiple=True,
    metavar="NAME",
    help=f"Variant to use (repeatable): one of {', '.join(sorted(VARIANTS))}, "
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


@click.group()
@click.version_option(package_name="lstmgen")
def main() -> None:
    """lstmgen: LSTM difference equations -> verified NumPy and TensorFlow code."""


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
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("generated"),
    show_default=True,
    help="Output folder; files go to <out>/<target>/<variant>.py.",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a file is stale.")
def emit(target, variants, spec_files, activation, recurrent_activation, out, check) -> None:
    """Generate modules (default: every built-in variant)."""
    specs = _specs(variants, activation, recurrent_activation, spec_files)
    targets = list(TARGETS) if target == "all" else [target]
    files = emitting.plan(specs, targets, out)
    if check:
        outcomes = emitting.check_files(files)
        bad = [o for o in outcomes if o.status != "unchanged"]
        for outcome in bad:
            click.echo(f"{outcome.status}: {outcome.path}")
        if bad:
            click.echo(
                f"{len(bad)} of {len(outcomes)} generated files are stale or missing; "
                f"regenerate with: lstmgen emit --target {target}",
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
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "latex", "markdown"]),
    default="text",
    show_default=True,
)
def derive(variants, spec_files, activation, recurrent_activation, fmt) -> None:
    """Print the forward equations and their derived adjoints."""
    from .report import derivation_report

    default = () if spec_files or activation or recurrent_activation else ("lstm",)
    specs = _specs(variants or default, activation, recurrent_activation, spec_files)
    click.echo("\n\n".join(derivation_report(spec, fmt) for spec in specs))


@main.command()
@variant_option
@spec_option
@activation_option
@recurrent_option
@click.option("--all", "all_variants", is_flag=True, help="Verify every built-in variant.")
@click.option(
    "--target",
    type=click.Choice([*TARGETS, "all"]),
    default="all",
    show_default=True,
    help="Generated code to check against Keras.",
)
def verify(variants, spec_files, activation, recurrent_activation, all_variants, target) -> None:
    """Check derivations exactly and generated code numerically and against Keras."""
    from .verify import format_table, run_checks

    if all_variants:
        variants = tuple(sorted(set(variants) | set(VARIANTS)))
    specs = _specs(variants, activation, recurrent_activation, spec_files)
    targets = list(TARGETS) if target == "all" else [target]
    results = run_checks(specs, targets)
    click.echo(format_table(results))
    failed = [r for r in results if r.status == "FAIL"]
    if failed:
        click.echo(f"{len(failed)} of {len(results)} checks failed.", err=True)
        sys.exit(1)


@main.command()
def variants() -> None:
    """List the built-in variants."""
    width = max(len(name) for name in VARIANTS)
    for name, spec in VARIANTS.items():
        click.echo(f"{name:<{width}}  {spec.summary}")
    click.echo(
        "\nAny LSTM with other activations: --activation A --recurrent-activation A "
        f"(A in {', '.join(sorted(ACTIVATIONS))}), named lstm_ra-<A>_act-<A>."
    )
