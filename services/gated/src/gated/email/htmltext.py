"""A plain-text rendering of an HTML mail body (stdlib `html.parser`): blocks become lines,
quoted blocks (`<blockquote>`, Gmail/Outlook quote containers) get a `> ` prefix."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Final

SKIP_TAGS: Final = frozenset({"script", "style", "head", "title", "template"})
BLOCK_TAGS: Final = frozenset(
    {
        "p", "div", "br", "li", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5",
        "h6", "pre", "hr", "section", "article", "header", "footer", "blockquote", "dd", "dt",
    }
)  # fmt: skip
# Containers that mail clients put the quoted history in.
QUOTE_CLASSES: Final = ("gmail_quote", "moz-cite-prefix", "yahoo_quoted", "protonmail_quote")
VOID_TAGS: Final = frozenset({"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area"})


class _TextRenderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (quote depth, text)
        self.current: list[str] = []
        self.skip_depth = 0
        self.stack: list[tuple[str, bool]] = []  # (tag, opened a quote)
        self.quote_depth = 0
        self.pre_depth = 0

    def _flush(self) -> None:
        text = "".join(self.current)
        if self.pre_depth == 0:
            text = re.sub(r"[ \t\r\n\f\v]+", " ", text).strip()
        self.lines.append((self.quote_depth, text))
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP_TAGS:
            self.skip_depth += 1
            return
        if tag in BLOCK_TAGS:
            self._flush()
        if tag in VOID_TAGS:
            return
        classes = " ".join(v or "" for k, v in attrs if k == "class")
        quote = tag == "blockquote" or any(c in classes for c in QUOTE_CLASSES)
        if quote:
            self.quote_depth += 1
        if tag == "pre":
            self.pre_depth += 1
        self.stack.append((tag, quote))

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag in VOID_TAGS or not any(t == tag for t, _ in self.stack):
            return
        if tag in BLOCK_TAGS:
            self._flush()
        while self.stack:
            open_tag, quote = self.stack.pop()
            if quote:
                self._flush()
                self.quote_depth = max(0, self.quote_depth - 1)
            if open_tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.skip_depth == 0:
            self.current.append(data)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML document; never raises on malformed markup."""
    renderer = _TextRenderer()
    try:
        renderer.feed(markup)
        renderer.close()
    except (AssertionError, ValueError):  # html.parser's own complaints on broken markup
        pass
    renderer._flush()
    out: list[str] = []
    for depth, text in renderer.lines:
        if not text and (not out or not out[-1]):
            continue
        out.append(("> " * depth + text) if text else "")
    return "\n".join(out).strip()
