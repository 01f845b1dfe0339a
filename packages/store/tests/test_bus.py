"""The bus names (store.bus): the exact text of every router_state key is a contract with the
databases already out there, and no module outside store.bus spells one out."""

from __future__ import annotations

from pathlib import Path

import pytest
from store import bus

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
    '"delegate"',
)


def test_key_texts_stay_what_existing_databases_hold() -> None:
    assert bus.agent_cursor("tg:1") == "agent_cursor:tg:1"
    assert bus.task_cursor("demo", "") == "task_cursor:demo:"
    assert bus.task_cursor("demo", "t1") == "task_cursor:demo:t1"
    assert bus.agent_inflight("tg:1") == "agent_inflight:tg:1"
    assert bus.task_inflight("demo", "t1") == "task_inflight:demo:t1"
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
