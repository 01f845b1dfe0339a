"""Route matching: which group folder answers a message (pure; no I/O).

A chat's routes are tried in `seq` order; the first that matches names the target folder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from store import Route

# `/name`, optionally `/name@botname`, then whitespace or the end of the text.
COMMAND_RE = re.compile(r"^\s*/([A-Za-z0-9_][\w-]*)(?:@\S+)?(?=\s|$)")


class Routable(Protocol):
    """The parts of a message routing looks at."""

    @property
    def content(self) -> str: ...
    @property
    def verb(self) -> str: ...
    @property
    def sender(self) -> str: ...


@lru_cache(maxsize=512)
def _compiled(pattern: str, flags: int = 0) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, flags)
    except re.error:
        return None


def _word_re(word: str) -> re.Pattern[str] | None:
    # (?<!\w)/(?!\w) instead of \b so a keyword that starts or ends with punctuation still works.
    return _compiled(rf"(?<!\w){re.escape(word.strip())}(?!\w)", re.IGNORECASE)


def contains_word(text: str, word: str) -> bool:
    """True when `word` occurs in `text` as a whole word, ignoring case."""
    if not word.strip():
        return False
    rx = _word_re(word)
    return rx is not None and rx.search(text) is not None


def command_name(text: str) -> str | None:
    """`name` of a message that starts with `/name` (lower-case, `@bot` suffix dropped)."""
    m = COMMAND_RE.match(text)
    return m.group(1).lower() if m else None


def matches(route: Route, msg: Routable) -> bool:
    """Whether one route matches a message."""
    kind, match = route.type, route.match
    if kind == "default":
        return True
    if kind == "command":
        return command_name(msg.content) == match.lstrip("/").lower()
    if kind == "verb":
        return msg.verb == match
    if kind == "pattern":
        rx = _compiled(match)
        return rx is not None and rx.search(msg.content) is not None
    if kind == "keyword":
        return contains_word(msg.content, match)
    if kind == "sender":
        return msg.sender.casefold() == match.casefold()
    return False


def route(msg: Routable, routes: Sequence[Route], default_folder: str) -> str:
    """The target folder of the first matching route by seq; none → `default_folder`."""
    for r in sorted(routes, key=lambda r: r.seq):
        if matches(r, msg):
            return r.target
    return default_folder
