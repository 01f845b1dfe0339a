"""Splitting a long outbound message into parts no longer than a channel's limit, breaking on
paragraph, then sentence, then word boundaries; the whitespace at a break is dropped. A part
may also have to fit once formatted for the platform (`split_to_fit`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

DEFAULT_MAX_CHARS: Final = 4000
# A sentence ends with . ! ? (and maybe closing quotes/brackets) followed by whitespace,
# or at a line break.
SENTENCE_END_RE: Final = re.compile(r"[.!?…][\"')\]»”’]*(?=\s)|(?=\n)")
PARAGRAPH_RE: Final = re.compile(r"\n[ \t]*\n")
WHITESPACE_RE: Final = re.compile(r"\s")


def split_message(text: str, limit: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Parts of `text`, each at most `limit` characters, in order.

    Joining the parts back with the whitespace dropped at each break gives `text` again; a part
    never starts with whitespace. A text that fits is returned unchanged as one part (a
    too-long text of only whitespace gives `[""]`).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    parts: list[str] = []
    # Leading whitespace of a text that must be split counts as split whitespace.
    rest = text.lstrip() if len(text) > limit else text
    while len(rest) > limit:
        cut, resume = _break_point(rest, limit)
        parts.append(rest[:cut])
        rest = rest[resume:]
    if rest or not parts:
        parts.append(rest)
    return parts


def split_to_fit(text: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    """Parts of `text`, cut as `split_message` cuts, each with `measure(part) <= limit` (its
    length once formatted: escapes and tags make it longer than the part). The cut length
    shrinks until every part fits; a part of one character always fits a limit of 50."""
    cut = limit
    while True:
        parts = split_message(text, cut)
        worst = max(measure(p) for p in parts)
        if worst <= limit or cut == 1:
            return parts
        cut = max(1, min(cut - 1, cut * limit // worst))


def _break_point(text: str, limit: int) -> tuple[int, int]:
    """Where to end this part (cut) and where the next part starts (resume)."""
    window = text[: limit + 1]
    # Prefer a break late enough that parts stay reasonably full.
    floor = limit // 2
    for finder in (_last_paragraph_break, _last_sentence_break):
        cut = finder(window, limit)
        if cut is not None and cut > floor:
            return cut, _skip_space(text, cut)
    cut = _last_word_break(window, limit)
    if cut is not None:
        return cut, _skip_space(text, cut)
    return limit, limit


def _trimmed_end(text: str, end: int) -> int:
    """`end` moved left past trailing whitespace."""
    while end > 0 and text[end - 1].isspace():
        end -= 1
    return end


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _last_paragraph_break(window: str, limit: int) -> int | None:
    best = None
    for m in PARAGRAPH_RE.finditer(window):
        cut = _trimmed_end(window, m.start())
        if 0 < cut <= limit:
            best = cut
    return best


def _last_sentence_break(window: str, limit: int) -> int | None:
    best = None
    for m in SENTENCE_END_RE.finditer(window):
        # The break must be followed by whitespace inside the window so the split drops only it.
        if m.end() >= len(window) or not window[m.end()].isspace():
            continue
        cut = _trimmed_end(window, m.end())
        if 0 < cut <= limit:
            best = cut
    return best


def _last_word_break(window: str, limit: int) -> int | None:
    best = None
    for m in WHITESPACE_RE.finditer(window):
        cut = _trimmed_end(window, m.start())
        if 0 < cut <= limit:
            best = cut
    return best
