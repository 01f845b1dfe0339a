"""Live updates over Server-Sent Events against a real dashd: replies streamed once with their
seq as id, Last-Event-ID resume without gaps or duplicates (also while a writer races the
reconnects), typing on and off with an agent run, the status page's paced `changed` events,
access rules, streams bounded by their login, and a prompt shutdown with streams open."""

from __future__ import annotations

import itertools
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import store
from dashd import auth
from dashd.users import add_user
from dashd_harness import (
    PASSWORD,
    Server,
    open_db,
    set_cookie,
    signed_in,
    start_dashd,
    token_for,
)
from sse_client import Event, SseStream
from store.bus import WorkKey

JID = "web:demo"
EVENTS = "/web/demo/events"


@pytest.fixture(scope="module")
def live(module_tmp: Path) -> Iterator[Server]:
    db = module_tmp / "live.db"
    conn = open_db(db)
    add_user(conn, "admin", PASSWORD)
    add_user(conn, "outsider", PASSWORD, folders=["other"])
    for folder in ("demo", "other", "race"):
        (module_tmp / "groups" / folder).mkdir(parents=True, exist_ok=True)
    conn.close()
    srv = start_dashd(db, module_tmp)
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def admin(live: Server) -> Iterator[httpx.Client]:
    client = signed_in(live, "admin")
    yield client
    client.close()


@pytest.fixture
def db(live: Server) -> Iterator[sqlite3.Connection]:
    conn = store.connect(live.db)
    yield conn
    conn.close()


def reply(conn: sqlite3.Connection, text: str, jid: str = JID) -> int:
    """Store an agent's reply as gated does (message row and outbox row in one commit)."""
    return store.store_outbound(conn, jid, text, group_folder=jid.split(":", 1)[1])


def ids(events: list[Event]) -> list[int]:
    return [int(e.id) for e in events if e.type == "message" and e.id is not None]


def test_a_stored_reply_streams_at_once_escaped_with_its_seq_as_id(
    admin: httpx.Client, db: sqlite3.Connection
) -> None:
    stream = SseStream(admin, f"{EVENTS}?after={store.latest_seq(db)}")
    try:
        assert stream.status == 200
        stream.wait(lambda ev: any(e.type == "typing" for e in ev), 10, "the typing state")
        assert stream.of("typing")[0].data == "off"
        seq = reply(db, "hello <b>there</b> & co")
        committed = time.monotonic()
        stream.wait(lambda ev: seq in ids(ev), 10, "the reply")
        [event] = stream.of("message")
        assert event.id == str(seq)
        assert f'id="m{seq}"' in event.data
        assert "hello &lt;b&gt;there&lt;/b&gt; &amp; co" in event.data
        assert "<b>" not in event.data
        assert event.at - committed < 1.0
    finally:
        stream.close()


def test_a_reconnect_with_last_event_id_gets_exactly_what_it_missed(
    admin: httpx.Client, db: sqlite3.Connection
) -> None:
    first = SseStream(admin, f"{EVENTS}?after={store.latest_seq(db)}")
    seen = reply(db, "before the cut")
    first.wait(lambda ev: seen in ids(ev), 10, "the first reply")
    first.close()
    missed = [reply(db, f"missed {i}") for i in range(3)]
    reply(db, "another chat's reply", jid="web:other")
    # The header wins over a stale ?after= (EventSource keeps its first URL).
    again = SseStream(admin, f"{EVENTS}?after=0", headers={"Last-Event-ID": str(seen)})
    try:
        again.wait(lambda ev: len(ids(ev)) >= 3, 10, "the missed replies")
        later = reply(db, "after the reconnect")
        again.wait(lambda ev: later in ids(ev), 10, "the live reply")
        assert ids(again.events) == [*missed, later]
        assert [e.data.count("missed ") for e in again.of("message")] == [1, 1, 1, 0]
    finally:
        again.close()


def test_reconnects_racing_a_writer_see_every_message_once_in_order(
    admin: httpx.Client, live: Server
) -> None:
    jid, folder = "web:race", "race"
    writer = store.connect(live.db)
    reply(writer, "seed", jid=jid)
    count, marks = 300, {50, 100, 150, 200, 250}
    starts: list[int] = []
    streams: dict[int, SseStream] = {}
    done = threading.Event()

    def write() -> None:
        conn = store.connect(live.db)
        for i in range(count):
            seq = reply(conn, f"race {i}", jid=jid)
            if i in marks:
                starts.append(seq)
        conn.close()
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        # Each stream resumes from a seq the writer has just stored, while it keeps storing.
        while not done.is_set() or len(streams) < len(starts):
            for after in [a for a in starts if a not in streams]:
                headers = {"Last-Event-ID": str(after)}
                streams[after] = SseStream(admin, f"/web/{folder}/events", headers=headers)
                assert streams[after].status == 200
            time.sleep(0.005)  # pacing the reconnect loop, not waiting for a result
        thread.join()
        last = store.latest_seq(writer)
        for after, s in streams.items():
            s.wait(lambda ev: last in ids(ev), 20, f"the last message (from {after})")
            expected = [m.seq for m in store.messages_since(writer, jid, after, 1000)]
            assert ids(s.events) == expected
        assert len(streams) == len(marks)
    finally:
        for s in streams.values():
            s.close()
        writer.close()


def test_typing_is_on_while_an_agent_runs_for_the_chat_and_off_after(
    admin: httpx.Client, db: sqlite3.Connection
) -> None:
    stream = SseStream(admin, f"{EVENTS}?after={store.latest_seq(db)}")
    try:
        stream.wait(lambda ev: len(ev) >= 1, 10, "the typing state")
        run = store.open_run(
            db,
            store.NewRun(WorkKey.chat(JID), "demo", "", JID, batch_end=0, sandbox="none"),
        )
        assert run is not None
        stream.wait(lambda ev: [e.data for e in ev if e.type == "typing"][-1] == "on", 10, "on")
        part = reply(db, "part one")
        stream.wait(lambda ev: part in ids(ev), 10, "a part")
        assert store.end_run(db, run, "ok")
        stream.wait(lambda ev: [e.data for e in ev if e.type == "typing"][-1] == "off", 10, "off")
        assert [e.data for e in stream.of("typing")] == ["off", "on", "off"]
        # A new stream opened during a run says typing on.
        run = store.open_run(
            db, store.NewRun(WorkKey.chat(JID), "demo", "", JID, batch_end=0, sandbox="none")
        )
        assert run is not None
        late = SseStream(admin, EVENTS)
        try:
            # On at once, or (when it subscribed before the hub read that commit) right after.
            late.wait(
                lambda ev: [e.data for e in ev if e.type == "typing"][-1:] == ["on"], 10, "on"
            )
            assert [e.data for e in late.of("typing")] in (["on"], ["off", "on"])
        finally:
            late.close()
            store.end_run(db, run, "ok")
    finally:
        stream.close()


def test_status_stream_says_changed_at_most_once_a_second(
    admin: httpx.Client, live: Server
) -> None:
    stream = SseStream(admin, "/status/events")
    stop = time.monotonic() + 2.5

    def write() -> None:
        conn = store.connect(live.db)
        i = 0
        while time.monotonic() < stop:
            store.put_message(
                conn, store.NewMessage(id=f"busy{i}", chat_jid="tg:busy", content="x")
            )
            i += 1
            time.sleep(0.05)  # a steady stream of commits, 20 a second
        conn.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        thread.join()
        stream.wait(lambda ev: sum(e.type == "changed" for e in ev) >= 2, 10, "changes")
        times = [e.at for e in stream.of("changed")]
        assert all(b - a >= 0.9 for a, b in itertools.pairwise(times)), times
        assert all(e.data == "1" for e in stream.of("changed"))  # no data: the page re-reads
    finally:
        stream.close()


def test_a_stream_keeps_the_pages_access_rules(live: Server, admin: httpx.Client) -> None:
    outsider = signed_in(live, "outsider")
    anonymous = live.client()
    try:
        assert outsider.get("/web/demo").status_code == 404
        r = outsider.get(EVENTS)
        assert r.status_code == 404
        assert "text/event-stream" not in r.headers["content-type"]
        assert outsider.get("/web/no-such-folder/events").status_code == 404
        r = anonymous.get(EVENTS)
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2Fweb%2Fdemo%2Fevents"
        assert anonymous.get("/status/events").status_code == 303
        assert admin.get(EVENTS, headers={"Last-Event-ID": "12x"}).status_code == 400
        assert admin.get(EVENTS, headers={"Last-Event-ID": "9" * 40}).status_code == 400
        own = SseStream(outsider, "/web/other/events")
        assert own.status == 200
        own.close()
    finally:
        outsider.close()
        anonymous.close()


def test_a_stream_ends_when_the_access_token_it_was_opened_with_expires(
    live: Server, admin: httpx.Client, db: sqlite3.Connection
) -> None:
    key = auth.signing_key(db)
    claims = auth.decode_access(key, admin.cookies["sb_access"])
    assert claims is not None
    short = auth.access_token(
        key, claims["sub"], claims["sid"], store.utcnow(), timedelta(seconds=2)
    )
    holder = live.client()
    set_cookie(holder, "sb_access", short)  # no refresh token: the stream cannot renew itself
    stream = SseStream(holder, EVENTS)
    try:
        assert stream.status == 200
        opened = time.monotonic()
        assert stream.ended.wait(10), "the stream outlived its access token"
        assert 0.5 < time.monotonic() - opened < 5
        assert holder.get(EVENTS).status_code == 303  # and it cannot come back
    finally:
        stream.close()
        holder.close()


def test_logging_out_ends_that_sessions_open_streams_at_once(
    live: Server, admin: httpx.Client, db: sqlite3.Connection
) -> None:
    """Attack: a stream opened before logout would otherwise run on until its access token
    expired (15 min), still receiving the chat. Another session's streams are not touched."""
    leaving = signed_in(live, "admin")
    chat = SseStream(leaving, EVENTS)
    status = SseStream(leaving, "/status/events")
    other = SseStream(admin, EVENTS)
    try:
        assert chat.status == status.status == other.status == 200
        chat.wait(lambda ev: len(ev) >= 1, 10, "the typing state")
        other.wait(lambda ev: len(ev) >= 1, 10, "the typing state")
        assert leaving.post("/logout", data={"csrf": token_for(leaving)}).status_code == 303
        started = time.monotonic()
        assert chat.ended.wait(5), "the chat stream outlived its logout"
        assert status.ended.wait(5), "the status stream outlived its logout"
        assert time.monotonic() - started < 2
        seq = reply(db, "after logout")
        other.wait(lambda ev: seq in ids(ev), 10, "the reply on the other session's stream")
        assert not other.ended.is_set()
        assert seq not in ids(chat.events)
    finally:
        for s in (chat, status, other):
            s.close()
        leaving.close()


def test_sigterm_with_twenty_open_streams_exits_within_seconds(tmp_path: Path) -> None:
    db = tmp_path / "stop.db"
    conn = open_db(db)
    add_user(conn, "admin", PASSWORD)
    (tmp_path / "groups" / "demo").mkdir(parents=True)
    conn.close()
    srv = start_dashd(db, tmp_path)
    client = signed_in(srv, "admin")
    paths = [EVENTS] * 15 + ["/status/events"] * 5
    streams = [SseStream(client, p) for p in paths]
    try:
        assert all(s.status == 200 for s in streams)
        hub_streams = 0
        for s in streams[:15]:
            s.wait(lambda ev: len(ev) >= 1, 10, "the typing state")
            hub_streams += 1
        assert hub_streams == 15
        started = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(timeout=15) == 0
        took = time.monotonic() - started
        assert took < 4, f"dashd took {took:.1f} s to stop with 20 streams open"
        assert all(s.ended.wait(5) for s in streams)
        # Ended by the hub, not cancelled by uvicorn's graceful-shutdown backstop.
        assert "timeout graceful shutdown exceeded" not in srv.log.read_text()
    finally:
        for s in streams:
            s.close()
        client.close()
        if srv.proc.poll() is None:
            srv.proc.kill()
