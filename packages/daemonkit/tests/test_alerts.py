"""The alert watcher (daemonkit.alerts) on a real database: undelivered replies and errored
chats alerted once per incident and once when over; several watchers (other gateways, a
restart) say each thing once between them; an alert that cannot be delivered does not alert
about itself; a daemon that stopped cleanly is not "silent"; the stale time is checked."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import store
from daemonkit.alerts import SOURCE, Alerter
from dashd import config as dashd_config
from gated import config as gated_config


def operator_chat(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:ops", "ops", is_operator=True)


def said(db: sqlite3.Connection) -> list[str]:
    rows = db.execute(
        "SELECT content FROM messages WHERE source = ? ORDER BY seq", (SOURCE,)
    ).fetchall()
    return [r[0] for r in rows]


def dead_reply(db: sqlite3.Connection, jid: str, text: str, error: str) -> int:
    seq = store.store_outbound(db, jid, text)
    [item] = [i for i in store.claim_outbound(db, "test") if i.seq == seq]
    assert store.mark_failed(db, item.seq, error, permanent=True) == "dead"
    return seq


def watchers(db_path: Path, n: int) -> list[Alerter]:
    """n watchers on connections of their own, as n gateways would be."""
    return [Alerter(store.connect(db_path), (), outbox=True, chats=True) for _ in range(n)]


def check(alerters: list[Alerter]) -> None:
    now = store.utcnow()
    for a in alerters:
        a.check(now)


def test_undelivered_replies_are_alerted_once_and_their_end_once(
    db: sqlite3.Connection, db_path: Path
) -> None:
    operator_chat(db)
    three = watchers(db_path, 3)
    check(three)
    assert said(db) == []
    dead_reply(db, "slack:T1:C1", "hello", "channel_not_found")
    check(three)
    check(three)
    assert said(db) == [
        "ALERT: 1 reply could not be delivered (dead); the latest to slack:T1:C1: "
        "channel_not_found. See `switchboard status`."
    ]
    second = dead_reply(db, "tg:5", "hi", "Forbidden: bot was blocked by the user")
    check(three)
    assert said(db)[1] == (
        "ALERT: 2 replies could not be delivered more (dead); the latest to tg:5: "
        "Forbidden: bot was blocked by the user. See `switchboard status`."
    )
    db.execute("DELETE FROM outbox WHERE status = 'dead'")  # an operator cleared them
    check(three)
    check(watchers(db_path, 1))  # a restarted gateway says nothing again
    assert said(db)[2:] == ["RECOVERED: no undelivered replies left."]
    assert len(said(db)) == 3
    assert second > 0


def test_an_alert_that_cannot_be_delivered_does_not_alert_about_itself(
    db: sqlite3.Connection, db_path: Path
) -> None:
    operator_chat(db)
    [watcher] = watchers(db_path, 1)
    dead_reply(db, "tg:5", "hi", "blocked")
    watcher.check(store.utcnow())
    assert len(said(db)) == 1
    [alert] = [i for i in store.claim_outbound(db, "test") if i.chat_jid == "web:ops"]
    store.mark_failed(db, alert.seq, "operator channel down", permanent=True)
    for _ in range(3):
        watcher.check(store.utcnow())
    assert len(said(db)) == 1


def test_errored_chats_are_alerted_once_and_their_recovery_once(
    db: sqlite3.Connection, db_path: Path
) -> None:
    operator_chat(db)
    two = watchers(db_path, 2)
    for jid in ("web:a", "web:b"):
        store.register_group(db, jid, jid[4:])
        store.note_run_failure(db, jid, threshold=1)
    check(two)
    check(two)
    assert said(db) == [
        "ALERT: chats web:a, web:b marked errored (its agent failed repeatedly); "
        "`switchboard status` lists errored chats."
    ]
    store.note_run_success(db, "web:a")
    check(two)
    check(two)
    assert said(db)[1:] == ["RECOVERED: chat web:a answered again."]


def test_a_silent_daemon_but_not_a_stopped_one(db: sqlite3.Connection) -> None:
    operator_chat(db)
    store.heartbeat(db, "timed")
    store.heartbeat(db, "onbod")
    store.daemon_stopped(db, "onbod")  # stopped cleanly: not an incident
    watcher = Alerter(db, ("timed", "onbod"), stale_s=10)
    watcher.check(store.utcnow() + timedelta(seconds=9))
    assert said(db) == []
    watcher.check(store.utcnow() + timedelta(seconds=11))
    watcher.check(store.utcnow() + timedelta(seconds=13))
    [alert] = said(db)
    assert alert.startswith("ALERT: timed has not been heard from for 1")
    store.heartbeat(db, "timed")
    watcher.check(store.utcnow())
    assert said(db)[1].startswith("RECOVERED: timed is heard from again (heartbeat ")
    assert len(said(db)) == 2


@pytest.mark.parametrize("load", [dashd_config.load, gated_config.load])
def test_the_stale_time_is_checked(
    load: Callable[[list[str]], Any], db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load(["--db", str(db_path), "--alert-stale-s", "30"]).alert_stale_s == 30
    assert load(["--db", str(db_path)]).alert_stale_s == 60  # the default
    for bad in ("5", "abc"):
        with pytest.raises(SystemExit) as exc:
            load(["--db", str(db_path), "--alert-stale-s", bad])
        assert exc.value.code == 2
        assert ": error: --alert-stale-s" in capsys.readouterr().err
