"""store.dburl: what --db names (a file, a PostgreSQL URL, or something refused)."""

from __future__ import annotations

from pathlib import Path

import pytest
import store
from hypothesis import given
from hypothesis import strategies as st
from store.dburl import redact_url


@pytest.mark.parametrize(
    "text",
    ["messages.db", "data/messages.db", "/var/lib/switchboard/messages.db", "./x", "data:2026.db"],
)
def test_a_path_is_an_sqlite_file(text: str) -> None:
    assert store.parse_db(text) == store.SqliteTarget(Path(text))


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://sb@127.0.0.1:5432/switchboard",
        "postgres://sb:pw@db.example/sb?sslmode=require",
        "POSTGRESQL://h/db",
        "postgresql:///switchboard?host=/run/postgresql",
    ],
)
def test_a_postgresql_url_is_postgresql(text: str) -> None:
    assert store.parse_db(text) == store.PostgresTarget(text)


@pytest.mark.parametrize(
    "text",
    [
        "mysql://root@localhost/sb",
        "sqlite:///data/messages.db",
        "sqlite:messages.db",
        "file:messages.db?mode=ro",
        "http://example.com/db",
        "postgresql:/sb@127.0.0.1:5432/x",  # a URL whose // pathlib collapsed
        "redis://:secret@h/0",
    ],
)
def test_other_schemes_are_refused_naming_the_accepted_forms(text: str) -> None:
    with pytest.raises(store.UnsupportedDatabase, match="postgresql:// URL") as info:
        store.parse_db(text)
    assert info.value.field == "db"
    assert "secret" not in str(info.value)


def test_an_empty_value_is_refused() -> None:
    with pytest.raises(store.InvalidInput, match="empty"):
        store.parse_db("  ")


def test_the_password_never_shows() -> None:
    target = store.parse_db("postgresql://sb:hunter2@127.0.0.1:5432/x?password=other")
    assert isinstance(target, store.PostgresTarget)
    assert target.shown() == "postgresql://sb:***@127.0.0.1:5432/x?password=***"
    assert redact_url("postgresql://sb@h/x") == "postgresql://sb@h/x"
    assert redact_url("plain/path.db") == "plain/path.db"


def test_resolve_db_takes_flag_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_DB", "postgresql://sb@h/x")
    assert store.resolve_db("x.db") == store.SqliteTarget(Path("x.db"))
    assert store.resolve_db(None) == store.PostgresTarget("postgresql://sb@h/x")
    monkeypatch.setenv("SWITCHBOARD_DB", "mysql://h/x")
    with pytest.raises(store.UnsupportedDatabase) as info:
        store.resolve_db(None)
    assert info.value.field == "SWITCHBOARD_DB"
    monkeypatch.delenv("SWITCHBOARD_DB")
    assert store.resolve_db(None) == store.SqliteTarget(Path("data/messages.db"))


def test_resolve_db_path_refuses_postgresql_saying_sqlite_only(tmp_path: Path) -> None:
    with pytest.raises(store.UnsupportedDatabase, match="runs on SQLite only so far"):
        store.resolve_db_path("postgresql://sb:pw@127.0.0.1:5432/x")
    assert not Path("postgresql:").exists()


SCHEME = st.from_regex(r"[A-Za-z][A-Za-z0-9+.\-]{0,10}", fullmatch=True)


@given(SCHEME, st.text(max_size=40))
def test_every_url_is_postgresql_or_refused_never_a_file(scheme: str, rest: str) -> None:
    text = f"{scheme}://{rest}"
    try:
        target = store.parse_db(text)
    except store.UnsupportedDatabase:
        assert scheme.lower() not in ("postgresql", "postgres")
        return
    assert target == store.PostgresTarget(text)


@given(st.text(min_size=1, max_size=60))
def test_parsing_never_raises_anything_but_invalid_input(text: str) -> None:
    try:
        target = store.parse_db(text)
    except store.InvalidInput:
        return
    if isinstance(target, store.SqliteTarget):
        assert "://" not in text
        assert str(target.path) == str(Path(text))
