"""split_message: parts fit the limit, prefer paragraph > sentence > word, lose only whitespace."""

from __future__ import annotations

import pytest
from gated.split import split_message
from hypothesis import given, settings
from hypothesis import strategies as st

TEXT = st.lists(
    st.sampled_from([*"ab .!?\n\t\"')é😀", "word ", "\n\n", " \n ", "Done. "]), max_size=120
).map("".join)


def rejoin_ok(text: str, parts: list[str], limit: int) -> bool:
    """text == whitespace + parts joined with (possibly empty) whitespace runs + whitespace."""
    if len(text) <= limit:
        return parts == [text]
    if not text.strip():
        return parts == [""]
    pos = 0
    for part in parts:
        if not part or part[0].isspace():
            return False
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if not text.startswith(part, pos):
            return False
        pos += len(part)
    return not text[pos:].strip()


@settings(max_examples=600, deadline=None)
@given(text=TEXT, limit=st.integers(min_value=1, max_value=120))
def test_parts_fit_and_rejoin_loses_only_split_whitespace(text: str, limit: int) -> None:
    parts = split_message(text, limit)
    assert parts
    assert all(len(p) <= limit for p in parts)
    assert rejoin_ok(text, parts, limit)
    # Non-whitespace characters are all kept, in order.
    assert "".join("".join(parts).split()) == "".join(text.split())


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300), limit=st.integers(min_value=1, max_value=50))
def test_any_unicode_text_splits_safely(text: str, limit: int) -> None:
    parts = split_message(text, limit)
    assert all(len(p) <= limit for p in parts)
    assert rejoin_ok(text, parts, limit)


@given(text=st.text(max_size=50))
def test_text_that_fits_is_one_part(text: str) -> None:
    assert split_message(text, 50) == [text]


def test_prefers_paragraph_boundary() -> None:
    text = "First paragraph. It has two sentences.\n\nSecond paragraph here."
    assert split_message(text, 50) == [
        "First paragraph. It has two sentences.",
        "Second paragraph here.",
    ]


def test_then_sentence_boundary() -> None:
    text = "One sentence is here. Another one follows it and is long."
    assert split_message(text, 40) == [
        "One sentence is here.",
        "Another one follows it and is long.",
    ]


def test_then_word_boundary() -> None:
    assert split_message("alpha beta gamma delta", 12) == ["alpha beta", "gamma delta"]


def test_hard_cut_when_no_boundary() -> None:
    assert split_message("x" * 10, 4) == ["xxxx", "xxxx", "xx"]


def test_early_paragraph_break_is_not_used_for_a_tiny_part() -> None:
    text = "Hi.\n\n" + "word " * 30
    parts = split_message(text, 60)
    assert len(parts[0]) > 30


def test_bad_limit_is_rejected() -> None:
    with pytest.raises(ValueError, match="limit"):
        split_message("abc", 0)
