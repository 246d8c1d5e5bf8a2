"""Emission: variant + target -> module text (``build``), and safe writing of the files."""

from __future__ import annotations

import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from . import derive, equations, hoist, printers, render
from .spec import CellSpec

GENERATED = re.compile(render.HEADER_PATTERN, re.MULTILINE)


DEFAULT_OUT = Path(render.DEFAULT_OUT)


def build(spec: CellSpec, target: str, out_dir: Path | str = DEFAULT_OUT) -> str:
    """The generated module for ``spec`` and ``target``, as text; ``out_dir`` (the output
    folder as the user gave it) goes into the header's regeneration command."""
    forward = equations.forward_program(spec)
    out = out_argument(out_dir) or render.DEFAULT_OUT
    # TF runs the lines that read the input alone before its time loop, on every step.
    split = hoist.split_program(forward) if target == "tf" else None
    if split is None:
        backward = derive.adjoint_program(forward)
        printed = printers.print_programs(forward, backward, target)
        return render.render_module(
            render.module_context(spec, forward, backward, printed, target, out)
        )
    halves = (split.loop, split.pre)
    backwards = tuple(derive.adjoint_program(half) for half in halves)
    printed = tuple(
        printers.print_programs(half, backward, target)
        for half, backward in zip(halves, backwards, strict=True)
    )
    context = render.hoisted_module_context(spec, forward, split, backwards, printed, target, out)
    return render.render_module(context)


def out_argument(out_dir: Path | str) -> str:
    """``out_dir`` as the user gave it, or ``""`` when it is the default folder (``generated``
    in the current directory, however written), which a command need not name."""
    if os.path.abspath(out_dir) == os.path.abspath(DEFAULT_OUT):
        return ""
    return str(out_dir)


def output_path(out_dir: Path, spec: CellSpec, target: str) -> Path:
    """``<out>/<target>/<variant>.py``."""
    return Path(out_dir) / target / f"{spec.name}.py"


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: ``written``, ``unchanged``, ``stale`` or ``missing``."""

    path: Path
    status: str


class ForeignFileError(RuntimeError):
    """A file in the way that lstmgen did not generate; nothing was written."""


def plan(specs: list[CellSpec], targets: list[str], out_dir: Path) -> list[tuple[Path, str]]:
    """Render every (spec, target) pair in memory; raises before anything is written."""
    return [
        (output_path(out_dir, spec, target), build(spec, target, out_dir))
        for spec in specs
        for target in targets
    ]


def check_foreign(files: list[tuple[Path, str]]) -> None:
    """Refuse to touch any existing file without the generated header."""
    foreign = [str(path) for path, _ in files if path.exists() and not _is_generated(path)]
    if foreign:
        raise ForeignFileError(
            "refusing to overwrite files lstmgen did not generate (no "
            f"'# Code generated ... DO NOT EDIT.' first line): {', '.join(foreign)}"
        )


def _is_generated(path: Path) -> bool:
    if not path.is_file():
        return False
    with open(path, encoding="utf-8", errors="replace") as handle:
        return bool(GENERATED.match(handle.readline().rstrip("\n")))


def write_files(files: list[tuple[Path, str]]) -> list[Outcome]:
    """Write each file whose bytes change, atomically (temp file + rename)."""
    check_foreign(files)
    outcomes = []
    for path, text in files:
        data = text.encode("utf-8")
        if path.is_file() and path.read_bytes() == data:
            outcomes.append(Outcome(path, "unchanged"))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else None
        handle, temp = _create_temp(path)
        try:
            if mode is not None:  # an existing file keeps its mode, as open(path, "w") does
                os.chmod(temp, mode)
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        outcomes.append(Outcome(path, "written"))
    return outcomes


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new file beside ``path``, created with mode 0o666 so that the process umask applies
    as for ``open(path, "w")`` (``tempfile.mkstemp`` would make it 0o600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def check_files(files: list[tuple[Path, str]]) -> list[Outcome]:
    """Compare without writing: ``unchanged``, ``stale`` or ``missing`` per file."""
    outcomes = []
    for path, text in files:
        if not path.is_file():
            outcomes.append(Outcome(path, "missing"))
        elif path.read_bytes() != text.encode("utf-8"):
            outcomes.append(Outcome(path, "stale"))
        else:
            outcomes.append(Outcome(path, "unchanged"))
    return outcomes
