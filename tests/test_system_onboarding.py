"""Onboarding through the whole system: a stranger's chat is greeted, names a world, the
operator approves it in the operator chat, and the stranger's first request is answered once."""

from __future__ import annotations

from typing import Any


def test_unknown_chat_is_onboarded_and_approved_by_the_operator(system: Any) -> None:
    ops = system.adapter("ops")
    system.cli("group", "add", "ops:desk", "desk", "--operator")
    tg = system.adapter("tg")

    tg.post("tg:555", "f1", "can you help me?", sender="carol")
    system.wait_for(
        lambda: any("world" in t for t in tg.texts("tg:555")), 30, "the greeting asking a name"
    )
    tg.post("tg:555", "f2", "carols-world", sender="carol")
    system.wait_for(
        lambda: any("awaits" in t for t in tg.texts("tg:555")), 30, "the pending notice"
    )
    system.wait_for(
        lambda: any("tg:555" in t for t in ops.texts("ops:desk")), 30, "the operator notified"
    )
    pending = system.cli_json("onboarding", "list")
    assert [(o["jid"], o["status"]) for o in pending if o["jid"] == "tg:555"] == [
        ("tg:555", "pending")
    ]

    ops.post("ops:desk", "o1", "/approve tg:555", sender="operator")
    system.wait_for(
        lambda: "echo: can you help me?" in tg.texts("tg:555"), 30, "the first request answered"
    )
    groups = {g["jid"]: g["folder"] for g in system.cli_json("group", "list")}
    assert groups["tg:555"] == "carols-world"

    tg.post("tg:555", "f3", "thanks", sender="carol")
    system.wait_for(lambda: "echo: thanks" in tg.texts("tg:555"), 30, "the next answer")
    texts = tg.texts("tg:555")
    assert texts.count("echo: can you help me?") == 1
    assert "echo: carols-world" not in texts  # nothing from before approval reached the agent


def test_unknown_chat_rejected_from_the_cli_is_told(system: Any) -> None:
    tg = system.adapter("tgr", ["tgr"])
    tg.post("tgr:9", "x1", "let me in", sender="dave")
    system.wait_for(lambda: tg.texts("tgr:9"), 30, "the greeting")
    tg.post("tgr:9", "x2", "daves-world", sender="dave")
    system.wait_for(lambda: any("awaits" in t for t in tg.texts("tgr:9")), 30, "the pending notice")
    system.cli("onboarding", "reject", "tgr:9", "--reason", "not today")
    system.wait_for(lambda: any("not today" in t for t in tg.texts("tgr:9")), 30, "the rejection")
    assert not any(t.startswith("echo:") for t in tg.texts("tgr:9"))


def test_unknown_chat_approved_from_the_dashboard(system: Any, csrf: Any) -> None:
    tg = system.adapter("tgd", ["tgd"])
    tg.post("tgd:42", "d1", "what is the weather?", sender="erin")
    system.wait_for(lambda: tg.texts("tgd:42"), 30, "the greeting")
    tg.post("tgd:42", "d2", "erins-world", sender="erin")
    system.wait_for(
        lambda: any("awaits" in t for t in tg.texts("tgd:42")), 30, "the pending notice"
    )
    system.cli("user", "add", "opsboss", "--password-stdin", input="opsboss-password-1\n")
    with system.dashboard("opsboss", "opsboss-password-1") as web:
        queue = web.get("/onboarding")
        assert "tgd:42" in queue.text
        decided = web.post("/onboarding/approve", data={"csrf": csrf(queue.text), "jid": "tgd:42"})
        assert decided.status_code in (200, 303), decided.text[:300]
    system.wait_for(
        lambda: "echo: what is the weather?" in tg.texts("tgd:42"), 30, "the first request answered"
    )
    assert tg.texts("tgd:42").count("echo: what is the weather?") == 1
    listed = {o["jid"]: o for o in system.cli_json("onboarding", "list")}
    assert listed["tgd:42"]["status"] == "approved"
