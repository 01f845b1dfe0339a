"""--db / SWITCHBOARD_DB with a URL: every daemon and the CLI refuse what they cannot use with
one line and exit 2, and create nothing (a `postgresql:` directory was the old defect). The
daemons run on SQLite only until issue 20 ports them; then the PostgreSQL cases change here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
PG_URL = "postgresql://sb:hunter2@127.0.0.1:5432/switchboard"
OTHER_URL = "mysql://root:hunter2@127.0.0.1/switchboard"
PROGRAMS = {
    "gated": [str(BIN / "gated")],
    "timed": [str(BIN / "timed")],
    "onbod": [str(BIN / "onbod")],
    "dashd": [str(BIN / "dashd")],
    "switchboard": [str(BIN / "switchboard"), "init"],
}
# SWITCHBOARD_DB goes through the same parser as --db; one daemon and the CLI show it.
VIA_ENV = ["timed", "switchboard"]


def run(argv: list[str], cwd: Path, env_db: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_DB"}
    if env_db is not None:
        env["SWITCHBOARD_DB"] = env_db
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("program", "via"), [(p, "flag") for p in PROGRAMS] + [(p, "env") for p in VIA_ENV]
)
def test_a_postgresql_url_is_refused_as_sqlite_only_for_now(
    program: str, via: str, tmp_path: Path
) -> None:
    argv = PROGRAMS[program] + (["--db", PG_URL] if via == "flag" else [])
    result = run(argv, tmp_path, env_db=PG_URL if via == "env" else None)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "runs on SQLite only so far" in lines[0]
    assert "postgresql://sb:***@127.0.0.1:5432/switchboard" in lines[0]
    assert "hunter2" not in result.stderr + result.stdout
    assert list(tmp_path.iterdir()) == []  # no postgresql: directory, no data/


@pytest.mark.parametrize("program", PROGRAMS)
def test_an_unsupported_scheme_is_refused_naming_the_accepted_forms(
    program: str, tmp_path: Path
) -> None:
    result = run([*PROGRAMS[program], "--db", OTHER_URL], tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "is not a database Switchboard can use" in lines[0]
    assert "a database file path (SQLite) or a postgresql:// URL" in lines[0]
    assert "hunter2" not in result.stderr
    assert list(tmp_path.iterdir()) == []
