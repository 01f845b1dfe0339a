"""Property tests of the store's validators: every valid jid/folder is accepted, every
malformed one rejected with InvalidInput naming the field."""

from __future__ import annotations

import re
import string
import sys
import unicodedata

import pytest
import store
from hypothesis import given
from hypothesis import strategies as st
from store import validate

CHANNEL_FIRST = string.ascii_lowercase
CHANNEL_REST = string.ascii_lowercase + string.digits + "_-"
SLUG = string.ascii_lowercase + string.digits + "_-"
CONTROL = [chr(c) for c in range(32)] + ["\x7f"]

channels = st.builds(
    lambda a, b: a + b, st.sampled_from(CHANNEL_FIRST), st.text(CHANNEL_REST, max_size=31)
)
# The id part: any printable character except whitespace (colons and @ included) and the
# invisible format characters (Cf: zero-width, bidi controls), refused since issue 13.
jid_ids = st.text(
    st.characters(
        blacklist_categories=["Cs", "Cc", "Cf", "Zs", "Zl", "Zp"], blacklist_characters="\x85\xa0"
    ),
    min_size=1,
    max_size=255,
).filter(lambda s: not any(c.isspace() for c in s))
valid_jids = st.builds(lambda c, i: f"{c}:{i}", channels, jid_ids)
valid_folders = st.builds(
    lambda a, b: a + b,
    st.sampled_from(string.ascii_lowercase + string.digits),
    st.text(SLUG, max_size=63),
)


@given(valid_jids)
def test_every_well_formed_jid_is_accepted(value: str) -> None:
    assert validate.jid(value) == value
    assert validate.channel_of(value) == value.split(":", 1)[0]


@given(channels, jid_ids, st.sampled_from([" ", "\t", "\n", "\x00", "\x1b", "\x7f"]))
def test_jid_with_whitespace_or_control_char_is_rejected(
    channel: str, ident: str, bad: str
) -> None:
    for value in (f"{channel}:{bad}{ident}", f"{channel}:{ident}{bad}"):
        with pytest.raises(store.InvalidInput) as err:
            validate.jid(value, "jid")
        assert err.value.field == "jid"


@given(jid_ids)
def test_jid_without_a_channel_is_rejected(ident: str) -> None:
    for value in (ident.replace(":", ""), f":{ident}"):
        with pytest.raises(store.InvalidInput):
            validate.jid(value)


@given(channels, jid_ids)
def test_jid_with_bad_channel_or_oversized_id_is_rejected(channel: str, ident: str) -> None:
    for value in (
        f"{channel.upper()}X:{ident}",  # upper case
        f"1{channel}:{ident}",  # starts with a digit
        f"{channel}{'x' * 32}:{ident}",  # channel over 32 characters
        f"{channel}:{ident}{'x' * 256}",  # id over 255 characters
        f"{channel}:",  # empty id
    ):
        with pytest.raises(store.InvalidInput):
            validate.jid(value)


@pytest.mark.parametrize("value", ["", None, 42, b"web:x"])
def test_jid_that_is_not_a_non_empty_string_is_rejected(value: object) -> None:
    with pytest.raises(store.InvalidInput, match="chat_jid"):
        validate.jid(value)


@given(valid_folders)
def test_every_safe_slug_is_a_valid_folder(value: str) -> None:
    assert validate.folder(value) == value


@given(valid_folders, st.sampled_from(["..", "/", "\\", ".", " ", "\x00", "\n", "A", "é", ":"]))
def test_folder_with_an_unsafe_character_is_rejected(value: str, bad: str) -> None:
    for candidate in (bad + value, value + bad, value[:1] + bad + value[1:]):
        with pytest.raises(store.InvalidInput) as err:
            validate.folder(candidate, "target")
        assert err.value.field == "target"


@pytest.mark.parametrize(
    "value", ["", "..", ".hidden", "-dash", "_under", "a/b", "../etc", "x" * 65, None, 3]
)
def test_malformed_folders_are_rejected(value: object) -> None:
    with pytest.raises(store.InvalidInput, match="folder"):
        validate.folder(value)


@given(st.text(min_size=1, max_size=2000).filter(lambda s: s.strip() and "\x00" not in s))
def test_non_blank_content_within_the_limit_is_accepted(value: str) -> None:
    assert validate.content(value) == value


@given(st.text(max_size=50), st.text(max_size=50))
def test_content_with_a_nul_is_rejected_on_every_backend(before: str, after: str) -> None:
    with pytest.raises(store.InvalidInput, match="content: contains a NUL character"):
        validate.content(f"x{before}\x00{after}")


@given(st.text(st.sampled_from(" \t\r\n\u00a0\u2003"), max_size=50))
def test_blank_content_is_rejected(value: str) -> None:
    with pytest.raises(store.InvalidInput, match="content: must not be empty"):
        validate.content(value)


@given(st.integers(min_value=1, max_value=5000))
def test_content_over_the_byte_limit_is_rejected(extra: int) -> None:
    with pytest.raises(store.InvalidInput, match="limit"):
        validate.content("€" * ((validate.MAX_CONTENT_BYTES + extra) // 3 + 1))


@given(
    st.text(max_size=validate.MAX_SHORT_TEXT).filter(lambda s: not validate.CONTROL_RE.search(s))
)
def test_short_text_without_controls_is_accepted(value: str) -> None:
    assert validate.short_text(value, "name") == value


@given(st.text(max_size=100), st.sampled_from(CONTROL), st.text(max_size=100))
def test_short_text_with_a_control_character_is_rejected(a: str, c: str, b: str) -> None:
    with pytest.raises(store.InvalidInput, match="name: must not contain control"):
        validate.short_text(a + c + b, "name")


def test_short_text_limits() -> None:
    with pytest.raises(store.InvalidInput, match="limit is 512"):
        validate.short_text("x" * 513, "id")
    with pytest.raises(store.InvalidInput, match="id: must not be empty"):
        validate.short_text("", "id", allow_empty=False)
    with pytest.raises(store.InvalidInput, match="id: must be a string"):
        validate.short_text(5, "id")


@given(st.sampled_from(validate.ROUTE_TYPES))
def test_every_known_route_type_is_accepted(kind: str) -> None:
    assert validate.route_type(kind) == kind


@given(st.text(max_size=20).filter(lambda s: s not in validate.ROUTE_TYPES))
def test_unknown_route_type_is_rejected(kind: str) -> None:
    with pytest.raises(store.InvalidInput, match="type: unknown route type"):
        validate.route_type(kind)


@given(st.sampled_from([t for t in validate.ROUTE_TYPES if t != "default"]))
def test_route_other_than_default_needs_a_match(kind: validate.RouteType) -> None:
    with pytest.raises(store.InvalidInput, match=r"match: a .* route needs a match"):
        validate.route_match(kind, "")
    assert validate.route_match("default", None) == ""


@pytest.mark.parametrize("pattern", ["(", "[a-", "*x", "a{2,1}", "(?P<n>x)(?P<n>y)"])
def test_pattern_route_with_a_bad_regex_is_rejected(pattern: str) -> None:
    with pytest.raises(store.InvalidInput, match="match: bad regular expression"):
        validate.route_match("pattern", pattern)


@given(st.from_regex(r"[a-z]{1,5}(\|[a-z]{1,5}){0,3}", fullmatch=True))
def test_pattern_route_with_a_good_regex_is_accepted(pattern: str) -> None:
    assert validate.route_match("pattern", pattern) == pattern


# C1 controls (terminal escapes such as U+009B CSI), bidi overrides/isolates, line separators.
UNSAFE_IN_TEXT = ["\x85", "\x9b", "\x80", "\x9f", "\u202e", "\u202a", "\u2066", "\u2069"]
UNSAFE_IN_TEXT += ["\u2028", "\u2029", "\x1b", "\x00", "\n"]
# Invisible format characters: zero-width space/joiners, word joiner, BOM, soft hyphen, a tag.
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\xad", "\U000e0041"]


def test_the_unsafe_character_lists_match_unicodedata() -> None:
    """Every Cc and Cf code point of this Python's Unicode is refused in identifiers, and
    nothing else is besides the line/paragraph separators."""
    refused = re.compile(f"[{validate.UNSAFE_TEXT_CHARS}{validate.FORMAT_CHARS}]")
    for cp in range(sys.maxunicode + 1):
        char = chr(cp)
        category = unicodedata.category(char)
        expected = category in ("Cc", "Cf", "Zl", "Zp")
        assert bool(refused.fullmatch(char)) == expected, (hex(cp), category)


@given(channels, jid_ids, st.sampled_from(UNSAFE_IN_TEXT + INVISIBLE))
def test_jid_with_c1_bidi_or_zero_width_characters_is_rejected(
    channel: str, ident: str, bad: str
) -> None:
    for value in (f"{channel}:{bad}{ident}", f"{channel}:{ident}{bad}", f"{channel}:{bad}"):
        with pytest.raises(store.InvalidInput, match="malformed jid"):
            validate.jid(value)


@pytest.mark.parametrize("bad", UNSAFE_IN_TEXT)
def test_short_text_refuses_c1_controls_bidi_overrides_and_separators(bad: str) -> None:
    with pytest.raises(store.InvalidInput, match="name: must not contain control"):
        validate.short_text(f"Ann{bad}ie", "name")


@pytest.mark.parametrize("bad", INVISIBLE)
def test_identifiers_refuse_invisible_characters_but_names_keep_them(bad: str) -> None:
    with pytest.raises(store.InvalidInput, match="sender: must not contain invisible"):
        validate.identifier(f"ann{bad}", "sender")
    assert validate.short_text(f"Ann{bad}", "sender_name") == f"Ann{bad}"


def test_a_family_emoji_is_a_fine_display_name() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert validate.short_text(family, "sender_name") == family


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (validate.jid, "web:demo\n"),
        (validate.folder, "demo\n"),
        (lambda v: validate.identifier(v, "id"), "m1\n"),
    ],
)
def test_a_trailing_newline_never_passes(check: object, value: str) -> None:
    with pytest.raises(store.InvalidInput):
        check(value)  # type: ignore[operator]
