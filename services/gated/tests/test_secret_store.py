"""The secret store: values sealed under a 0600 key file beside the database, so neither the
database file nor a backup of it holds a usable secret; unsafe or wrong key files are refused;
every setting is validated before anything is written."""

from __future__ import annotations

import base64
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import store
from gated import secret_store
from gated.credproxy import resolve_grants
from gated.errors import SecretKeyError
from gated.main import SCHEMAS
from hypothesis import given
from hypothesis import strategies as st

CANARY = "sk-canary-0d9e8f7a6b5c4d3e"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "messages.db"


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    c = store.open(db, SCHEMAS)
    yield c
    c.close()


def put(conn: sqlite3.Connection, db: Path, name: str = "anthropic", value: str = CANARY) -> None:
    settings = secret_store.secret_settings(name, upstream="https://api.anthropic.com")
    secret_store.set_secret(conn, secret_store.key_file_for(db), settings, value)


def test_a_value_round_trips_and_the_key_file_is_0600_beside_the_database(
    conn: sqlite3.Connection, db: Path
) -> None:
    put(conn, db)
    key_file = db.parent / "secrets.key"
    assert secret_store.key_file_for(db) == key_file.resolve()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    key = secret_store.load_key(key_file)
    assert secret_store.reveal(conn, key, "anthropic") == CANARY
    put(conn, db, value="second value")  # replacing keeps the key, changes the value
    assert secret_store.reveal(conn, secret_store.load_key(key_file), "anthropic") == (
        "second value"
    )


def test_the_database_and_its_backup_hold_neither_the_value_nor_the_key(
    conn: sqlite3.Connection, db: Path, tmp_path: Path
) -> None:
    put(conn, db)
    key_text = (db.parent / "secrets.key").read_bytes().strip()
    key = base64.urlsafe_b64decode(key_text)
    backup = tmp_path / "backup.db"
    conn.execute("VACUUM INTO ?", (str(backup),))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for path in [*tmp_path.glob("messages.db*"), backup]:
        data = path.read_bytes()
        for needle in (CANARY.encode(), key, key_text):
            assert needle not in data, path
    # A copy of the database without the key file opens nothing.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    copy = store.open(backup, SCHEMAS)
    with pytest.raises(SecretKeyError, match="is missing"):
        secret_store.load_key(secret_store.key_file_for(elsewhere / "backup.db"))
    other_key = secret_store.load_key(elsewhere / "secrets.key", create=True)
    with pytest.raises(SecretKeyError, match="another key file"):
        secret_store.reveal(copy, other_key, "anthropic")
    copy.close()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_may_read_is_refused(
    conn: sqlite3.Connection, db: Path, mode: int
) -> None:
    put(conn, db)
    key_file = secret_store.key_file_for(db)
    key_file.chmod(mode)
    with pytest.raises(SecretKeyError, match=f"has mode {mode:04o}.*chmod 600"):
        secret_store.load_key(key_file)
    with pytest.raises(SecretKeyError):
        put(conn, db, name="other")
    assert secret_store.get_secret(conn, "other") is None


def test_a_symlinked_or_garbled_key_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.key"
    secret_store.load_key(real, create=True)
    link = tmp_path / "link.key"
    link.symlink_to(real)
    with pytest.raises(SecretKeyError):
        secret_store.load_key(link)
    garbled = tmp_path / "garbled.key"
    fd = os.open(garbled, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key\n")
    os.close(fd)
    with pytest.raises(SecretKeyError, match="does not hold"):
        secret_store.load_key(garbled)


def test_a_sealed_value_moved_to_another_name_does_not_open(
    conn: sqlite3.Connection, db: Path
) -> None:
    put(conn, db, name="one")
    put(conn, db, name="two", value="other")
    with store.tx(conn):
        conn.execute("UPDATE secrets SET sealed = (SELECT sealed FROM secrets WHERE name = 'one') "
                     "WHERE name = 'two'")  # fmt: skip
    key = secret_store.load_key(secret_store.key_file_for(db))
    with pytest.raises(SecretKeyError, match="does not open"):
        secret_store.reveal(conn, key, "two")


def test_defaults_for_anthropic_and_for_others() -> None:
    a = secret_store.secret_settings("claude", upstream="https://api.anthropic.com/")
    assert (a.upstream, a.header, a.format, a.expose) == (
        "https://api.anthropic.com", "x-api-key", "{}", "proxy",
    )  # fmt: skip
    assert secret_store.secret_settings("anthropic", upstream="https://127.0.0.1:8443").header == (
        "x-api-key"
    )
    g = secret_store.secret_settings("github", upstream="https://api.github.com")
    assert (g.header, g.format) == ("Authorization", "Bearer {}")
    t = secret_store.secret_settings("t", upstream="https://x.org", header="X-Token")
    assert t.format == "{}"
    e = secret_store.secret_settings("tok", expose="env")
    assert (e.upstream, e.header, e.expose) == (None, None, "env")
    t = secret_store.secret_settings("telegram-bot-token", expose="adapter")
    assert (t.upstream, t.header, t.format, t.expose) == (None, None, "{}", "adapter")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "Bad"}, "name"),
        ({"name": "1abc"}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": "a\n"}, "name"),
        ({"name": "ok", "upstream": None}, "--upstream"),
        ({"name": "ok", "upstream": "http://api.x.org"}, "--upstream"),
        ({"name": "ok", "upstream": "https://"}, "--upstream"),
        ({"name": "ok", "upstream": "https://u:p@x.org"}, "--upstream"),
        ({"name": "ok", "upstream": "https://x.org/?q=1"}, "--upstream"),
        ({"name": "ok", "upstream": "https://x.org/#f"}, "--upstream"),
        ({"name": "ok", "upstream": "https://x.org:99999"}, "--upstream"),
        ({"name": "ok", "upstream": "https://x.org\r\nHost: y"}, "--upstream"),
        ({"name": "ok", "upstream": "https://x.org", "header": "Host"}, "--header"),
        ({"name": "ok", "upstream": "https://x.org", "header": "X Y"}, "--header"),
        ({"name": "ok", "upstream": "https://x.org", "header": "X:\r\n"}, "--header"),
        ({"name": "ok", "upstream": "https://x.org", "format": "Bearer"}, "--format"),
        ({"name": "ok", "upstream": "https://x.org", "format": "{} {}"}, "--format"),
        ({"name": "ok", "upstream": "https://x.org", "format": "{0}"}, "--format"),
        ({"name": "ok", "upstream": "https://x.org", "format": "{}\r\nX: y"}, "--format"),
        ({"name": "ok", "expose": "file"}, "--expose"),
        ({"name": "ok", "expose": "env", "upstream": "https://x.org"}, "--upstream"),
        ({"name": "ok", "expose": "env", "format": "{}"}, "--format"),
        ({"name": "ok", "expose": "adapter", "upstream": "https://x.org"}, "--upstream"),
        ({"name": "ok", "expose": "adapter", "header": "X-Token"}, "--header"),
    ],
)
def test_bad_settings_name_the_option(kwargs: dict[str, str], field: str) -> None:
    name = kwargs.pop("name")
    with pytest.raises(store.InvalidInput) as exc:
        secret_store.secret_settings(name, **kwargs)  # type: ignore[arg-type]
    assert exc.value.field == field


@pytest.mark.parametrize(
    ("raw", "value"), [("v\n", "v"), ("v\r\n", "v"), ("v", "v"), ("v\n\n", None), ("\n", None),
                       ("", None), ("a\nb", None), ("a\x00b", None), ("x" * 20000, None)],
)  # fmt: skip
def test_one_trailing_newline_is_dropped_and_anything_else_odd_refused(
    raw: str, value: str | None
) -> None:
    if value is None:
        with pytest.raises(store.InvalidInput, match="value"):
            secret_store.secret_value(raw)
    else:
        assert secret_store.secret_value(raw) == value


@given(st.text(max_size=300))
def test_an_accepted_value_always_makes_a_single_header_line(raw: str) -> None:
    try:
        value = secret_store.secret_value(raw)
    except store.InvalidInput:
        return
    header_value = "Bearer {}".replace("{}", value)
    assert "\n" not in header_value
    assert "\r" not in header_value
    assert "\x00" not in header_value


@given(st.text(max_size=120))
def test_an_accepted_upstream_is_https_with_a_host_and_nothing_after_the_path(raw: str) -> None:
    try:
        url = secret_store.upstream_url(raw)
    except store.InvalidInput:
        return
    assert url.startswith("https://")
    assert not any(c in url for c in "?#@ \r\n")


def test_removing_a_secret_and_a_missing_one(conn: sqlite3.Connection, db: Path) -> None:
    put(conn, db)
    secret_store.remove_secret(conn, "anthropic")
    assert secret_store.list_secrets(conn) == []
    with pytest.raises(store.NotFound):
        secret_store.remove_secret(conn, "anthropic")


def test_a_chat_adapters_token_is_never_granted_to_an_agent(
    conn: sqlite3.Connection, db: Path
) -> None:
    key_file = secret_store.key_file_for(db)
    token = secret_store.secret_settings("telegram-bot-token", expose="adapter")
    secret_store.set_secret(conn, key_file, token, CANARY)
    put(conn, db, "anthropic", "sk-other")
    grants = resolve_grants(conn, key_file, "demo", ["telegram-bot-token", "anthropic"])
    assert list(grants.routes) == ["anthropic"]
    assert grants.env_values == {}
    # `switchboard up` still opens it for the adapter.
    assert secret_store.reveal(conn, secret_store.load_key(key_file), "telegram-bot-token") == (
        CANARY
    )
