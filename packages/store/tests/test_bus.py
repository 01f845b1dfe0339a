"""The bus names (store.bus): the exact text of every router_state key and work key is a contract
with the databases already out there, and no module outside store.bus spells one out."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store import InvalidInput, bus

ROOT = Path(__file__).resolve().parents[3]
SPELLED = (
    "agent_cursor:",
    "task_cursor:",
    "agent_inflight:",
    "task_inflight:",
    "delivery_parts:",
    "gated:cursor",
    "onbod:cursor",
    "email:imap:",
    '"scheduler"',
    '"delegation"',
)


def test_key_texts_stay_what_existing_databases_hold() -> None:
    assert bus.agent_cursor("tg:1") == "agent_cursor:tg:1"
    assert bus.task_cursor("demo", "") == "task_cursor:demo:"
    assert bus.task_cursor("demo", "t1") == "task_cursor:demo:t1"
    # Read once more by core migration m004, which moves such records into session_log.
    assert (bus.LEGACY_AGENT_INFLIGHT_PREFIX, bus.LEGACY_TASK_INFLIGHT_PREFIX) == (
        "agent_inflight:",
        "task_inflight:",
    )
    assert bus.delivery_parts(42) == "delivery_parts:42"
    assert bus.email_cursor("a", "h", 993, "INBOX") == "email:imap:a@h:993/INBOX"
    assert (bus.GATEWAY_CURSOR, bus.ONBOARDING_CURSOR) == ("gated:cursor", "onbod:cursor")


def test_only_timeds_task_messages_are_scheduled_tasks() -> None:
    class Msg:
        def __init__(self, verb: str, sender: str) -> None:
            self.verb, self.sender = verb, sender

    assert bus.is_scheduled_task(Msg(bus.TASK, bus.SCHEDULER_SENDER))
    assert not bus.is_scheduled_task(Msg(bus.TASK, "mallory"))
    assert not bus.is_scheduled_task(Msg(bus.MESSAGE, bus.SCHEDULER_SENDER))
    assert not bus.is_scheduled_task(Msg(bus.TASK, bus.DELEGATE_SENDER))
    assert bus.is_delegation(Msg(bus.TASK, bus.DELEGATE_SENDER))
    assert not bus.is_delegation(Msg(bus.MESSAGE, bus.DELEGATE_SENDER))
    assert bus.delegate_topic("home") == "delegate:home"


@pytest.mark.parametrize("folder", ["packages", "services", "apps"])
def test_no_module_but_the_bus_spells_out_a_bus_name(folder: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}: {text}"
        for path in sorted((ROOT / folder).glob("*/src/**/*.py"))
        if path.name != "bus.py"
        for text in SPELLED
        if text in path.read_text()
    ]
    assert not found, found


@pytest.mark.parametrize(
    ("key", "text"),
    [
        (bus.WorkKey.chat("web:demo"), "chat:web:demo"),
        (bus.WorkKey.chat("email:a@b.c"), "chat:email:a@b.c"),
        (bus.WorkKey.chat("tg:1:2"), "chat:tg:1:2"),
        (bus.WorkKey.task("demo", ""), "task:demo:"),
        (bus.WorkKey.task("demo", "a:b:c"), "task:demo:a:b:c"),
    ],
)
def test_a_work_keys_text_reads_back_as_the_same_key(key: bus.WorkKey, text: str) -> None:
    assert str(key) == text
    assert bus.WorkKey.parse(text) == key


JIDS = st.from_regex(r"[a-z][a-z0-9_-]{0,8}:[!-~]{1,20}", fullmatch=True)
FOLDERS = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True)
TOPICS = st.text(max_size=20)


@given(
    st.one_of(
        JIDS.map(bus.WorkKey.chat),
        st.builds(bus.WorkKey.task, FOLDERS, TOPICS),
    )
)
def test_every_work_key_survives_its_text(key: bus.WorkKey) -> None:
    assert bus.WorkKey.parse(str(key)) == key


@pytest.mark.parametrize("text", ["", "chat:", "chat", "task:demo", "task::t", "agent:web:a"])
def test_a_text_that_names_no_work_key_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        bus.WorkKey.parse(text)
    assert err.value.field == "work_key"


def test_a_cursor_key_names_its_work_key() -> None:
    for key in (bus.WorkKey.chat("web:a:b"), bus.WorkKey.task("demo", "t:1")):
        assert bus.WorkKey.of_cursor(key.cursor_key) == key
    assert bus.WorkKey.of_cursor(bus.GATEWAY_CURSOR) is None
