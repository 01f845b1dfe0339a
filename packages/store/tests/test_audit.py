"""The audit log: a row commits with its change or not at all, never outside a transaction;
secret keys redacted at any depth; pages by filter, cursor and --since; and the store's own
administrative functions each log one row with the right before/after when given an actor."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
import store
from hypothesis import given
from hypothesis import strategies as st
from store import audit, hierarchy, share_links
from store.audit import Actor, AuditQuery
from testkit.audit import entries_after

OPS = Actor("alice", "cli", "host=box tty=/dev/pts/1")


def rows(conn: sqlite3.Connection) -> list[audit.AuditEntry]:
    return entries_after(conn)


def test_a_record_needs_the_changes_transaction(db: sqlite3.Connection) -> None:
    with pytest.raises(store.OutsideTransaction, match=r"group\.add"):
        audit.record(db, OPS, "group.add", "web:a")
    assert rows(db) == []


def test_a_record_commits_with_its_change_or_not_at_all(db: sqlite3.Connection) -> None:
    def change_then_fail() -> None:
        with store.tx(db):
            store.register_group(db, "web:a", "a", actor=OPS)
            raise RuntimeError("the change fails after its row was written")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert store.get_group(db, "web:a") is None
    assert rows(db) == []
    store.register_group(db, "web:a", "a", actor=OPS)
    assert [e.action for e in rows(db)] == ["group.add"]


def test_no_actor_logs_nothing(db: sqlite3.Connection) -> None:
    with store.tx(db):
        assert audit.record(db, None, "group.add", "web:a") is None
    store.register_group(db, "web:a", "a")
    assert rows(db) == []


def test_an_action_whose_logged_fields_stay_the_same_is_logged(db: sqlite3.Connection) -> None:
    """Settings set to what they were, a link rotated twice in one millisecond (its token is
    not logged, but changed): each action is one row, shown as unchanged."""
    store.register_group(db, "web:a", "a")
    store.update_folder_settings(db, "a", {"timeout_s": "30"}, [], actor=OPS)
    store.update_folder_settings(db, "a", {"timeout_s": "30"}, [], actor=OPS)
    with store.tx(db):
        share_links.create_link(db, "a", actor=OPS)
        share_links.create_link(db, "a", actor=OPS)
    got = rows(db)
    assert [e.action for e in got] == [
        "group.config.set", "group.config.set", "share.create", "share.rotate",
    ]  # fmt: skip
    assert got[1].changes() == []


def test_an_entry_holds_who_where_what_and_when(db: sqlite3.Connection) -> None:
    before = store.utcnow()
    store.register_group(db, "web:a", "a", name="A", actor=OPS)
    (entry,) = rows(db)
    assert (entry.actor, entry.origin, entry.remote) == ("alice", "cli", "host=box tty=/dev/pts/1")
    assert (entry.action, entry.target, entry.before) == ("group.add", "web:a", None)
    assert entry.after["folder"] == "a"
    assert entry.after["name"] == "A"
    assert before - timedelta(seconds=1) <= store.parse_iso(entry.at) <= store.utcnow()


SECRET = "sk-live-0123456789abcdef"


def test_secret_keys_are_redacted_at_any_depth(db: sqlite3.Connection) -> None:
    value = {"password": SECRET, "nested": [{"token": SECRET, "Hash": SECRET}], "name": "n"}
    with store.tx(db):
        audit.record(db, OPS, "secret.set", "n", before=value, after={"value": SECRET})
    raw = db.execute("SELECT before || after FROM audit_log").fetchone()[0]
    assert SECRET not in raw
    (entry,) = rows(db)
    assert entry.before["nested"][0] == {"token": audit.REDACTED, "Hash": audit.REDACTED}
    assert entry.before["name"] == "n"


@given(
    st.recursive(
        st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=3),
        lambda inner: (
            st.dictionaries(st.text(max_size=8), inner, max_size=3) | st.lists(inner, max_size=3)
        ),
        max_leaves=10,
    ),
    st.sampled_from(sorted(audit.SECRET_KEYS)),
    st.lists(st.sampled_from(["a", "b", "0"]), max_size=3),
)
def test_a_value_under_a_secret_key_never_reaches_the_text(
    data: Any, key: str, path: list[str]
) -> None:
    """Wherever a secret key sits in a before/after, its value is not in the stored text."""
    holder: Any = {"outer": data}
    node = holder
    for step in path:
        node[step] = {}
        node = node[step]
    node[key.upper() if len(path) % 2 else key] = "S3CR3T-zz-value"
    text = audit.json_text(holder)
    assert text is not None
    assert "S3CR3T-zz-value" not in text
    json.loads(text)


def test_a_huge_before_is_kept_as_its_size_and_hash() -> None:
    text = audit.json_text({"prompt": "x" * (audit.MAX_JSON_CHARS + 10)})
    assert text is not None
    kept = json.loads(text)
    assert kept["truncated"] is True
    assert kept["chars"] > audit.MAX_JSON_CHARS
    assert len(kept["sha256"]) == 64


def test_changes_lists_the_keys_that_differ() -> None:
    entry = audit.AuditEntry(
        1, "t", "a", "cli", "", "task.pause", "task:1", {"status": "active", "id": 1},
        {"status": "paused", "id": 1},
    )  # fmt: skip
    assert entry.changes() == [audit.Change("status", "active", "paused")]
    added = audit.AuditEntry(1, "t", "a", "cli", "", "route.add", "web:a", None, {"seq": 10})
    assert added.changes() == [audit.Change("seq", None, 10)]


def seed(db: sqlite3.Connection) -> None:
    """Five entries: alice and bob, two origins, three actions, two targets."""
    with store.tx(db):
        audit.record(db, OPS, "group.add", "web:a")
        audit.record(db, Actor("bob", "dashboard", "127.0.0.1"), "route.add", "web:a")
        audit.record(db, OPS, "group.add", "web:b")
        audit.record(db, Actor("bob", "dashboard", "127.0.0.1"), "user.add", "carol")
        audit.record(db, OPS, "route.add", "web:b")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (AuditQuery(), [5, 4, 3, 2, 1]),
        (AuditQuery(actor="bob"), [4, 2]),
        (AuditQuery(origin="cli"), [5, 3, 1]),
        (AuditQuery(action="route.add"), [5, 2]),
        (AuditQuery(target="web:a"), [2, 1]),
        (AuditQuery(actor="alice", action="group.add"), [3, 1]),
        (AuditQuery(actor="nobody"), []),
    ],
)
def test_filters_newest_first(
    db: sqlite3.Connection, query: AuditQuery, expected: list[int]
) -> None:
    seed(db)
    assert [e.id for e in audit.entries(db, query)] == expected


def test_pages_follow_the_cursor(db: sqlite3.Connection) -> None:
    seed(db)
    first = audit.entries(db, limit=2)
    assert [e.id for e in first] == [5, 4]
    second = audit.entries(db, before_id=first[-1].id, limit=2)
    assert [e.id for e in second] == [3, 2]
    assert [e.id for e in audit.entries(db, before_id=2, limit=2)] == [1]


def test_since_starts_the_window(db: sqlite3.Connection) -> None:
    seed(db)
    db.execute("UPDATE audit_log SET at = '2026-01-01T00:00:00.000Z' WHERE id <= 2")
    since = AuditQuery.parse(since="2026-06-01")
    assert [e.id for e in audit.entries(db, since)] == [5, 4, 3]
    assert [e.id for e in audit.entries(db, AuditQuery.parse(since="2025-12-31"))] == [
        5, 4, 3, 2, 1,
    ]  # fmt: skip
    assert audit.entries(db, AuditQuery.parse(since="2099-01-01")) == []


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"origin": "ssh"}, "origin"),
        ({"action": "group.delete"}, "action"),
        ({"since": "yesterday"}, "since"),
        ({"actor": "a\nb"}, "actor"),
        ({"target": "x" * 600}, "target"),
    ],
)
def test_bad_filters_name_the_field(kw: dict[str, str], field: str) -> None:
    with pytest.raises(store.InvalidInput) as err:
        AuditQuery.parse(**kw)
    assert err.value.field == field


def test_empty_filters_are_not_given() -> None:
    assert AuditQuery.parse(actor="", origin="", action="", target="", since="") == AuditQuery()


def test_a_bad_page_size_is_refused(db: sqlite3.Connection) -> None:
    for limit in (0, audit.MAX_PAGE + 1):
        with pytest.raises(store.InvalidInput, match="limit"):
            audit.entries(db, limit=limit)


def test_the_stores_administrative_functions_log_once_each(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:a", "a", actor=OPS)
    store.register_group(db, "web:b", "b", actor=OPS)
    route = store.add_route(db, "web:a", "keyword", "help", "b", actor=OPS)
    store.remove_route(db, route.id, actor=OPS)
    store.update_folder_settings(db, "a", {"timeout_s": "30"}, [], actor=OPS)
    store.update_folder_settings(db, "a", {"memory_mb": "256"}, ["timeout_s"], actor=OPS)
    hierarchy.set_folder_parent(db, "b", "a", actor=OPS)
    share_links.create_link(db, "a", actor=OPS)
    share_links.create_link(db, "a", actor=OPS)
    share_links.set_frame_ancestors(db, "a", ["https://example.com"], actor=OPS)
    share_links.revoke_link(db, "a", actor=OPS)
    store.unregister_group(db, "web:b", actor=OPS)
    got = rows(db)
    assert [(e.action, e.target) for e in got] == [
        ("group.add", "web:a"),
        ("group.add", "web:b"),
        ("route.add", "web:a"),
        ("route.remove", "web:a"),
        ("group.config.set", "a"),
        ("group.config.set", "a"),
        ("group.parent.set", "b"),
        ("share.create", "a"),
        ("share.rotate", "a"),
        ("share.origins.set", "a"),
        ("share.revoke", "a"),
        ("group.remove", "web:b"),
    ]
    assert got[2].after == {
        "id": route.id, "jid": "web:a", "seq": 10, "type": "keyword", "match": "help",
        "target": "b",
    }  # fmt: skip
    assert got[3].before == got[2].after
    assert got[3].after is None
    assert (got[4].before, got[4].after) == ({}, {"timeout_s": 30.0})
    assert (got[5].before, got[5].after) == ({"timeout_s": 30.0}, {"memory_mb": 256})
    assert (got[6].before, got[6].after) == ({"parent": None}, {"parent": "a"})
    assert got[7].before is None
    assert set(got[7].after) == {"folder", "created_at", "frame_ancestors"}
    assert got[8].before == got[7].after
    assert got[9].changes() == [audit.Change("frame_ancestors", [], ["https://example.com"])]
    assert got[10].after is None
    assert got[11].before["group"]["folder"] == "b"
    assert got[11].after is None


def test_a_refused_change_logs_nothing(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:a", "a")
    with pytest.raises(store.InvalidInput):
        store.register_group(db, "web:a", "a", actor=OPS)
    with pytest.raises(store.NotFound):
        store.remove_route(db, 99, actor=OPS)
    with pytest.raises(store.NotFound):
        store.unregister_group(db, "web:none", actor=OPS)
    with pytest.raises(store.InvalidInput):
        store.update_folder_settings(db, "a", {"timeout_s": "soon"}, [], actor=OPS)
    with pytest.raises(store.InvalidInput):
        hierarchy.set_folder_parent(db, "a", "a", actor=OPS)
    with pytest.raises(store.NotFound):
        share_links.set_frame_ancestors(db, "a", [], actor=OPS)
    assert share_links.revoke_link(db, "a", actor=OPS) is False
    assert rows(db) == []


def test_a_share_token_never_reaches_the_log(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:a", "a")
    token = share_links.create_link(db, "a", actor=OPS)
    share_links.create_link(db, "a", actor=OPS)
    dump = "\n".join(db.iterdump())
    logged = " ".join(str(tuple(r)) for r in db.execute("SELECT * FROM audit_log"))
    assert share_links.hash_token(token) not in logged
    assert token not in dump
