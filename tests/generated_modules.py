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
    spec.loader.exec_module(module)
    return module
