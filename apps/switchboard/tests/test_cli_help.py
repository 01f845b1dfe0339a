"""Every command and sub-command of the `switchboard` app -- enumerated from the app, so
commands added later are covered too -- has `--help` that exits 0 and a non-empty help text."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from switchboard.cli import app
from typer._click import Command, Context
from typer.core import TyperGroup as Group
from typer.testing import CliRunner


def all_commands() -> list[tuple[tuple[str, ...], Command]]:
    """(path, command) for the app itself and every command below it."""
    root = typer.main.get_command(app)
    found: list[tuple[tuple[str, ...], Command]] = [((), root)]

    def walk(group: Group, path: tuple[str, ...]) -> None:
        ctx = Context(group, info_name=" ".join(("switchboard", *path)))
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            assert cmd is not None, name
            found.append(((*path, name), cmd))
            if isinstance(cmd, Group):
                walk(cmd, (*path, name))

    assert isinstance(root, Group)
    walk(root, ())
    return found


COMMANDS = all_commands()


def test_the_core_commands_are_all_there() -> None:
    paths = {" ".join(p) for p, _ in COMMANDS}
    expected = {"init", "status", "doctor", "send", "backup", "group", "route"}
    expected |= {f"{g} {c}" for g in ("group", "route") for c in ("add", "list", "rm")}
    assert expected <= paths


@pytest.mark.parametrize(
    ("path", "cmd"), COMMANDS, ids=[" ".join(p) or "<app>" for p, _ in COMMANDS]
)
def test_command_has_help(path: tuple[str, ...], cmd: Command) -> None:
    assert (cmd.help or "").strip(), f"switchboard {' '.join(path)} has no help text"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert cmd.help is not None
    assert cmd.help.strip().split()[0] in result.output


def test_module_entry_point_runs_the_same_app() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "switchboard.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
    assert "backup" in proc.stdout
