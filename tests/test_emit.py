"""Emission: committed files equal a fresh render, byte-reproducible, safe writes."""

from __future__ import annotations

import ast
import os
import stat
import subprocess
import sys

import pytest
from generated_modules import GENERATED, ROOT

from lstmgen import emit
from lstmgen.printers import TARGETS
from lstmgen.spec import VARIANTS, resolve_variant


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_committed_files_equal_a_fresh_render(variant, target):
    path = GENERATED / target / f"{variant}.py"
    assert path.read_text(encoding="utf-8") == emit.build(VARIANTS[variant], target)


def test_renders_are_identical_under_different_hash_seeds():
    script = (
        "import hashlib; from lstmgen import emit; from lstmgen.spec import resolve_variant;"
        "print(hashlib.sha256(''.join(emit.build(resolve_variant(v), t) for v in "
        "('lstm', 'lstm_hard_sigmoid_keras2', 'lstm_ra-selu_act-leaky_relu') "
        "for t in ('numpy', 'tf', 'jax')).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("0", "1", "12345")
    }
    assert len(digests) == 1


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("variant", [*sorted(VARIANTS), "lstm_ra-selu_act-leaky_relu"])
def test_output_compiles_and_imports_only_its_framework(variant, target):
    source = emit.build(resolve_variant(variant), target)
    assert source.splitlines()[0].endswith("DO NOT EDIT.")
    assert emit.GENERATED.match(source.splitlines()[0])
    assert source.endswith("\n") and not source.endswith("\n\n")
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            imported.add(node.module.split(".")[0])
    allowed = {"numpy": {"numpy"}, "tf": {"tensorflow", "keras"}, "jax": {"jax"}}[target]
    assert imported and imported <= allowed
    for forbidden in ("/work", "/root", "/tmp", "lstmgen 0.", "sympy"):
        assert forbidden not in source


def test_generated_code_passes_ruff(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(GENERATED)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_write_only_when_bytes_change_and_refuse_foreign_files(tmp_path):
    specs = [VARIANTS["lstm"]]
    files = emit.plan(specs, ["numpy"], tmp_path)
    assert [o.status for o in emit.write_files(files)] == ["written"]
    path = files[0][0]
    mtime = path.stat().st_mtime_ns
    assert [o.status for o in emit.write_files(files)] == ["unchanged"]
    assert path.stat().st_mtime_ns == mtime
    assert [o.status for o in emit.check_files(files)] == ["unchanged"]
    path.write_text(path.read_text() + "# edited\n")
    assert [o.status for o in emit.check_files(files)] == ["stale"]
    assert [o.status for o in emit.write_files(files)] == ["written"]
    # A file without the generated header is never overwritten, and nothing else is written.
    foreign = tmp_path / "numpy" / "lstm_hard_sigmoid.py"
    foreign.write_text("my own code\n")
    files = emit.plan([VARIANTS["lstm"], VARIANTS["lstm_hard_sigmoid"]], ["numpy"], tmp_path)
    path.unlink()
    with pytest.raises(emit.ForeignFileError, match="lstm_hard_sigmoid.py"):
        emit.write_files(files)
    assert foreign.read_text() == "my own code\n"
    assert not path.exists()
    assert sorted(p.name for p in (tmp_path / "numpy").iterdir()) == ["lstm_hard_sigmoid.py"]


@pytest.mark.parametrize("umask, want", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_follow_the_umask(tmp_path, umask, want):
    files = emit.plan([resolve_variant("lstm")], list(TARGETS), tmp_path)
    old = os.umask(umask)
    try:
        emit.write_files(files)
        plain = tmp_path / "plain.txt"
        with open(plain, "w"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(plain.stat().st_mode) == want
    for path, _ in files:
        assert stat.S_IMODE(path.stat().st_mode) == want, path
    names = sorted(p.name for p in tmp_path.rglob("*"))
    # One folder and one module per target, no temporaries.
    assert names == sorted(["plain.txt", *TARGETS, *["lstm.py"] * len(TARGETS)])


def test_rewritten_files_keep_their_mode(tmp_path):
    files = emit.plan([resolve_variant("lstm")], ["numpy"], tmp_path)
    path, text = files[0]
    path.parent.mkdir()
    path.write_text(text + "# stale\n")
    path.chmod(0o640)
    old = os.umask(0o077)
    try:
        assert [o.status for o in emit.write_files(files)] == ["written"]
    finally:
        os.umask(old)
    assert path.read_text() == text
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["lstm.py"]  # no temporary left
