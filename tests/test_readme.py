"""The README quick start is executed as written (STYLE.md principle 10), with fewer replicates."""
import re
import shlex

from simulator.cli import main

from conftest import ROOT


def quick_start_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = []
    for line in block.strip().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            args = shlex.split(line)
            assert args[0] == ".venv/bin/crtsim"
            commands.append(args[1:])
    return commands


def test_quick_start_runs(tmp_path, monkeypatch, capsys):
    commands = quick_start_commands()
    assert [c[0] for c in commands] == ["validate", "power", "run", "draw", "report"]
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    monkeypatch.chdir(tmp_path)
    for args in commands:
        if args[0] == "run":
            args = [a if not re.fullmatch(r"\d+", a) else "10" for a in args] + ["--executor", "serial"]
        assert main(args) == 0, args
    out = tmp_path / "outputs" / "refocus"
    for name in ("summary.csv", "replicates.csv", "run.json", "report.html", "power_curve.png"):
        assert (out / name).exists(), name
    assert (out / "draw" / "patients.csv").exists()
