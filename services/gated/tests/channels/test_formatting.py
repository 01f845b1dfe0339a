"""Agent Markdown written for each platform's markup, and attacked: Telegram output is always
valid MarkdownV2 (checked by a MarkdownV2 reader written from Telegram's rules), Matrix HTML
holds only the tags and link schemes gated writes, Discord mass and role mentions never ping,
Slack control sequences stay text."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from gated.formatting import (
    FORMATS,
    TELEGRAM_RESERVED,
    ZWSP,
    Formatted,
    format_reply,
    neutralise_mentions,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_v2_reader import MarkdownV2Error, read_markdown_v2

REPLY = """# Plan

Here is **bold**, *italic*, _also italic_, `a_b*c`, and [the docs](https://example.com/a_(b)).

- first
- second

1. one
2. two

> quoted

```python
print("`hi`")
```"""

MARKDOWN_CHARS = list("_*[]()~`>#+-=|{}.!\\<>&@\n :/ahjs1")
# Markdown's building blocks run together at random: nested lists, quotes, fences, links.
PIECES = [
    "- ", "> ", "1. ", "# ", "```", "`", "**", "*", "_", "[", "](", ")", "<", ">", "http://a.b",
    "javascript:x", "\n", "\n\n", "  ", "    ", "text", ".", "!", "\\", "@everyone", "---",
    "<script>", "&amp;",
]  # fmt: skip
markdownish = st.text(
    alphabet=st.sampled_from(MARKDOWN_CHARS) | st.characters(codec="utf-8"), max_size=300
) | st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


def test_the_markdownv2_reader_refuses_what_telegram_refuses() -> None:
    for bad in ["1.5", "a-b", "*bold", "_a__b_", "`x", "[x](y", "*a _b* c_", "*`x`*", "a\\"]:
        with pytest.raises(MarkdownV2Error):
            read_markdown_v2(bad)
    assert read_markdown_v2("*b* _i_\r_j_ `c\\`` [t](http://x/\\))") == "b ij c` t"


def telegram(markdown: str) -> str:
    return format_reply(markdown, "telegram_markdown_v2").text


def test_telegram_gets_its_entities_and_every_reserved_character_escaped() -> None:
    out = telegram(REPLY)
    read_markdown_v2(out)
    assert out.startswith("*Plan*\n\nHere is *bold*, _italic_, _also italic_, `a_b*c`, ")
    assert "[the docs](https://example.com/a_(b\\))" in out
    assert "• first\n• second" in out
    assert "1\\. one\n2\\. two" in out
    assert ">quoted" in out
    assert '```python\nprint("\\`hi\\`")\n```' in out


def test_every_reserved_character_in_text_is_escaped_and_shown_as_written() -> None:
    text = "".join(sorted(TELEGRAM_RESERVED - set("`*_[\\")))  # these would be Markdown
    out = telegram(f"price 1.5! {text} end")
    assert read_markdown_v2(out) == f"price 1.5! {text} end"
    assert out.count("\\") == len(text) + 2


def test_backticks_and_backslashes_inside_telegram_code_are_escaped() -> None:
    out = telegram("`` a`b\\c ``\n\n```\n\\`x`\n```")
    read_markdown_v2(out)
    assert out == "`a\\`b\\\\c`\n\n```\n\\\\\\`x\\`\n```"


def test_code_inside_bold_or_a_link_is_escaped_text_for_telegram() -> None:
    out = telegram("**see `x.y`** and [`cmd`](https://e.com) and > `q`")
    assert read_markdown_v2(out) == "see x.y and cmd and > q"


def test_two_italics_side_by_side_do_not_read_as_underline() -> None:
    out = telegram("*a*_b_ and *x **y** z*")
    assert "_a_\r_b_" in out
    read_markdown_v2(out)


def test_a_hostile_link_is_not_a_telegram_link() -> None:
    out = telegram("[click](javascript:alert(1)) [x](tg://resolve?domain=a)")
    assert read_markdown_v2(out) == "[click](javascript:alert(1)) x"


@pytest.mark.parametrize(
    "markdown",
    [
        "- a\n\n  > quoted in a list",
        "> - a list\n> - in a quote",
        "- x\n\n  ```\n  code in a list\n  ```",
        "> ---\n> # heading in a quote",
        "> ```\n> pre in a quote\n> ```",
        "![alt](http://x/y.png) [](http://x) <http://a.b> <me@x.org>",
        "***x*** **a *b* c** *a* *b* 1) a",
        "1. a\n   > b\n2. c",
        "x\\\n",
    ],
)
def test_nested_blocks_are_valid_markdownv2(markdown: str) -> None:
    read_markdown_v2(telegram(markdown))


@settings(max_examples=300, deadline=None)
@given(markdownish)
def test_any_reply_is_valid_markdownv2(markdown: str) -> None:
    read_markdown_v2(telegram(markdown))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("_*[]()~`{}=|.!\\ab1")), max_size=80))
def test_telegram_shows_the_same_text_as_the_plain_fallback(markdown: str) -> None:
    # No spaces, newlines or ':', and a letter first: no blocks and no link kept, only inline
    # markup and text.
    formatted = format_reply("a" + markdown, "telegram_markdown_v2")
    assert read_markdown_v2(formatted.text).replace("\r", "") == formatted.plain


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


MATRIX_TAGS = {"p", "br", "b", "i", "code", "pre", "a", "blockquote", "ul", "ol", "li"}


def matrix_tags(markdown: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = Tags()
    parser.feed(format_reply(markdown, "matrix_html").text)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in MATRIX_TAGS, tag
        for name, value in attrs:
            assert (tag, name) in {("a", "href"), ("ol", "start")}, (tag, name)
            if name == "href":
                assert urlsplit(value or "").scheme in {"http", "https", "mailto"}, value
    return parser.tags


def test_matrix_html_writes_the_reply_with_its_own_tags() -> None:
    out = format_reply(REPLY, "matrix_html").text
    assert "<p><b>Plan</b></p>" in out
    assert "<b>bold</b>, <i>italic</i>, <i>also italic</i>, <code>a_b*c</code>" in out
    assert '<a href="https://example.com/a_(b)">the docs</a>' in out
    assert "<ul><li>first</li><li>second</li></ul>" in out
    assert "<blockquote><p>quoted</p></blockquote>" in out
    assert "<pre><code>print(&quot;`hi`&quot;)</code></pre>" in out
    matrix_tags(REPLY)


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "[x](javascript:alert(1))",
        "[x](JavaScript:alert(1))",
        "[x](java\tscript:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](vbscript:msgbox)",
        '[x](https://e.com/"onmouseover="alert(1))',
        "<javascript:alert(1)>",
        "```\n</code></pre><script>alert(1)</script>\n```",
        "`</code><script>`",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "> <iframe src=//evil>",
        "- <style>*{}</style>",
    ],
)
def test_hostile_html_and_links_come_out_inert_in_matrix_html(attack: str) -> None:
    tags = matrix_tags(attack)  # only gated's tags; every href http(s) or mailto
    out = format_reply(attack, "matrix_html").text
    for tag in ("<script", "<img", "<iframe", "<style"):
        assert tag not in out
    assert all(tag != "a" for tag, _ in tags) or "onmouseover" in attack


@settings(max_examples=300, deadline=None)
@given(markdownish)
def test_any_reply_is_matrix_html_with_only_safe_tags_and_links(markdown: str) -> None:
    matrix_tags(markdown)


def test_slack_gets_mrkdwn_and_its_control_sequences_stay_text() -> None:
    out = format_reply(REPLY, "slack_mrkdwn").text
    assert "*Plan*" in out
    assert "*bold*, _italic_, _also italic_, `a_b*c`" in out
    assert "<https://example.com/a_(b)|the docs>" in out
    hostile = format_reply("<!channel> <@U123> a & b [x](javascript:alert(1))", "slack_mrkdwn")
    assert hostile.text == "&lt;!channel&gt; &lt;@U123&gt; a &amp; b [x](javascript:alert(1))"
    assert "<" not in hostile.text


def test_a_slack_link_target_cannot_break_out_of_its_brackets() -> None:
    out = format_reply("[x](https://e.com/a|b>c&d)", "slack_mrkdwn").text
    target, _, label = out.removeprefix("<").removesuffix(">").partition("|")
    assert (">" in target, "|" in target, label) == (False, False, "x")


@pytest.mark.parametrize(
    "ping", ["@everyone", "@here", "<@123456>", "<@!123456>", "<@&987654>", "hi @everyone!"]
)
def test_discord_mass_user_and_role_mentions_never_ping(ping: str) -> None:
    formatted = format_reply(f"**note** {ping}", "discord_markdown")
    for text in (formatted.text, formatted.plain):
        for pinging in ("@everyone", "@here", "<@1", "<@!", "<@&"):
            assert pinging not in text
        assert text.replace(ZWSP, "").endswith(ping)
    assert formatted.text.startswith("**note** ")  # the rest passes through


def test_discord_text_without_mentions_is_passed_through() -> None:
    assert format_reply(REPLY, "discord_markdown").text == REPLY
    assert neutralise_mentions("mail me at a@example.com") == "mail me at a@example.com"


def test_plain_removes_the_markup() -> None:
    plain = format_reply(REPLY, "plain")
    assert plain.text == plain.plain
    assert plain.text.startswith("Plan\n\nHere is bold, italic, also italic, a_b*c, ")
    assert "the docs (https://example.com/a_(b))" in plain.text
    assert "- first\n- second\n\n1. one\n2. two\n\n> quoted" in plain.text
    assert plain.text.endswith('print("`hi`")')


def test_markdown_is_sent_as_written_with_a_plain_fallback() -> None:
    assert format_reply(REPLY, "markdown") == Formatted(REPLY, format_reply(REPLY, "plain").text)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_writes_an_empty_or_blank_reply_without_error(fmt: str) -> None:
    for text in ("", "   ", "\n\n"):
        format_reply(text, fmt)  # type: ignore[arg-type]
