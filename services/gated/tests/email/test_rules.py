"""Pure rules: which mail is never answered (loops, bulk, bounces) and the reply headers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from email_testkit import ADDRESS, mail
from gated.email.loops import (
    RATE_WINDOW,
    ReplyFacts,
    ignore_reason,
    over_rate,
    rate_window_start,
    reply_refusal,
)
from gated.email.parse import parse_mail
from gated.email.threading import (
    base_subject,
    build_reply,
    header_value,
    is_our_message_id,
    our_message_id,
    reply_references,
    reply_subject,
    thread_root,
)
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("headers", "sender", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "bob@example.org", "auto-submitted:auto-replied"),
        ({"Auto_Submitted": "auto-generated; owner=x"}, "bob@example.org", "auto-submitted"),
        ({"Precedence": "bulk"}, "bob@example.org", "precedence:bulk"),
        ({"Precedence": "List"}, "bob@example.org", "precedence:list"),
        ({"Precedence": "junk"}, "bob@example.org", "precedence:junk"),
        ({"List_Id": "<news.example.org>"}, "bob@example.org", "mailing-list"),
        ({"X_Autoreply": "yes"}, "bob@example.org", "auto-reply"),
        ({}, ADDRESS.upper(), "own-address"),
        ({}, "MAILER-DAEMON@mx.example.org", "bounce"),
        ({}, "postmaster@example.org", "bounce"),
        ({"Return_Path": "<>"}, "bob@example.org", "bounce"),
        ({}, "not an address", "no-sender"),
    ],
)
def test_mail_that_must_never_be_answered(
    headers: dict[str, str], sender: str, reason: str
) -> None:
    got = ignore_reason(parse_mail(mail(sender=sender, **headers).as_bytes()), ADDRESS)
    assert got is not None
    assert got.startswith(reason)


def test_our_own_message_id_is_never_answered() -> None:
    mid = our_message_id("seed", "example.test")
    m = parse_mail(mail(sender="relay@example.org", msg_id=mid).as_bytes())
    assert ignore_reason(m, ADDRESS) == "own-message-id"


@pytest.mark.parametrize("headers", [{}, {"Auto_Submitted": "no"}, {"Precedence": "first-class"}])
def test_ordinary_mail_is_answered(headers: dict[str, str]) -> None:
    assert ignore_reason(parse_mail(mail(**headers).as_bytes()), ADDRESS) is None


def test_rate_limit() -> None:
    assert not over_rate(19, 20)
    assert over_rate(20, 20)
    assert over_rate(0, 0)


ANSWERABLE = ReplyFacts(
    chat_jid="email:bob@example.org",
    to_addr="bob@example.org",
    reply_to_id="<m1@example.org>",
    parent_ignored=False,
    ever_answerable=True,
    ever_automatic=False,
    sent_in_window=0,
)


def refusal(**changes: object) -> str | None:
    facts = replace(ANSWERABLE, **changes)
    return reply_refusal(facts, our_address=ADDRESS.upper(), replies_per_hour=2)


def test_an_ordinary_reply_may_be_sent() -> None:
    assert refusal() is None
    assert refusal(ever_automatic=True) is None  # an autoreply once, real mail too
    assert refusal(sent_in_window=1) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"chat_jid": f"email:{ADDRESS}", "to_addr": ADDRESS}, "is our own address"),
        ({"parent_ignored": True}, "'<m1@example.org>' is auto-submitted/bulk mail"),
        ({"to_addr": "mailer-daemon@example.org"}, "is a bounce address"),
        ({"to_addr": "postmaster@example.org"}, "is a bounce address"),
        ({"ever_answerable": False, "ever_automatic": True}, "only ever sent auto-submitted"),
        ({"sent_in_window": 2}, "rate limit: 2 replies per hour to bob@example.org reached"),
    ],
)
def test_replies_that_must_never_be_sent(changes: dict[str, object], reason: str) -> None:
    got = refusal(**changes)
    assert got is not None
    assert reason in got


def test_the_rate_window_is_the_hour_before_now() -> None:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert rate_window_start(now) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert now - rate_window_start(now) == RATE_WINDOW


def test_thread_root_prefers_references_then_in_reply_to() -> None:
    assert thread_root("<c>", "<b>", ["<a>", "<b>"]) == "<a>"
    assert thread_root("<c>", "<b>", []) == "<b>"
    assert thread_root("<c>", None, []) == "<c>"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Hello", "Re: Hello"),
        ("Re: Hello", "Re: Hello"),
        ("RE: re: Re:Hello", "Re: Hello"),
        ("Aw: Re[2]: Hello", "Re: Hello"),
        ("", "Re: your message"),
        ("Regarding the plan", "Re: Regarding the plan"),
    ],
)
def test_reply_subject_has_exactly_one_re(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected
    assert reply_subject(reply_subject(subject)) == expected


def test_reply_references_append_parent_dedupe_and_trim() -> None:
    assert reply_references(["<a>", "<b>"], "<c>") == ["<a>", "<b>", "<c>"]
    assert reply_references(["<a>", "<c>"], "<c>") == ["<a>", "<c>"]
    many = reply_references([f"<{i}>" for i in range(40)], "<p>")
    assert len(many) == 20
    assert many[0] == "<0>"
    assert many[-1] == "<p>"


def test_our_message_ids_are_stable_and_on_our_domain() -> None:
    mid = our_message_id("email:bob@x\0out:1", "example.test")
    assert mid == our_message_id("email:bob@x\0out:1", "example.test")
    assert mid != our_message_id("email:bob@x\0out:2", "example.test")
    assert mid.endswith("@example.test>")
    assert is_our_message_id(mid, "example.test")
    assert not is_our_message_id(mid, "other.test")
    assert not is_our_message_id("<m1@example.test>", "example.test")


def test_built_reply_carries_threading_and_auto_submitted() -> None:
    msg = build_reply(
        from_addr=ADDRESS,
        from_name="Switchboard",
        to_addr="bob@example.org",
        subject="Re: Plan",
        body="Answer",
        message_id="<switchboard.1@example.test>",
        in_reply_to="<b@x>",
        references=["<a@x>", "<b@x>"],
        date=datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert msg["To"] == "bob@example.org"
    assert msg["In-Reply-To"] == "<b@x>"
    assert msg["References"] == "<a@x> <b@x>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg.get_content() == "Answer\n"


@given(st.text(max_size=300))
def test_header_values_we_build_never_contain_line_breaks(value: str) -> None:
    cleaned = header_value(value)
    assert "\r" not in cleaned
    assert "\n" not in cleaned
    assert all(ord(c) >= 32 and ord(c) != 127 for c in cleaned)
    subject = reply_subject(value)
    assert "\n" not in subject
    assert subject.startswith("Re: ")
    assert base_subject(subject) == base_subject(value) or not base_subject(value)


@given(st.text(max_size=100), st.text(max_size=100))
def test_injection_attempts_do_not_add_headers(subject: str, ref: str) -> None:
    msg = build_reply(
        from_addr=ADDRESS,
        from_name="Switchboard",
        to_addr="bob@example.org",
        subject=f"{subject}\r\nBcc: victim@example.org",
        body="x",
        message_id="<switchboard.1@example.test>",
        in_reply_to=f"<{ref}>\nBcc: victim@example.org",
        references=[f"<{ref}>\r\nX-Evil: 1"],
        date=datetime(2026, 11, 23, tzinfo=UTC),
    )
    raw = msg.as_bytes()
    assert b"\nBcc:" not in raw
    assert b"\nX-Evil:" not in raw


def test_long_message_ids_stay_plain_in_reply_headers() -> None:
    long_id = f"<{'x' * 200}@example.org>"  # over 78 columns, under our 250 cap
    msg = build_reply(
        from_addr=ADDRESS,
        from_name="Switchboard",
        to_addr="bob@example.org",
        subject="Re: x",
        body="x",
        message_id="<switchboard.1@example.test>",
        in_reply_to=long_id,
        references=[long_id],
        date=datetime(2026, 11, 23, tzinfo=UTC),
    )
    raw = msg.as_bytes()
    assert b"=?" not in raw
    assert parse_mail(raw).in_reply_to == long_id


def test_encoded_references_are_still_read() -> None:
    refs = " ".join(f"<{'r' * 200}{i}@example.org>" for i in range(3))
    raw = mail(msg_id="<e@x>", References=refs).as_bytes()
    assert b"=?utf-8?q?" in raw  # Python's generator encoded the long tokens
    assert parse_mail(raw).references[0] == f"<{'r' * 200}0@example.org>"
