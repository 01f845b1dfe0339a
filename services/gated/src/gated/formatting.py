"""Agent replies are Markdown; an adapter of protocol 1.1 names the markup its platform reads
(`capabilities.format`). `format_reply` parses the reply once (markdown-it, raw HTML off) and
writes it in that markup, plus the plain-text fallback. The agent is hostile: only markup this
module writes itself is markup; everything the agent wrote is escaped text."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Final, Literal, get_args
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

Format = Literal[
    "plain", "markdown", "telegram_markdown_v2", "slack_mrkdwn", "matrix_html", "discord_markdown"
]
FORMATS: Final[tuple[str, ...]] = get_args(Format)
# Links keep their target only for these schemes; any other link is its text alone.
LINK_SCHEMES: Final = frozenset({"http", "https", "mailto"})
# Telegram MarkdownV2: every one of these outside an entity is escaped with '\'.
TELEGRAM_RESERVED: Final = frozenset("_*[]()~`>#+-=|{}.!\\")
# A fence's language is kept only when it is a plain name (it is not escaped by Telegram).
FENCE_LANG_RE: Final = re.compile(r"[A-Za-z0-9_+-]{1,32}")
# Discord pings: @everyone / @here, and <@id>, <@!id> (users), <@&id> (roles).
DISCORD_MASS_RE: Final = re.compile(r"@(everyone|here)\b")
DISCORD_MENTION_RE: Final = re.compile(r"<@([!&]?)(\d+)>")
ZWSP: Final = "\u200b"
RULE: Final = "———"

# Raw HTML off: an agent's <script> is text. No typographer, no linkify: what was written.
_PARSER: Final = MarkdownIt("commonmark", {"html": False, "typographer": False})


@dataclass(frozen=True, slots=True)
class Formatted:
    """One reply (or part of one) as the adapter gets it: `text` in its format, and `plain`."""

    text: str
    plain: str


def format_reply(markdown: str, fmt: Format) -> Formatted:
    """`markdown` written in `fmt`, with its plain-text fallback (mentions neutralised for
    Discord in both)."""
    plain = _render(markdown, "plain")
    if fmt == "discord_markdown":
        return Formatted(neutralise_mentions(markdown), neutralise_mentions(plain))
    if fmt == "markdown":
        return Formatted(markdown, plain)
    return Formatted(plain if fmt == "plain" else _render(markdown, fmt), plain)


def neutralise_mentions(text: str) -> str:
    """Discord's mass and user/role mentions broken by a zero-width space: shown, never pinged."""
    text = DISCORD_MASS_RE.sub(lambda m: f"@{ZWSP}{m.group(1)}", text)
    return DISCORD_MENTION_RE.sub(lambda m: f"<@{ZWSP}{m.group(1)}{m.group(2)}>", text)


def safe_href(href: str) -> str | None:
    """The link target when its scheme is http, https or mailto, else None."""
    try:
        scheme = urlsplit(href).scheme.lower()
    except ValueError:
        return None
    return href if scheme in LINK_SCHEMES else None


def _render(markdown: str, fmt: Format) -> str:
    writer = WRITERS[fmt]()
    return writer.document(SyntaxTreeNode(_PARSER.parse(markdown))).strip("\n")


class _Writer:
    """Plain text, and the tree walk every format shares; subclasses write the markup."""

    bullet = "- "
    block_sep = "\n\n"
    line_break = "\n"

    def __init__(self) -> None:
        self.open: list[str] = []  # the entities around the node being written

    # -- the walk ----------------------------------------------------------------------

    def document(self, root: SyntaxTreeNode) -> str:
        return self.blocks(root.children)

    def blocks(self, nodes: list[SyntaxTreeNode]) -> str:
        # A tight list's item holds hidden paragraphs: its blocks are lines, not paragraphs.
        tight = any(n.type == "paragraph" and n.hidden for n in nodes)
        return ("\n" if tight else self.block_sep).join(self.block(n) for n in nodes)

    def block(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind in ("paragraph", "heading"):
            spans = node.children[0].children if node.children else []
            # A heading is a bold line: chat markups have no headings.
            inline = self.spans(spans) if kind == "paragraph" else self.entity("strong", spans)
            return inline if node.hidden else self.paragraph(inline)
        if kind == "blockquote":
            return self.entity("quote", node.children)
        if kind in ("bullet_list", "ordered_list"):
            start = int(node.attrs.get("start", 1)) if kind == "ordered_list" else None
            items = [self.blocks(item.children) for item in node.children]
            return self.listing(items, start)
        if kind in ("fence", "code_block"):
            lang = node.info.split()[0] if node.info.strip() else ""
            return self.pre(node.content.removesuffix("\n"), lang)
        if kind == "hr":
            return self.paragraph(self.text(RULE))
        return self.paragraph(self.text(node.content))

    def spans(self, nodes: list[SyntaxTreeNode]) -> str:
        out: list[str] = []
        previous = ""
        for node in nodes:
            out.append(self.between(previous, node.type) + self.span(node))
            previous = node.type
        return "".join(out)

    def span(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind == "text":
            return self.text(node.content)
        if kind in ("softbreak", "hardbreak"):
            return self.line_break
        if kind in ("strong", "em"):
            return self.entity(kind, node.children)
        if kind == "code_inline":
            return self.code(node.content)
        if kind == "link":
            href = str(node.attrs.get("href", ""))
            return self.link(node.children, safe_href(href))
        if kind == "image":
            return self.text(node.content or str(node.attrs.get("src", "")))
        return self.text(node.content)

    def entity(self, kind: str, children: list[SyntaxTreeNode] | str) -> str:
        """Write `children` inside entity `kind`; the same entity inside itself is not nested
        again (most chat markups cannot, and Telegram would end the outer one)."""
        nested = kind in self.open
        self.open.append(kind)
        try:
            if isinstance(children, str):
                inner = children
            elif kind == "quote":
                inner = self.blocks(children)
            else:
                inner = self.spans(children)
        finally:
            self.open.pop()
        return inner if nested else self.wrap(kind, inner)

    # -- what each format writes ---------------------------------------------------------

    def text(self, value: str) -> str:
        return value

    def between(self, previous: str, kind: str) -> str:
        return ""

    def paragraph(self, inline: str) -> str:
        return inline

    def wrap(self, kind: str, inner: str) -> str:
        if kind == "quote":
            return _prefix_lines(inner, "> ")
        return inner

    def code(self, value: str) -> str:
        return value

    def pre(self, value: str, lang: str) -> str:
        return value

    def link(self, children: list[SyntaxTreeNode], href: str | None) -> str:
        inner = self.spans(children)
        if href is None or inner in (href, href.removeprefix("mailto:")):
            return inner
        return f"{inner} ({href})"

    def listing(self, items: list[str], start: int | None) -> str:
        lines = []
        for n, item in enumerate(items):
            mark = self.bullet if start is None else self.number(start + n)
            first, *rest = item.split("\n")
            pad = " " * len(mark)
            lines.append(
                "\n".join([self.first(mark, first), *(self.continued(r, pad) for r in rest)])
            )
        return "\n".join(lines)

    def first(self, mark: str, line: str) -> str:
        """A list item's first line, after its bullet or number."""
        return mark + line

    def continued(self, line: str, pad: str) -> str:
        """A list item's later line, indented under its first."""
        return pad + line if line else line

    def number(self, n: int) -> str:
        return f"{n}. "


class _Telegram(_Writer):
    """Telegram MarkdownV2: reserved characters escaped outside entities, ` and \\ inside code,
    ) and \\ inside a link's target. Code cannot be part of another entity, nor a blockquote
    contain pre: there it is escaped text."""

    bullet = "• "

    def text(self, value: str) -> str:
        return "".join("\\" + c if c in TELEGRAM_RESERVED else c for c in value)

    def between(self, previous: str, kind: str) -> str:
        # `_a__b_` would read as underline: '\r' (ignored by Telegram) keeps two italics apart.
        return "\r" if previous == kind == "em" else ""

    def wrap(self, kind: str, inner: str) -> str:
        if kind == "quote":
            return _prefix_lines(inner, ">")
        if kind == "em":
            return f"_{inner}_"
        return f"*{inner}*"

    def code(self, value: str) -> str:
        if self.open:
            return self.text(value)
        return "`" + _escape(value, "`\\") + "`"

    def pre(self, value: str, lang: str) -> str:
        if self.open:
            return self.text(value)
        lang = lang if FENCE_LANG_RE.fullmatch(lang) else ""
        return "```" + lang + "\n" + _escape(value, "`\\") + "\n```"

    def link(self, children: list[SyntaxTreeNode], href: str | None) -> str:
        if href is None or "link" in self.open:
            return self.spans(children)
        self.open.append("link")
        try:
            inner = self.spans(children) or self.text(href)
        finally:
            self.open.pop()
        return "[" + inner + "](" + _escape(href, ")\\") + ")"

    # A quote line must start its line: Telegram reads '>' only there.
    def first(self, mark: str, line: str) -> str:
        return mark.rstrip() + "\n" + line if line.startswith(">") else mark + line

    def continued(self, line: str, pad: str) -> str:
        return line if line.startswith(">") else super().continued(line, pad)

    def number(self, n: int) -> str:
        return f"{n}\\. "


class _Slack(_Writer):
    """Slack mrkdwn: & < > escaped everywhere (so `<!channel>` stays text), *bold*, _italic_,
    `code`, <url|text>."""

    bullet = "• "

    def text(self, value: str) -> str:
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def wrap(self, kind: str, inner: str) -> str:
        if kind == "quote":
            return _prefix_lines(inner, "> ")
        return f"_{inner}_" if kind == "em" else f"*{inner}*"

    def code(self, value: str) -> str:
        return "`" + self.text(value) + "`"

    def pre(self, value: str, lang: str) -> str:
        return f"```\n{self.text(value)}\n```"

    def link(self, children: list[SyntaxTreeNode], href: str | None) -> str:
        inner = self.spans(children)
        if href is None:
            return inner
        target = self.text(href).replace("|", "%7C")
        return f"<{target}|{inner}>" if inner else f"<{target}>"


class _MatrixHtml(_Writer):
    """Matrix `org.matrix.custom.html`: every character the agent wrote is escaped; the only
    tags are the ones written here (p, br, b, i, code, pre, a href with a safe scheme,
    blockquote, ul/ol/li)."""

    block_sep = "\n"
    line_break = "<br>"

    def text(self, value: str) -> str:
        return html.escape(value, quote=True)

    def paragraph(self, inline: str) -> str:
        return f"<p>{inline}</p>"

    def wrap(self, kind: str, inner: str) -> str:
        tag = {"quote": "blockquote", "em": "i"}.get(kind, "b")
        return f"<{tag}>{inner}</{tag}>"

    def code(self, value: str) -> str:
        return f"<code>{self.text(value)}</code>"

    def pre(self, value: str, lang: str) -> str:
        return f"<pre><code>{self.text(value)}</code></pre>"

    def link(self, children: list[SyntaxTreeNode], href: str | None) -> str:
        inner = self.spans(children)
        if href is None:
            return inner
        return f'<a href="{self.text(href)}">{inner or self.text(href)}</a>'

    def listing(self, items: list[str], start: int | None) -> str:
        tag = "ul" if start is None else "ol"
        attr = f' start="{start}"' if start not in (None, 1) else ""
        return f"<{tag}{attr}>" + "".join(f"<li>{i}</li>" for i in items) + f"</{tag}>"


WRITERS: Final[dict[str, type[_Writer]]] = {
    "plain": _Writer,
    "telegram_markdown_v2": _Telegram,
    "slack_mrkdwn": _Slack,
    "matrix_html": _MatrixHtml,
}


def _escape(value: str, chars: str) -> str:
    return "".join("\\" + c if c in chars else c for c in value)


def _prefix_lines(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.split("\n"))
