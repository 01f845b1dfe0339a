"""Accounts: argon2id hashes, validation that names the field, removal and password changes
signing users out; and dashd's final schema with its `migrations` rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import store
from dashd import auth
from dashd.migrations import MIGRATIONS
from dashd.users import add_user, list_users, remove_user, set_password, verify_login
from dashd_harness import PASSWORD, open_db


@pytest.fixture
def fresh(tmp_path: Path) -> sqlite3.Connection:
    return open_db(tmp_path / "messages.db")


def test_passwords_are_stored_as_argon2id(fresh: sqlite3.Connection) -> None:
    user = add_user(fresh, "ops", PASSWORD, ["b-group", "a-group"])
    assert user.folders == ("a-group", "b-group")
    assert not user.is_operator
    stored = fresh.execute("SELECT hash FROM auth_users").fetchone()[0]
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert verify_login(fresh, "ops", PASSWORD) == user
    assert verify_login(fresh, "ops", "wrong password") is None
    assert verify_login(fresh, "ghost", PASSWORD) is None


@pytest.mark.parametrize(
    ("name", "password", "folders", "field"),
    [
        ("", PASSWORD, None, "username"),
        ("has space", PASSWORD, None, "username"),
        ("ok", "short", None, "password"),
        ("ok", PASSWORD, ["../etc"], "folder"),
    ],
)
def test_bad_input_names_the_field(
    fresh: sqlite3.Connection, name: str, password: str, folders: list[str] | None, field: str
) -> None:
    with pytest.raises(store.InvalidInput) as err:
        add_user(fresh, name, password, folders)
    assert err.value.field == field


def test_a_taken_name_is_refused(fresh: sqlite3.Connection) -> None:
    add_user(fresh, "ops", PASSWORD)
    with pytest.raises(store.InvalidInput, match="already exists"):
        add_user(fresh, "ops", PASSWORD)


def test_password_change_and_removal_revoke_sessions(fresh: sqlite3.Connection) -> None:
    user = add_user(fresh, "ops", PASSWORD)
    now = store.utcnow()
    key = auth.signing_key(fresh)
    assert auth.signing_key(fresh) == key
    kw = {"now": now, "access_ttl": auth.FAILURE_WINDOW, "refresh_ttl": auth.FAILURE_WINDOW}
    tokens = auth.start_session(fresh, key, user.sub, **kw)  # type: ignore[arg-type]
    assert auth.session_alive(fresh, tokens.family, now) == user.sub
    set_password(fresh, "ops", "another password")
    assert auth.session_alive(fresh, tokens.family, now) is None
    assert verify_login(fresh, "ops", "another password") is not None
    remove_user(fresh, "ops")
    assert list_users(fresh) == []
    with pytest.raises(store.NotFound):
        remove_user(fresh, "ops")
    with pytest.raises(store.NotFound):
        set_password(fresh, "ops", PASSWORD)


def test_dashd_schema_and_migration_rows(fresh: sqlite3.Connection) -> None:
    tables = {r[0] for r in fresh.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"auth_users", "auth_sessions", "user_groups", "login_failures", "dashd_secrets"} <= (
        tables
    )
    rows = fresh.execute(
        "SELECT version, name FROM migrations WHERE service = 'dashd' ORDER BY version"
    ).fetchall()
    assert [tuple(r) for r in rows] == [(1, "m001_auth")]
    assert len(MIGRATIONS) == 1
    cols = {r[1] for r in fresh.execute("PRAGMA table_info(auth_sessions)")}
    assert {"family", "token_hash", "used_at", "revoked_at", "expires_at"} <= cols
    assert store.migrate_service(fresh, "dashd", MIGRATIONS) == 1  # idempotent
