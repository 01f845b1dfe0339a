"""The share page's live stream `/s/<token>/events` against a real dashd: a visitor's replies
streamed once with their seq as id, a reconnect with Last-Event-ID gets exactly what it missed,
typing while an agent runs for the visitor, never another visitor's messages (forged, altered
and foreign cookies get the dead-token 404), a rotate or revoke ends open streams at once, the
per-visitor and per-address caps on open streams, and the form posted with fetch."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import store
from dashd.pages.share import VISITOR_COOKIE
from dashd.pages.share_events import STREAMS_PER_ADDRESS, STREAMS_PER_VISITOR
from dashd_harness import Server, open_db, start_dashd
from sse_client import Event, SseStream
from store import share_links
from store.bus import WorkKey

FOLDER = "live-help"
OTHER = "live-other"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
ENDS_WITHIN_S = 2.0  # a rotate or revoke ends an open stream within this (one wake-up)


@pytest.fixture(scope="module")
def site(module_tmp: Path) -> Iterator[Server]:
    db = module_tmp / "share-live.db"
    conn = open_db(db)
    for folder in (FOLDER, OTHER):
        store.register_group(conn, f"web:{folder}", folder)
    conn.close()
    srv = start_dashd(db, module_tmp)
    yield srv
    assert srv.stop() == 0


@pytest.fixture
def db(site: Server) -> Iterator[sqlite3.Connection]:
    conn = store.connect(site.db)
    yield conn
    conn.close()


class Visitor:
    """An anonymous browser on a share link: its cookie, its chat's jid, its CSRF token."""

    def __init__(self, site: Server, token: str, folder: str = FOLDER) -> None:
        self.token = token
        self.client = site.client()
        r = self.client.get(f"/s/{token}")
        assert r.status_code == 200, r.text[:300]
        m = CSRF_RE.search(r.text)
        assert m
        self.csrf = m.group(1)
        self.cookie = self.client.cookies[VISITOR_COOKIE]
        self.jid = share_links.visitor_jid(folder, self.cookie.split(".")[0])

    def stream(self, after: int | None = None, **headers: str) -> SseStream:
        query = "" if after is None else f"?after={after}"
        return SseStream(self.client, f"/s/{self.token}/events{query}", headers=headers)

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def ann(site: Server, db: sqlite3.Connection) -> Iterator[Visitor]:
    """A fresh visitor of a fresh link."""
    v = Visitor(site, link(db))
    yield v
    v.close()


@pytest.fixture
def stream(ann: Visitor, db: sqlite3.Connection) -> Iterator[SseStream]:
    """The visitor's stream, open from the present."""
    s = ann.stream(after=store.latest_seq(db))
    yield s
    s.close()


def reply(conn: sqlite3.Connection, jid: str, text: str) -> int:
    """Store an agent's reply to a visitor as gated does (message and outbox row, one commit)."""
    return store.store_outbound(conn, jid, text, group_folder=jid.split(":", 1)[1].split("/")[0])


def ids(events: list[Event]) -> list[int]:
    return [int(e.id) for e in events if e.type == "message" and e.id is not None]


def link(db: sqlite3.Connection, folder: str = FOLDER) -> str:
    return share_links.create_link(db, folder)


def comparable(r: httpx.Response) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    return r.status_code, r.content, tuple((k, v) for k, v in r.headers.items() if k != "date")


def anonymous_get(site: Server, path: str, cookie: str | None = None) -> httpx.Response:
    with site.client() as c:
        if cookie is not None:
            c.cookies.set(VISITOR_COOKIE, cookie, domain="127.0.0.1")
        return c.get(path)


def test_a_visitors_reply_streams_at_once_escaped_with_its_seq_as_id(
    ann: Visitor, stream: SseStream, db: sqlite3.Connection
) -> None:
    assert stream.status == 200
    stream.wait(lambda ev: any(e.type == "typing" for e in ev), 10, "the typing state")
    seq = reply(db, ann.jid, "hi <b>there</b> & co")
    stored = time.monotonic()
    stream.wait(lambda ev: seq in ids(ev), 10, "the reply")
    [event] = stream.of("message")
    assert event.id == str(seq)
    assert f'data-seq="{seq}"' in event.data
    assert "hi &lt;b&gt;there&lt;/b&gt; &amp; co" in event.data
    assert "<b>" not in event.data
    assert ann.jid not in event.data  # the row says nothing of the chat it is in
    assert event.at - stored < 1.0


def test_a_reconnect_with_last_event_id_gets_exactly_the_three_it_missed(
    ann: Visitor, db: sqlite3.Connection
) -> None:
    first = ann.stream(after=store.latest_seq(db))
    seen = reply(db, ann.jid, "before the cut")
    first.wait(lambda ev: seen in ids(ev), 10, "the first reply")
    first.close()
    missed = [reply(db, ann.jid, f"missed {i}") for i in range(3)]
    # The header wins over the page's ?after= (EventSource keeps its first URL).
    again = ann.stream(after=0, **{"Last-Event-ID": str(seen)})
    try:
        again.wait(lambda ev: len(ids(ev)) >= 3, 10, "the missed replies")
        later = reply(db, ann.jid, "after the reconnect")
        again.wait(lambda ev: later in ids(ev), 10, "the live reply")
        assert ids(again.events) == [*missed, later]
        assert [e.data.count("missed ") for e in again.of("message")] == [1, 1, 1, 0]
        assert (
            ann.client.get(f"/s/{ann.token}/events", headers={"Last-Event-ID": "12x"}).status_code
            == 400
        )
    finally:
        again.close()


def test_typing_is_on_while_an_agent_runs_for_the_visitor(
    ann: Visitor, stream: SseStream, db: sqlite3.Connection
) -> None:
    stream.wait(lambda ev: len(ev) >= 1, 10, "the typing state")
    key = WorkKey.chat(ann.jid)
    run = store.open_run(db, store.NewRun(key, FOLDER, "", ann.jid, batch_end=0, sandbox="none"))
    assert run is not None
    stream.wait(lambda ev: [e.data for e in ev if e.type == "typing"][-1] == "on", 10, "on")
    assert store.end_run(db, run, "ok")
    stream.wait(lambda ev: [e.data for e in ev if e.type == "typing"][-1] == "off", 10, "off")
    assert [e.data for e in stream.of("typing")] == ["off", "on", "off"]


def test_a_stream_carries_only_its_own_visitors_messages(
    site: Server, db: sqlite3.Connection
) -> None:
    token, other_token = link(db), link(db, OTHER)
    ann, bob = Visitor(site, token), Visitor(site, token)
    eve = Visitor(site, other_token, OTHER)  # a visitor of another folder's link
    dead = link(db, "live-dead")
    share_links.revoke_link(db, "live-dead")
    page_404 = anonymous_get(site, f"/s/{dead}")
    assert page_404.status_code == 404
    vid, sig = ann.cookie.split(".")
    bob_vid = bob.cookie.split(".")[0]
    attacks = {
        "no cookie": anonymous_get(site, f"/s/{token}/events"),
        "forged signature": anonymous_get(site, f"/s/{token}/events", f"{vid}.{'0' * 64}"),
        "bob's id, ann's signature": anonymous_get(site, f"/s/{token}/events", f"{bob_vid}.{sig}"),
        "one letter changed": anonymous_get(
            site, f"/s/{token}/events", ("B" if vid[0] == "A" else "A") + ann.cookie[1:]
        ),
        "garbage": anonymous_get(site, f"/s/{token}/events", "not-a-cookie"),
        "another link's visitor": anonymous_get(site, f"/s/{token}/events", eve.cookie),
        "ann's cookie on another link": anonymous_get(site, f"/s/{other_token}/events", ann.cookie),
        "dead token": anonymous_get(site, f"/s/{dead}/events", ann.cookie),
        "unknown token": anonymous_get(site, f"/s/{'A' * 43}/events"),
    }
    for what, r in attacks.items():
        assert comparable(r) == comparable(page_404), what
    assert "set-cookie" not in page_404.headers

    after = store.latest_seq(db)
    streams = {v: v.stream(after=after) for v in (ann, bob, eve)}
    try:
        mine = {
            v: [reply(db, v.jid, f"for {n} only") for _ in range(2)]
            for v, n in ((ann, "ann"), (bob, "bob"), (eve, "eve"))
        }
        reply(db, f"web:{FOLDER}", "the operators' own web chat")
        for v, s in streams.items():
            s.wait(lambda ev, v=v: mine[v][-1] in ids(ev), 10, "the visitor's replies")
        last = reply(db, ann.jid, "a last one for ann")  # later than everything above
        streams[ann].wait(lambda ev: last in ids(ev), 10, "the last reply")
        assert ids(streams[ann].events) == [*mine[ann], last]
        for v, name in ((bob, "bob"), (eve, "eve")):
            assert ids(streams[v].events) == mine[v]
            assert all(f"for {name} only" in e.data for e in streams[v].of("message"))
    finally:
        for s in streams.values():
            s.close()
        for v in (ann, bob, eve):
            v.close()


def test_rotating_ends_open_streams_at_once_and_the_old_url_404s(
    site: Server, db: sqlite3.Connection
) -> None:
    token = link(db)
    ann = Visitor(site, token)
    stream = ann.stream(after=store.latest_seq(db))
    try:
        stream.wait(lambda ev: len(ev) >= 1, 10, "the stream")
        new_token = link(db)  # rotate
        rotated = time.monotonic()
        assert stream.ended.wait(10), "the stream did not end"
        assert time.monotonic() - rotated < ENDS_WITHIN_S
        assert ann.client.get(f"/s/{token}").status_code == 404
        assert ann.client.get(f"/s/{token}/events").status_code == 404
        fresh = Visitor(site, new_token)
        again = fresh.stream(after=0)
        try:
            again.wait(lambda ev: len(ev) >= 1, 10, "a stream on the new link")
            share_links.revoke_link(db, FOLDER)
            revoked = time.monotonic()
            assert again.ended.wait(10), "the stream did not end"
            assert time.monotonic() - revoked < ENDS_WITHIN_S
            for t in (token, new_token):
                assert fresh.client.get(f"/s/{t}/events").status_code == 404
                assert fresh.client.get(f"/s/{t}").status_code == 404
        finally:
            again.close()
            fresh.close()
    finally:
        stream.close()
        ann.close()


def open_until_refused(v: Visitor, n: int) -> list[SseStream]:
    """Open `n` streams of visitor `v`, each waited for (its first event)."""
    out = []
    for _ in range(n):
        s = v.stream(after=0)
        out.append(s)
        if s.status == 200:
            s.wait(lambda ev: len(ev) >= 1, 10, "the stream")
    return out


def test_a_fifth_stream_of_a_visitor_and_the_33rd_of_an_address_are_refused(
    site: Server, db: sqlite3.Connection
) -> None:
    token = link(db)
    visitors = [Visitor(site, token) for _ in range(STREAMS_PER_ADDRESS // STREAMS_PER_VISITOR + 1)]
    opened: list[SseStream] = []
    try:
        first = visitors[0]
        opened += open_until_refused(first, STREAMS_PER_VISITOR)
        assert [s.status for s in opened] == [200] * STREAMS_PER_VISITOR
        r = first.client.get(f"/s/{token}/events")
        assert r.status_code == 429
        assert f"{STREAMS_PER_VISITOR} live streams open" in r.text
        assert "close another tab" in r.text
        # A closed stream gives its slot back.
        opened.pop().close()
        deadline = time.monotonic() + 10
        while True:
            s = first.stream(after=0)
            if s.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)  # the server notices the closed connection shortly
        assert s.status == 200
        opened.append(s)
        for v in visitors[1:-1]:
            opened += open_until_refused(v, STREAMS_PER_VISITOR)
        assert [s.status for s in opened] == [200] * STREAMS_PER_ADDRESS
        r = visitors[-1].client.get(f"/s/{token}/events")  # a fresh visitor, same address
        assert r.status_code == 429
        assert f"{STREAMS_PER_ADDRESS} live streams open" in r.text
        assert r.headers["retry-after"]
    finally:
        for s in opened:
            s.close()
        for v in visitors:
            v.close()


def test_the_form_posted_with_fetch_gets_204_and_the_stream_brings_the_message(
    ann: Visitor, stream: SseStream, db: sqlite3.Connection
) -> None:
    r = ann.client.post(
        f"/s/{ann.token}",
        data={"csrf": ann.csrf, "text": "sent by fetch"},
        headers={"X-Share-Fetch": "1"},
    )
    assert r.status_code == 204
    stream.wait(lambda ev: any("sent by fetch" in e.data for e in ev), 10, "own message")
    r = ann.client.post(f"/s/{ann.token}", data={"csrf": ann.csrf, "text": "no script"})
    assert r.status_code == 303  # without JavaScript: post, redirect, get
    r = ann.client.post(
        f"/s/{ann.token}", data={"csrf": "0" * 64, "text": "x"}, headers={"X-Share-Fetch": "1"}
    )
    assert r.status_code == 403
    assert 'id="share-error"' in r.text  # app.js shows this text
