"""The pure parts of discord_events: ids as Discord writes them, jids, edit ids."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from platforms.discord_events import channel_id_of, edit_id, jid_of, snowflake


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_a_channel_id_survives_the_jid(channel_id: int) -> None:
    assert channel_id_of(jid_of(channel_id)) == channel_id


@given(st.text())
def test_anything_else_is_not_a_channel(text: str) -> None:
    found = channel_id_of(f"discord:{text}")
    assert found is None or (text.isascii() and text.isdigit() and len(text) <= 20)


def test_hostile_ids_are_refused() -> None:
    for bad in ["", "-1", "1e9", "١٢٣", "12 3", "9" * 21, "123/../456", None]:
        assert snowflake(bad) is None
    assert channel_id_of("tg:123") is None
    assert channel_id_of("discord:") is None


def test_each_edit_has_its_own_id() -> None:
    first = datetime(2026, 1, 1, 12, 0, 0, 1000, tzinfo=UTC)
    later = datetime(2026, 1, 1, 12, 0, 0, 2000, tzinfo=UTC)
    assert edit_id(5, first) != edit_id(5, later)
    assert edit_id(5, first).startswith("5:edit:")
    assert edit_id(5, None) == "5:edit:0"
