"""Registered groups, routes and the chats' failure counters."""

from __future__ import annotations

import sqlite3

import pytest
import store
from store import share_links
from store.folder_chats import DRIVE_MAX, and_chat_in_folders


def test_register_group_and_read_it_back(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:root", "root")  # a parent must be a known folder
    g = store.register_group(
        db,
        "web:demo",
        "demo",
        name="Demo",
        trigger_word="@bot",
        requires_trigger=True,
        agent_config={"command": "switchboard-echo", "timeout_s": 30},
        parent="root",
        is_operator=True,
    )
    assert g == store.get_group(db, "web:demo")
    assert (g.folder, g.name, g.trigger_word, g.requires_trigger) == ("demo", "Demo", "@bot", True)
    settings = store.folder_settings(db, "demo")
    assert (settings.command, settings.timeout_s) == ("switchboard-echo", 30.0)
    assert (g.parent, g.is_operator) == ("root", True)
    assert store.parse_iso(g.created_at)
    chat = store.get_chat(db, "web:demo")
    assert chat is not None
    assert chat.channel == "web"
    assert [x.jid for x in store.operator_groups(db)] == ["web:demo"]


def test_registered_groups_are_listed_by_folder(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:z", "alpha")
    store.register_group(db, "email:a@b.c", "beta")
    store.register_group(db, "web:a", "alpha")
    assert [(g.folder, g.jid) for g in store.registered_groups(db)] == [
        ("alpha", "web:a"),
        ("alpha", "web:z"),
        ("beta", "email:a@b.c"),
    ]
    assert [g.jid for g in store.groups_for_folder(db, "alpha")] == ["web:a", "web:z"]
    assert store.groups_for_folder(db, "none") == []
    assert store.operator_groups(db) == []
    assert store.get_group(db, "web:none") is None


def test_registration_and_folder_owner_checks(db: sqlite3.Connection) -> None:
    assert not store.is_registered(db, "web:z")
    assert store.folder_owner(db, "alpha") is None
    store.register_group(db, "web:z", "alpha")
    store.register_group(db, "web:a", "alpha")
    assert store.is_registered(db, "web:z")
    assert not store.is_registered(db, "web:alpha")
    assert store.folder_owner(db, "alpha") == "web:a"
    store.unregister_group(db, "web:a")
    assert store.folder_owner(db, "alpha") == "web:z"
    assert not store.is_registered(db, "web:a")


def test_registering_a_jid_twice_needs_replace(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:demo", "demo")
    with pytest.raises(store.InvalidInput, match="jid: web:demo is already registered"):
        store.register_group(db, "web:demo", "other")
    assert store.register_group(db, "web:demo", "other", replace=True).folder == "other"
    assert len(store.registered_groups(db)) == 1


@pytest.mark.parametrize(
    ("jid", "folder", "kwargs", "field"),
    [
        ("demo", "demo", {}, "jid"),
        ("web:demo", "../demo", {}, "folder"),
        ("web:demo", ".demo", {}, "folder"),
        ("web:demo", "demo", {"parent": "a/b"}, "parent"),
        ("web:demo", "demo", {"requires_trigger": True}, "trigger_word"),
        ("web:demo", "demo", {"name": "x\x00"}, "name"),
        ("web:demo", "demo", {"agent_config": ["not", "a", "dict"]}, "agent_config"),
    ],
)
def test_bad_group_is_rejected_and_nothing_written(
    db: sqlite3.Connection, jid: str, folder: str, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(store.InvalidInput) as err:
        store.register_group(db, jid, folder, **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field
    assert db.execute("SELECT COUNT(*) FROM registered_groups").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM chats").fetchone()[0] == 0


def test_unregister_removes_the_group_and_its_routes(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:demo", "demo")
    store.add_route(db, "web:demo", "keyword", "help", "helpdesk")
    store.unregister_group(db, "web:demo")
    assert store.get_group(db, "web:demo") is None
    assert store.routes_for(db, "web:demo") == []
    with pytest.raises(store.NotFound, match="web:demo"):
        store.unregister_group(db, "web:demo")


def test_routes_are_kept_in_evaluation_order(db: sqlite3.Connection) -> None:
    a = store.add_route(db, "web:demo", "command", "/help", "helpdesk")
    b = store.add_route(db, "web:demo", "pattern", r"^bill\w*", "billing")
    c = store.add_route(db, "web:demo", "default", None, "demo")
    first = store.add_route(db, "web:demo", "sender", "boss@x", "vip", seq=1)
    assert (a.seq, b.seq, c.seq) == (10, 20, 30)
    assert [r.id for r in store.routes_for(db, "web:demo")] == [first.id, a.id, b.id, c.id]
    store.add_route(db, "email:a@b.c", "verb", "task", "tasks")
    assert [r.jid for r in store.all_routes(db)] == ["email:a@b.c"] + ["web:demo"] * 4
    store.remove_route(db, b.id)
    assert [r.target for r in store.routes_for(db, "web:demo")] == ["vip", "helpdesk", "demo"]
    with pytest.raises(store.NotFound, match=f"no route with id {b.id}"):
        store.remove_route(db, b.id)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("web demo", "keyword", "x", "demo"), "jid"),
        (("web:demo", "regex", "x", "demo"), "type"),
        (("web:demo", "pattern", "([", "demo"), "match"),
        (("web:demo", "keyword", "", "demo"), "match"),
        (("web:demo", "keyword", "x", "../demo"), "target"),
    ],
)
def test_bad_route_is_rejected_and_nothing_written(
    db: sqlite3.Connection, args: tuple[str, str, str, str], field: str
) -> None:
    with pytest.raises(store.InvalidInput) as err:
        store.add_route(db, *args)
    assert err.value.field == field
    assert store.all_routes(db) == []


def test_route_at_a_taken_seq_is_rejected(db: sqlite3.Connection) -> None:
    store.add_route(db, "web:demo", "keyword", "a", "demo", seq=5)
    with pytest.raises(store.InvalidInput, match="seq: web:demo already has a route at seq 5"):
        store.add_route(db, "web:demo", "keyword", "b", "demo", seq=5)
    assert len(store.all_routes(db)) == 1


def put(db: sqlite3.Connection, chat: str, ts: str) -> None:
    store.put_message(
        db, store.NewMessage(id=ts, chat_jid=chat, content="hi", timestamp=ts, chat_name=chat)
    )


def test_three_failed_runs_mark_a_chat_errored_and_success_clears_it(
    db: sqlite3.Connection,
) -> None:
    put(db, "web:demo", "2026-01-01T00:00:00.000Z")
    assert store.note_run_success(db, "web:demo") is False
    assert [store.note_run_failure(db, "web:demo") for _ in range(2)] == [1, 2]
    assert store.errored_chats(db) == []
    assert store.note_run_failure(db, "web:demo") == 3
    assert [c.jid for c in store.errored_chats(db)] == ["web:demo"]
    assert store.note_run_success(db, "web:demo") is True
    chat = store.get_chat(db, "web:demo")
    assert chat is not None
    assert (chat.errored, chat.consecutive_failures) == (False, 0)


def test_failure_counters_of_an_unknown_chat_change_nothing(db: sqlite3.Connection) -> None:
    assert store.note_run_failure(db, "web:ghost") == 0
    assert store.note_run_success(db, "web:ghost") is False
    assert store.get_chat(db, "web:ghost") is None


def test_failure_threshold_must_be_positive(db: sqlite3.Connection) -> None:
    put(db, "web:demo", "2026-01-01T00:00:00.000Z")
    with pytest.raises(store.InvalidInput, match="threshold"):
        store.note_run_failure(db, "web:demo", threshold=0)
    chat = store.get_chat(db, "web:demo")
    assert chat is not None
    assert chat.consecutive_failures == 0


def test_list_chats_newest_first_with_paging(db: sqlite3.Connection) -> None:
    put(db, "web:old", "2026-01-01T00:00:00.000Z")
    put(db, "web:new", "2026-03-01T00:00:00.000Z")
    put(db, "email:mid@x.y", "2026-02-01T00:00:00.000Z")
    assert [c.jid for c in store.list_chats(db)] == ["web:new", "email:mid@x.y", "web:old"]
    assert [c.jid for c in store.list_chats(db, before="2026-02-01T00:00:00.000Z")] == ["web:old"]
    assert [c.jid for c in store.list_chats(db, limit=1)] == ["web:new"]
    assert [c.jid for c in store.list_chats(db, folders=["old"])] == ["web:old"]  # its web chat
    assert store.list_chats(db, folders=[]) == []


def test_chats_are_filtered_by_folder_in_sql(db: sqlite3.Connection) -> None:
    put(db, "web:a", "2026-01-01T00:00:00.000Z")
    put(db, "tg:1", "2026-01-02T00:00:00.000Z")
    put(db, "web:a/v/AAAAAAAAAAAAAAAAAAAAAA", "2026-01-03T00:00:00.000Z")
    put(db, "tg:2", "2026-01-04T00:00:00.000Z")
    store.register_group(db, "tg:1", "a")
    store.register_group(db, "web:a/v/AAAAAAAAAAAAAAAAAAAAAA", "a")
    store.register_group(db, "tg:2", "b")
    db.execute("UPDATE chats SET errored = 1")
    in_a = ["web:a/v/AAAAAAAAAAAAAAAAAAAAAA", "tg:1", "web:a"]
    assert [c.jid for c in store.list_chats(db, folders=["a"])] == in_a
    assert [c.jid for c in store.list_chats(db, folders=["b"])] == ["tg:2"]
    assert [c.jid for c in store.list_chats(db, folders=["a", "b"])] == ["tg:2", *in_a]
    assert sorted(c.jid for c in store.errored_chats(db, ["a"])) == sorted(in_a)
    assert store.errored_chats(db, []) == []
    assert len(store.errored_chats(db)) == 4
    assert [g.jid for g in store.registered_groups(db, visitors=False)] == ["tg:1", "tg:2"]
    assert store.group_folders(db) == ["a", "b"]
    assert share_links.visitor_counts(db, ["a", "b"]) == {"a": 1}


def test_active_web_jids_since(db: sqlite3.Connection) -> None:
    put(db, "web:old", "2026-01-01T00:00:00.000Z")
    put(db, "web:new", "2026-03-01T00:00:00.000Z")
    put(db, "email:new@x.y", "2026-03-01T00:00:00.000Z")
    assert store.active_web_jids(db, "2026-02-01T00:00:00.000Z") == ["web:new"]
    assert store.active_web_jids(db, "2026-01-01T00:00:00.000Z") == ["web:new", "web:old"]


def test_active_web_jids_rejects_a_time_that_is_not_iso(db: sqlite3.Connection) -> None:
    with pytest.raises(store.InvalidInput, match="since"):
        store.active_web_jids(db, "yesterday")


def test_both_forms_of_the_folder_filter_give_the_same_chats(db: sqlite3.Connection) -> None:
    many = DRIVE_MAX + 5  # past DRIVE_MAX the filter probes per row instead of driving by list
    jids = [f"web:big/v/{i:022d}" for i in range(many)]
    with store.tx(db):
        db.executemany(
            "INSERT INTO registered_groups (jid, folder, created_at) VALUES (?, 'big', '')",
            [(j,) for j in jids],
        )
        db.executemany(
            "INSERT INTO chats (jid, channel, last_message_at) VALUES (?, 'web', ?)",
            [(j, f"2026-01-01T00:00:{i:06d}Z") for i, j in enumerate(jids)],
        )
    put(db, "tg:small", "2026-02-01T00:00:00.000Z")  # newer than every big chat
    store.register_group(db, "tg:small", "small")
    assert "EXISTS" in and_chat_in_folders(db, "chats.jid", ["big"])[0]
    assert "EXISTS" not in and_chat_in_folders(db, "chats.jid", ["small"])[0]
    newest = list(reversed(jids))
    assert [c.jid for c in store.list_chats(db, folders=["big"], limit=3)] == newest[:3]
    assert [c.jid for c in store.list_chats(db, folders=["small"])] == ["tg:small"]
    both = store.list_chats(db, folders=["big", "small"], limit=3)
    assert [c.jid for c in both] == ["tg:small", *newest[:2]]
    assert share_links.visitor_counts(db, ["big", "small"]) == {"big": many}
