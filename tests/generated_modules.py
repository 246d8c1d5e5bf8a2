"""Paths of the committed generated files, and loading them as modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "generated"


def load_generated(target: str, variant: str):
    """Import ``generated/<target>/<variant>.py`` as a module (file names may hold '-')."""
    path = GENERATED / target / f"{variant}.py"
    name = f"lstmgen_generated_{target}_{variant.replace('-', '_')}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        # A missing or broken file must fail every test that loads it, not leave a
        # half-initialised module behind for the next one.
        del sys.modules[name]
        raise
    return module


def size_values(module, units: int) -> dict[str, int]:
    """Every size a generated module's ``param_shapes`` takes, by name: ``units``, and any
    other (LSTMP's ``proj_units``) a different number, so that a mixed-up size fails."""
    others = {name: units - 2 if units > 3 else units + 2 for name in module.STATE_SIZES}
    return {**others, "units": units}


def extra_sizes(module, units: int) -> dict[str, int]:
    """The sizes after ``units`` in ``param_shapes`` (and the layer's arguments), by name."""
    return {k: v for k, v in size_values(module, units).items() if k != "units"}


def param_shapes(module, input_dim: int, units: int) -> dict[str, tuple[int, ...]]:
    """``module.param_shapes`` with every size it takes."""
    return module.param_shapes(input_dim, units, *extra_sizes(module, units).values())


def state_widths(module, units: int) -> list[int]:
    """The width of each state, in ``STATE_NAMES`` order."""
    sizes = size_values(module, units)
    return [sizes[name] for name in module.STATE_SIZES]
