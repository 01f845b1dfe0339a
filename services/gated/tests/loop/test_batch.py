"""select_batch(): which pending messages one agent run takes."""

from __future__ import annotations

from gated.planning import Target, select_batch
from store import Message


def m(seq: int) -> Message:
    return Message(
        seq=seq,
        id=f"m{seq}",
        chat_jid="web:x",
        sender="",
        sender_name="",
        content="c",
        timestamp="",
        verb="message",
        source="",
        group_folder=None,
        topic="",
        is_from_me=False,
        reply_to_id=None,
        attachments=[],
    )


A: Target = ("a", "")
B: Target = ("b", "")


def test_nothing_triggered_means_no_run() -> None:
    assert select_batch([(m(1), None), (m(2), None)]) is None
    assert select_batch([]) is None


def test_context_before_the_trigger_is_included_and_after_it_waits() -> None:
    assert select_batch([(m(1), None), (m(2), A), (m(3), None)]) == (1, A)


def test_same_target_messages_batch_together() -> None:
    assert select_batch([(m(1), A), (m(2), None), (m(3), A), (m(4), None)]) == (2, A)


def test_a_different_target_ends_the_batch() -> None:
    assert select_batch([(m(1), A), (m(2), None), (m(3), B), (m(4), A)]) == (0, A)
