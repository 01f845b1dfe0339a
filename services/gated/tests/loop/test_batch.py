"""select_batch(): which pending messages one agent run takes."""

from __future__ import annotations

from gated.planning import Target, select_batch
from hypothesis import given
from hypothesis import strategies as st
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


targets = st.sampled_from([None, A, B, ("a", "t")])


@given(st.lists(targets, max_size=30))
def test_a_batch_ends_on_its_target_and_holds_no_other(ts: list[Target | None]) -> None:
    items = [(m(i + 1), t) for i, t in enumerate(ts)]
    chosen = select_batch(items)
    if all(t is None for t in ts):
        assert chosen is None
        return
    assert chosen is not None
    end, target = chosen
    first = next(t for t in ts if t is not None)
    assert target == first
    assert ts[end] == target
    assert all(t in (None, target) for t in ts[: end + 1])
    # Nothing after the end with the same target could have joined the batch.
    after = [t for t in ts[end + 1 :] if t is not None]
    assert not after or after[0] != target
