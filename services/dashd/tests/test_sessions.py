"""Refresh-token rotation on the functions themselves: racing tabs within the grace window,
reuse after it, expiry, pruning, and many connections rotating one token at once."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import store
from dashd import auth
from dashd.errors import SessionInvalid
from dashd.users import add_user
from dashd_harness import PASSWORD, open_db

TTL = timedelta(minutes=15)
LONG = timedelta(days=14)
GRACE = timedelta(seconds=10)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[sqlite3.Connection, str, str, Path]:
    conn = open_db(tmp_path / "m.db")
    user = add_user(conn, "ops", PASSWORD)
    return conn, auth.signing_key(conn), user.sub, tmp_path / "m.db"


def rotate(conn: sqlite3.Connection, key: str, token: str, now: object) -> auth.Tokens:
    return auth.rotate(
        conn,
        key,
        token,
        now=now,
        access_ttl=TTL,
        refresh_ttl=LONG,
        reuse_grace=GRACE,  # type: ignore[arg-type]
    )


def test_a_second_use_within_the_grace_window_is_a_race_not_a_theft(
    setup: tuple[sqlite3.Connection, str, str, Path],
) -> None:
    conn, key, sub, _ = setup
    now = store.utcnow()
    first = auth.start_session(conn, key, sub, now=now, access_ttl=TTL, refresh_ttl=LONG)
    new = rotate(conn, key, first.refresh, now)
    assert new.refresh
    assert new.refresh != first.refresh
    racing = rotate(conn, key, first.refresh, now + timedelta(seconds=3))
    assert (racing.access, racing.refresh, racing.family) == ("", "", first.family)
    assert auth.session_alive(conn, first.family, now) == sub
    with pytest.raises(SessionInvalid, match="reused"):
        rotate(conn, key, first.refresh, now + timedelta(seconds=30))
    assert auth.session_alive(conn, first.family, now) is None
    with pytest.raises(SessionInvalid, match="revoked"):
        rotate(conn, key, new.refresh, now + timedelta(seconds=31))


def test_expired_and_unknown_refresh_tokens_are_refused(
    setup: tuple[sqlite3.Connection, str, str, Path],
) -> None:
    conn, key, sub, _ = setup
    now = store.utcnow()
    tokens = auth.start_session(conn, key, sub, now=now, access_ttl=TTL, refresh_ttl=LONG)
    with pytest.raises(SessionInvalid, match="expired"):
        rotate(conn, key, tokens.refresh, now + LONG + timedelta(seconds=1))
    with pytest.raises(SessionInvalid, match="unknown"):
        rotate(conn, key, "not-a-token", now)
    assert auth.prune(conn, now + LONG + timedelta(seconds=1)) == 1


def test_access_tokens_expire_after_15_minutes(
    setup: tuple[sqlite3.Connection, str, str, Path],
) -> None:
    _, key, sub, _ = setup
    issued = store.utcnow() - timedelta(minutes=16)
    token = auth.access_token(key, sub, "family", issued, TTL)
    assert auth.decode_access(key, token) is None
    fresh = auth.access_token(key, sub, "family", store.utcnow(), TTL)
    claims = auth.decode_access(key, fresh)
    assert claims is not None
    assert claims["sid"] == "family"
    assert auth.decode_access("another key of at least thirty-two bytes", fresh) is None


def test_connections_racing_to_rotate_one_token_get_one_new_pair(
    setup: tuple[sqlite3.Connection, str, str, Path],
) -> None:
    conn, key, sub, path = setup
    now = store.utcnow()
    tokens = auth.start_session(conn, key, sub, now=now, access_ttl=TTL, refresh_ttl=LONG)
    results: list[auth.Tokens | Exception] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        own = store.connect(path)
        barrier.wait()
        try:
            results.append(rotate(own, key, tokens.refresh, now))
        except SessionInvalid as exc:
            results.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    issued = [r for r in results if isinstance(r, auth.Tokens) and r.refresh]
    assert len(results) == 8
    assert len(issued) == 1
    assert all(isinstance(r, auth.Tokens) for r in results)  # the rest: grace, not revoked
    live = conn.execute(
        "SELECT COUNT(*) FROM auth_sessions WHERE family = ? AND used_at IS NULL",
        (tokens.family,),
    ).fetchone()[0]
    assert live == 1
