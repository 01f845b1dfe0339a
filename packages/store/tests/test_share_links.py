"""Share links: tokens stored only hashed, rotation kills the old token at once, revoke, the
frame-ancestors allowlist's validation, and the visitor jids and topics."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store import InvalidInput, NotFound, share_links, validate
from store.share_links import (
    create_link,
    get_link,
    hash_token,
    is_visitor_jid,
    live_token_hashes,
    lookup,
    new_visitor_id,
    origin,
    revoke_link,
    set_frame_ancestors,
    visitor_jid,
    visitor_topic,
)


def test_a_new_link_stores_only_the_hash_of_a_long_token(db: sqlite3.Connection) -> None:
    token = create_link(db, "demo")
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    row = db.execute("SELECT * FROM share_links").fetchone()
    assert row["folder"] == "demo"
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    dump = "\n".join(db.iterdump())
    assert token not in dump
    link = lookup(db, token)
    assert link is not None
    assert link.folder == "demo"
    assert link.frame_ancestors == ()


def test_rotating_kills_the_old_token_and_keeps_the_allowlist(db: sqlite3.Connection) -> None:
    old = create_link(db, "demo")
    set_frame_ancestors(db, "demo", ["https://example.com"])
    new = create_link(db, "demo")
    assert new != old
    assert lookup(db, old) is None
    link = lookup(db, new)
    assert link is not None
    assert link.frame_ancestors == ("https://example.com",)
    assert db.execute("SELECT COUNT(*) FROM share_links").fetchone()[0] == 1


def test_revoking_removes_the_link(db: sqlite3.Connection) -> None:
    token = create_link(db, "demo")
    assert revoke_link(db, "demo") is True
    assert lookup(db, token) is None
    assert get_link(db, "demo") is None
    assert revoke_link(db, "demo") is False


@pytest.mark.parametrize("token", ["", "x", "a" * 43, "../../etc", "\x00", "é" * 500, "\udcff"])
def test_unknown_and_malformed_tokens_find_nothing(db: sqlite3.Connection, token: str) -> None:
    create_link(db, "demo")
    assert lookup(db, token) is None


def test_live_token_hashes_names_only_the_live_links(db: sqlite3.Connection) -> None:
    old = create_link(db, "demo")
    new = create_link(db, "demo")  # rotated: old is dead
    gone = create_link(db, "gone")
    revoke_link(db, "gone")
    other = create_link(db, "other")
    asked = {hash_token(t) for t in (old, new, gone, other, "never-made")}
    assert live_token_hashes(db, asked) == {hash_token(new), hash_token(other)}
    assert live_token_hashes(db, set()) == set()


def test_links_are_per_folder(db: sqlite3.Connection) -> None:
    a, b = create_link(db, "alpha"), create_link(db, "beta")
    revoke_link(db, "alpha")
    assert lookup(db, a) is None
    found = lookup(db, b)
    assert found is not None
    assert found.folder == "beta"


def test_lookup_uses_the_unique_index(db: sqlite3.Connection) -> None:
    plan = db.execute("EXPLAIN QUERY PLAN " + share_links.LOOKUP_SQL, ("x",)).fetchall()
    assert any("USING INDEX sqlite_autoindex_share_links_2" in r["detail"] for r in plan), plan


def test_allowlist_is_validated_normalised_and_deduplicated(db: sqlite3.Connection) -> None:
    create_link(db, "demo")
    link = set_frame_ancestors(
        db, "demo", ["HTTPS://Example.com/", "https://example.com", "http://127.0.0.1:8081"]
    )
    assert link.frame_ancestors == ("https://example.com", "http://127.0.0.1:8081")
    assert set_frame_ancestors(db, "demo", []).frame_ancestors == ()
    with pytest.raises(InvalidInput, match="origin"):
        set_frame_ancestors(db, "demo", ["https://ok.example", "javascript:alert(1)"])
    assert get_link(db, "demo").frame_ancestors == ()  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        set_frame_ancestors(db, "nolink", ["https://example.com"])
    with pytest.raises(InvalidInput, match="at most"):
        set_frame_ancestors(db, "demo", [f"https://h{i}.example" for i in range(21)])


@pytest.mark.parametrize(
    "bad",
    [
        "example.com",
        "ftp://example.com",
        "https://example.com/path",
        "https://*.example.com",
        "*",
        "'self'",
        "https://example.com; script-src *",
        "https://exa mple.com",
        "https://user@example.com",
        "https://example.com:0",
        "https://example.com:65536",
        "https://-bad.example",
        "https://example.com?q",
        "https://example.com#x",
        "",
    ],
)
def test_bad_origins_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        origin(bad)


@given(st.text(max_size=80))
def test_an_accepted_origin_cannot_break_out_of_a_csp_directive(text: str) -> None:
    try:
        clean = origin(text)
    except InvalidInput:
        return
    assert clean == clean.strip()
    assert not set(clean) & set(" ;,'\"*\t\r\n")
    assert clean.startswith(("http://", "https://"))
    assert origin(clean) == clean


def test_visitor_jids_and_topics_are_valid_and_distinct() -> None:
    a, b = new_visitor_id(), new_visitor_id()
    assert a != b
    jid = visitor_jid("demo", a)
    assert validate.jid(jid) == jid
    assert is_visitor_jid(jid)
    assert not is_visitor_jid("web:demo")
    assert not is_visitor_jid(jid + "x")
    assert visitor_topic(a) != visitor_topic(b)
    assert visitor_topic(a) != ""
    with pytest.raises(InvalidInput):
        visitor_jid("demo", "short")
    with pytest.raises(InvalidInput):
        visitor_topic("../../x")
