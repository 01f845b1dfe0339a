"""Parsing real-world mail shapes into sane prompt text, and never crashing on any bytes."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from email_testkit import mail
from gated.email.htmltext import html_to_text
from gated.email.parse import parse_mail, strip_quotes
from hypothesis import given, settings
from hypothesis import strategies as st

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_multipart_alternative_prefers_plain_decodes_qp_and_encoded_words() -> None:
    m = parse_mail(fixture("multipart_alternative.eml"))
    assert m.message_id == "<alt-1@example.de>"
    assert m.from_addr == "juergen@example.de"  # lower-cased
    assert m.from_name == "Jürgen Müller"
    assert m.subject == "Grüße aus München"
    assert m.text == "Hallo, wie spät ist es?"  # German attribution + quote stripped
    assert "Vorherige Nachricht" in m.full_body  # ... but kept in the full body
    assert m.attachments == ()
    assert m.chat_jid == "email:juergen@example.de"


def test_html_only_base64_latin1_renders_text_without_script_style_or_quote() -> None:
    m = parse_mail(fixture("html_only_base64.eml"))
    assert m.text == "Café tonight?\n\nBring the map."
    assert "alert" not in m.full_body
    assert "color" not in m.full_body
    assert "old stuff" in m.full_body


def test_non_utf8_charset_without_message_id_gets_a_stable_synthesized_id() -> None:
    raw = fixture("iso2022jp_no_message_id.eml")
    m = parse_mail(raw)
    assert m.synthesized_id
    assert m.message_id.startswith("<")
    assert m.message_id.endswith("@synthesized.switchboard.invalid>")
    assert parse_mail(raw).message_id == m.message_id
    # Trace headers added by a relay do not change it.
    assert parse_mail(b"Received: from relay\r\nReturn-Path: <x@y.z>\r\n" + raw).message_id == (
        m.message_id
    )
    assert m.from_name == "山田"
    assert m.subject == "こんにちは"
    assert m.text == "こんにちは世界"


def test_koi8r_body_signature_stripped_and_attachment_recorded() -> None:
    m = parse_mail(fixture("koi8r_with_attachment.eml"))
    assert m.subject == "Привет"
    assert m.text == "Привет, мир"
    assert m.full_body.endswith("Ivan")
    assert [(a.name, a.type, a.size) for a in m.attachments] == [
        ("report.pdf", "application/pdf", 19)
    ]


def test_threading_headers_are_read() -> None:
    m = parse_mail(
        mail(
            msg_id="<c@x>",
            In_Reply_To="<b@x>",
            References="<a@x> <b@x>",
        ).as_bytes()
    )
    assert m.in_reply_to == "<b@x>"
    assert m.references == ("<a@x>", "<b@x>")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Yes please.\n\nOn Mon, 23 Nov 2026, Agent <a@x> wrote:\n> old\n> older", "Yes please."),
        ("Sure\n\nOn Mon, 23 Nov 2026 at 10:00, Agent Smith\n<a@x> wrote:\n> old", "Sure"),
        ("Top\n\n-----Original Message-----\nFrom: a\nold", "Top"),
        ("Reply\n\nFrom: Agent <a@x>\nSent: Monday\nTo: me\nSubject: hi\n\nold", "Reply"),
        ("> quoted\nmy answer\n> more quote\nsecond line", "my answer\nsecond line"),
        ("Thanks\n-- \nBob\nCEO", "Thanks"),
        ("Thanks\n\nSent from my iPhone", "Thanks"),
        ("> only a quote", "> only a quote"),  # nothing new: keep the whole body
    ],
)
def test_quoted_history_and_signatures_are_stripped(body: str, expected: str) -> None:
    assert strip_quotes(body) == expected


def test_html_rendering_handles_broken_markup() -> None:
    assert html_to_text("<p>one<p>two</div></span><br>three") == "one\ntwo\nthree"
    assert html_to_text("<blockquote>q</blockquote>new") == "> q\n\nnew"
    assert html_to_text("") == ""


def test_mail_with_only_an_attachment_has_empty_text() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["Message-ID"] = "<att@x>"
    msg.add_attachment(b"\x89PNG...", maintype="image", subtype="png", filename="pic.png")
    m = parse_mail(msg.as_bytes())
    assert m.text == ""
    assert [(a.name, a.type) for a in m.attachments] == [("pic.png", "image/png")]


def test_header_values_never_carry_control_characters() -> None:
    raw = (
        b"From: Eve\x07 <eve@example.org>\r\nSubject: =?utf-8?q?a=0D=0AB?=\r\n"
        b"Message-ID: <e@x>\r\n\r\nhi\r\n"
    )
    m = parse_mail(raw)
    assert "\r" not in m.subject
    assert "\n" not in m.subject
    assert all(ord(c) >= 32 for c in m.from_name)


def _check_total(m_raw: bytes) -> None:
    m = parse_mail(m_raw)
    for value in (m.message_id, m.subject, m.from_addr, m.from_name, *m.references):
        assert all(ord(c) >= 32 and ord(c) != 127 for c in value), value
        value.encode("utf-8")  # storable: valid Unicode, no lone surrogates
    m.text.encode("utf-8")
    m.full_body.encode("utf-8")
    assert m.message_id.startswith("<")
    assert m.message_id.endswith(">")
    assert len(m.message_id) <= 512


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_parse_without_crashing(raw: bytes) -> None:
    _check_total(raw)


HEADER_NAMES = st.sampled_from(
    ["From", "To", "Subject", "Message-ID", "References", "In-Reply-To", "Content-Type",
     "Content-Transfer-Encoding", "Date", "Auto-Submitted", "Return-Path"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(HEADER_NAMES, st.binary(max_size=80)), max_size=8),
    st.binary(max_size=500),
)
def test_mail_shaped_bytes_parse_without_crashing(
    headers: list[tuple[str, bytes]], body: bytes
) -> None:
    raw = b"".join(n.encode() + b": " + v.replace(b"\n", b" ") + b"\r\n" for n, v in headers)
    _check_total(raw + b"\r\n" + body)


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("<>/=\"' abcpdivbrqulotescriptstyle&;#x\n")), max_size=300
    )
)
def test_html_rendering_never_crashes(markup: str) -> None:
    html_to_text(markup).encode("utf-8")
