"""Platform threads as topics: plain ids keep their name, others are hashed, the mapping comes
back for replies, and a bad id is refused."""

from __future__ import annotations

import sqlite3

import pytest
import store
from gated.threads import thread_for_topic, topic_for_thread


def test_a_thread_is_a_topic_and_the_topic_finds_its_thread(conn: sqlite3.Connection) -> None:
    assert topic_for_thread(conn, "tg:1", "777") == "thread:777"
    assert topic_for_thread(conn, "tg:1", "777") == "thread:777"  # again: the same, no error
    assert thread_for_topic(conn, "tg:1", "thread:777") == "777"
    assert thread_for_topic(conn, "tg:2", "thread:777") is None  # per chat
    assert thread_for_topic(conn, "tg:1", "") is None
    assert thread_for_topic(conn, "tg:1", "research") is None


def test_an_id_that_is_not_a_plain_topic_name_is_hashed(conn: sqlite3.Connection) -> None:
    matrix_event = "$Ab3_x/y+z:example.org"
    topic = topic_for_thread(conn, "matrix:!r:example.org", matrix_event)
    assert topic.startswith("thread:")
    assert len(topic) == len("thread:") + 16
    assert thread_for_topic(conn, "matrix:!r:example.org", topic) == matrix_event
    long_id = "9" * 58
    assert topic_for_thread(conn, "x:1", long_id) != "thread:" + long_id


@pytest.mark.parametrize("bad", ["", "x" * 256])
def test_an_empty_or_overlong_thread_id_is_refused(conn: sqlite3.Connection, bad: str) -> None:
    with pytest.raises(store.InvalidInput, match="thread_id"):
        topic_for_thread(conn, "tg:1", bad)
