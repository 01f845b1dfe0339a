"""`switchboard secret set|list|rm` run as a real process against a real db file: the value
comes from stdin only, is never printed, and bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import store
from gated import secret_store
from switchboard.schemas import open_all

VALUE = "sk-cli-canary-5b4a3c2d1e0f"


def sb(db: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "switchboard"
    return subprocess.run(
        [str(exe), *args, "--db", str(db)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def secrets_table(db: Path) -> list[tuple[str, ...]]:
    conn = store.connect(db)
    try:
        return [tuple(r) for r in conn.execute("SELECT name, upstream, header FROM secrets")]
    finally:
        conn.close()


def test_set_list_rm(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    r = sb(db, "secret", "set", "anthropic", "--upstream", "https://api.anthropic.com",
           stdin=VALUE + "\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout == "secret anthropic set -> https://api.anthropic.com (x-api-key)\n"
    assert oct((tmp_path / "secrets.key").stat().st_mode & 0o777) == "0o600"
    r = sb(db, "secret", "set", "gh", "--expose", "env", stdin="ghp-value")
    assert r.returncode == 0, r.stderr
    assert "raw value in the agent's environment" in r.stdout
    # Grants (until the folder settings table: `secrets` in the group's agent_config).
    conn = open_all(db)
    store.register_group(conn, "web:a", "alpha", agent_config={"secrets": ["anthropic", "gh"]})
    store.register_group(conn, "web:b", "beta", agent_config={"secrets": ["anthropic"]})
    conn.close()
    listed = json.loads(sb(db, "secret", "list", "--json").stdout)
    assert [(s["name"], s["upstream"], s["header"], s["expose"], s["groups"]) for s in listed] == [
        ("anthropic", "https://api.anthropic.com", "x-api-key", "proxy", ["alpha", "beta"]),
        ("gh", None, None, "env", ["alpha"]),
    ]
    assert listed[1]["warning"] == "raw value in the agent's environment"
    table = sb(db, "secret", "list").stdout
    assert "alpha, beta" in table
    assert "warning" in table
    # Setting again replaces the value (the proxy reads the new one).
    assert sb(db, "secret", "set", "anthropic", "--upstream", "https://api.anthropic.com",
              stdin="new-value").returncode == 0  # fmt: skip
    conn = store.connect(db)
    key = secret_store.load_key(tmp_path / "secrets.key")
    assert secret_store.reveal(conn, key, "anthropic") == "new-value"
    conn.close()
    r = sb(db, "secret", "rm", "gh")
    assert (r.returncode, r.stdout) == (0, "secret gh removed\n")
    assert [s["name"] for s in json.loads(sb(db, "secret", "list", "--json").stdout)] == [
        "anthropic"
    ]
    for out in (table, json.dumps(listed)):
        assert VALUE not in out
        assert "ghp-value" not in out


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["anthropic"], VALUE, "--upstream: is required"),
        (["anthropic", "--upstream", "http://api.anthropic.com"], VALUE, "https://"),
        (["anthropic", "--upstream", "https://u:p@x.org"], VALUE, "credentials"),
        (["Bad Name", "--upstream", "https://x.org"], VALUE, "not a secret name"),
        (["ok", "--upstream", "https://x.org", "--header", "Host"], VALUE, "managed by"),
        (["ok", "--upstream", "https://x.org", "--format", "Bearer"], VALUE, "exactly once"),
        (["ok", "--expose", "file"], VALUE, "--expose"),
        (["ok", "--expose", "env", "--upstream", "https://x.org"], VALUE, "--upstream"),
        (["ok", "--upstream", "https://x.org"], "", "value: is empty"),
        (["ok", "--upstream", "https://x.org"], "\n", "value: is empty"),
        (["ok", "--upstream", "https://x.org"], "two\nlines\n", "one line"),
        (["ok", "--upstream", "https://x.org"], "x" * 20000, "over"),
        # The value as an argument is refused: it would be in argv, ps and shell history.
        (["ok", VALUE, "--upstream", "https://x.org"], "", "never on the command line"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, args: list[str], stdin: str, message: str
) -> None:
    db = tmp_path / "messages.db"
    r = sb(db, "secret", "set", *args, stdin=stdin)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1
    assert message in r.stderr
    assert VALUE not in r.stderr + r.stdout
    assert not db.exists()
    assert not (tmp_path / "secrets.key").exists()


def test_rm_of_an_unknown_secret_and_a_bad_name(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    assert sb(db, "secret", "list").stdout.startswith("no secrets")
    r = sb(db, "secret", "rm", "nope")
    assert (r.returncode, r.stderr) == (2, "error: no secret named 'nope' (see: switchboard "
                                           "secret list)\n")  # fmt: skip
    assert sb(db, "secret", "rm", "../x").returncode == 2


def test_an_unsafe_key_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    assert sb(db, "secret", "set", "a", "--upstream", "https://x.org", stdin="v").returncode == 0
    (tmp_path / "secrets.key").chmod(0o644)
    r = sb(db, "secret", "set", "b", "--upstream", "https://x.org", stdin="v")
    assert r.returncode == 1
    assert "has mode 0644" in r.stderr
    assert "chmod 600" in r.stderr
    assert [row[0] for row in secrets_table(db)] == ["a"]
