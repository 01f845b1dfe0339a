"""The whole path with the real gated process (protocol 1.1) and its echo agent: a Telegram
user's message -> switchboard-telegram -> gated -> echo reply -> gated's /send ->
sendMessage at the Telegram stand-in; a forum topic's reply comes back in its topic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import store
from real_gated import real_gated
from telegram_process import AdapterProcess
from telegram_standin import TelegramStandin
from testkit import wait_for


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with real_gated(tmp_path, {"tg:42": "tgdemo", "tg:-1001": "tgteam"}) as running:
        yield running


def test_telegram_message_gets_the_echo_reply_through_real_gated(
    gated: tuple[str, Path], tmp_path: Path, telegram: TelegramStandin
) -> None:
    base, db = gated
    adapter = AdapterProcess(tmp_path, telegram, base).start()
    try:
        adapter.wait_logged("registered with gated")
        assert "protocol=1.1" in adapter.log()
        telegram.user_message(42, "hello from telegram")
        replies = wait_for(telegram.messages, 60, "the echo reply at Telegram")
        assert [(m["chat_id"], m["text"]) for m in replies] == [("42", "echo: hello from telegram")]
        conn = store.connect(db, readonly=True)
        try:
            rows = store.messages_since(conn, "tg:42", 0)
        finally:
            conn.close()
        inbound = [m for m in rows if not m.is_from_me]
        assert [(m.source, m.sender, m.content) for m in inbound] == [
            ("tg", "4242", "hello from telegram")
        ]
        assert adapter.stop() == 0
    finally:
        if adapter.proc is not None and adapter.proc.poll() is None:
            adapter.kill()


def test_a_forum_topic_is_a_session_topic_and_the_reply_stays_in_it(
    gated: tuple[str, Path], tmp_path: Path, telegram: TelegramStandin
) -> None:
    base, db = gated
    adapter = AdapterProcess(tmp_path, telegram, base).start()
    try:
        adapter.wait_logged("registered with gated")
        telegram.user_message(-1001, "in the topic", message_thread_id=7, is_topic_message=True)
        (reply,) = wait_for(telegram.messages, 60, "the echo reply in the topic")
        assert (reply["chat_id"], reply["text"]) == ("-1001", "echo: in the topic")
        assert str(reply["message_thread_id"]) == "7"
        conn = store.connect(db, readonly=True)
        try:
            topics = {m.topic for m in store.messages_since(conn, "tg:-1001", 0)}
        finally:
            conn.close()
        assert topics == {"thread:7"}
        assert adapter.stop() == 0
    finally:
        if adapter.proc is not None and adapter.proc.poll() is None:
            adapter.kill()
