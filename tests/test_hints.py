"""Every hint lstmgen prints or writes is a command that, run as given, does what it says."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from click.testing import CliRunner
from generated_modules import ROOT

from lstmgen.cli import main


def run_command(command: str):
    """Run a printed ``lstmgen ...`` command line through the CLI, as a shell would split it."""
    words = shlex.split(command)
    assert words[0] == "lstmgen", command
    return CliRunner().invoke(main, words[1:], catch_exceptions=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def hint(text: str, pattern: str) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, (pattern, text)
    return match.group(1)


def test_regenerate_line_rewrites_the_spec_file_module_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "examples" / "janet.toml", "my cell.toml")
    emitted = run_command("lstmgen emit --spec 'my cell.toml' --out mine --target all")
    assert emitted.exit_code == 0, emitted.output
    before = snapshot(tmp_path)
    modules = sorted(Path("mine").rglob("*.py"))
    assert [str(p) for p in modules] == ["mine/numpy/janet.py", "mine/tf/janet.py"]
    for module in modules:
        command = hint(module.read_text(), r"^# Regenerate with: (.*)$")
        assert "--spec 'my cell.toml'" in command and "--out mine" in command, command
        module.write_text(module.read_text() + "# edited\n")
        result = run_command(command)
        assert result.exit_code == 0, (command, result.output)
        assert snapshot(tmp_path) == before, command
        assert not Path("generated").exists()


def test_regenerate_line_of_named_variants_resolves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    emitted = run_command(
        "lstmgen emit --variant lstm_peephole --cell-clip 3 --forget-bias 1 "
        "--activation softsign --recurrent-activation relu --out o"
    )
    assert emitted.exit_code == 0, emitted.output
    before = snapshot(tmp_path)
    assert sorted(before) == [
        "o/numpy/lstm_peephole_clip-3_fb-1.py",
        "o/numpy/lstm_ra-relu_act-softsign_clip-3_fb-1.py",
    ]
    for name in before:
        command = hint(Path(name).read_text(), r"^# Regenerate with: (.*)$")
        Path(name).unlink()
        assert run_command(command).exit_code == 0, command
        assert snapshot(tmp_path) == before, command


def test_builtin_regenerate_line_is_unchanged():
    text = (ROOT / "generated" / "tf" / "gru.py").read_text()
    assert text.splitlines()[1] == "# Regenerate with: lstmgen emit --target tf --variant gru"
    assert "``lstmgen derive --variant gru``" in text


def test_check_hint_is_the_same_invocation_without_check(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "examples" / "janet.toml", "janet.toml")
    flags = "--spec janet.toml --variant gru --out mine --target all"
    assert run_command(f"lstmgen emit {flags}").exit_code == 0
    stale = Path("mine/tf/janet.py")
    fresh = stale.read_bytes()
    stale.write_bytes(fresh + b"# edited\n")
    before = snapshot(tmp_path)
    checked = CliRunner().invoke(main, ["emit", *shlex.split(flags), "--check"])
    assert checked.exit_code == 1
    assert snapshot(tmp_path) == before  # --check writes nothing
    command = hint(checked.output, r"regenerate with: (.*)$")
    assert "--spec janet.toml" in command and "--out mine" in command, command
    assert run_command(command).exit_code == 0, command
    assert stale.read_bytes() == fresh
    assert snapshot(tmp_path) == {**before, "mine/tf/janet.py": fresh}
    assert not Path("generated").exists()


def test_check_hint_keeps_the_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flags = ["--variant", "lstm", "--cell-clip", "2.5", "--forget-bias", "-1", "--out", "x y"]
    checked = CliRunner().invoke(main, ["emit", *flags, "--check"])
    assert checked.exit_code == 1 and "missing: x y/numpy/lstm_clip-2.5_fb--1.py" in checked.output
    command = hint(checked.output, r"regenerate with: (.*)$")
    assert shlex.split(command) == ["lstmgen", "emit", "--target", "numpy", *flags]
    assert run_command(command).exit_code == 0
    assert sorted(snapshot(tmp_path)) == ["x y/numpy/lstm_clip-2.5_fb--1.py"]


def test_docstring_derive_hint_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "examples" / "janet.toml", "janet.toml")
    assert run_command("lstmgen emit --spec janet.toml --out mine").exit_code == 0
    command = hint(Path("mine/numpy/janet.py").read_text(), r"^``(lstmgen derive [^`]*)``")
    assert command == "lstmgen derive --spec janet.toml"
    result = run_command(command)
    assert result.exit_code == 0, result.output
    assert "Variant janet" in result.output
