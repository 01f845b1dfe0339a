"""Messages through the whole system: an adapter posts to gated's channel API, the echo agent
answers, the delivery worker brings the reply back to the adapter — once."""

from __future__ import annotations

from typing import Any


def test_adapter_message_gets_exactly_one_echo_reply(system: Any) -> None:
    chat = system.adapter("fake")
    system.cli("group", "add", "fake:room1", "room1")

    first = chat.post("fake:room1", "m1", "hello", sender="alice")
    assert first["duplicate"] is False
    system.wait_for(
        lambda: "echo: hello" in chat.texts("fake:room1"), 30, "the echo reply at the adapter"
    )

    again = chat.post("fake:room1", "m1", "hello", sender="alice")  # the platform re-delivers
    assert again == {"seq": first["seq"], "duplicate": True}
    chat.post("fake:room1", "m2", "second", sender="alice")
    system.wait_for(
        lambda: "echo: second" in chat.texts("fake:room1"), 30, "the reply to the second message"
    )
    assert chat.texts("fake:room1") == ["echo: hello", "echo: second"]
    bodies = chat.sent("fake:room1")
    assert bodies[0]["reply_to_id"] in (None, "m1")
    assert system.replies("fake:room1") == ["echo: hello", "echo: second"]


def test_messages_of_unregistered_chats_never_reach_an_agent(system: Any) -> None:
    chat = system.adapter("stranger", ["stx"])
    chat.post("stx:999", "s1", "hi there", sender="bob")
    # onbod greets the stranger (asks for a world name); no agent answers.
    system.wait_for(lambda: system.replies("stx:999"), 30, "onbod's greeting to the unknown chat")
    assert not any(t.startswith("echo:") for t in system.replies("stx:999"))
    system.wait_for(lambda: chat.texts("stx:999"), 30, "the greeting delivered to the adapter")


def test_web_chat_message_gets_the_echo_reply_in_the_page(system: Any, csrf: Any) -> None:
    system.cli("group", "add", "web:webdemo", "webdemo")
    system.cli("user", "add", "webber", "--password-stdin", input="webber-password-1\n")
    with system.dashboard("webber", "webber-password-1") as web:
        page = web.get("/web/webdemo")
        assert page.status_code == 200
        sent = web.post("/web/webdemo", data={"csrf": csrf(page.text), "text": "hi <b>there</b>"})
        assert sent.status_code in (200, 303), sent.text[:300]

        def reply_shown() -> bool:
            html = web.get("/web/webdemo/since", params={"after": 0}).text
            return "echo: hi &lt;b&gt;there&lt;/b&gt;" in html

        system.wait_for(reply_shown, 30, "the echo reply in the web chat")
    assert system.replies("web:webdemo") == ["echo: hi <b>there</b>"]


def test_graceful_restart_of_every_daemon_loses_nothing(system: Any) -> None:
    chat = system.adapter("rst")
    system.cli("group", "add", "rst:room", "rstroom")
    chat.post("rst:room", "a", "before")
    system.wait_for(lambda: "echo: before" in chat.texts("rst:room"), 30, "the first answer")
    for name in ("gated", "timed", "onbod", "dashd"):
        system.restart(name)  # SIGTERM must end it with exit 0, then it starts again
    chat.post("rst:room", "b", "after")  # the channel token survived gated's restart
    system.wait_for(lambda: "echo: after" in chat.texts("rst:room"), 30, "the answer after")
    assert chat.texts("rst:room") == ["echo: before", "echo: after"]
