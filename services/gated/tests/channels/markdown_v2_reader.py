"""A MarkdownV2 reader for the tests, written from Telegram's rules (Bot API, "MarkdownV2
style"): it raises where Telegram would answer `can't parse entities`."""

from __future__ import annotations

from gated.formatting import TELEGRAM_RESERVED


class MarkdownV2Error(ValueError):
    """Text Telegram would refuse with `can't parse entities`."""


def read_markdown_v2(text: str) -> str:
    """The visible text of a MarkdownV2 message, by Telegram's rules: reserved characters
    outside entities escaped; entities properly nested and closed; code and pre not inside
    another entity, with ` and \\ escaped in them; ) and \\ escaped in a link's target."""
    visible: list[str] = []
    stack: list[str] = []
    i, n = 0, len(text)

    def read_escaped_until(end: str, start: int, what: str) -> tuple[str, int]:
        out, j = [], start
        while j < n:
            if text[j] == "\\":
                if j + 1 >= n:
                    raise MarkdownV2Error(f"{what}: trailing '\\'")
                out.append(text[j + 1])
                j += 2
            elif text.startswith(end, j):
                return "".join(out), j + len(end)
            elif text[j] == "`" and what != "link":
                raise MarkdownV2Error(f"{what}: unescaped '`' at {j}")
            else:
                out.append(text[j])
                j += 1
        raise MarkdownV2Error(f"{what} not closed")

    while i < n:
        c = text[i]
        line_start = i == 0 or text[i - 1] == "\n"
        if c == "\\":
            if i + 1 >= n or not 1 <= ord(text[i + 1]) <= 126:
                raise MarkdownV2Error(f"bad escape at {i}")
            visible.append(text[i + 1])
            i += 2
        elif c == "`":
            if stack:
                raise MarkdownV2Error(f"code inside {stack[-1]} at {i}")
            if text.startswith("```", i):
                body, i = read_escaped_until("```", i + 3, "pre")
                visible.append(body.partition("\n")[2] if "\n" in body else body)
            else:
                body, i = read_escaped_until("`", i + 1, "code")
                visible.append(body)
        elif c in "*_~|":
            kind = {"*": "bold", "_": "italic", "~": "strike", "|": "spoiler"}[c]
            width = 1
            if c == "_" and text.startswith("__", i):
                kind, width = "underline", 2
            elif c == "|":
                if not text.startswith("||", i):
                    raise MarkdownV2Error(f"unescaped '|' at {i}")
                width = 2
            if stack and stack[-1] == kind:
                stack.pop()
            elif kind in stack:
                raise MarkdownV2Error(f"{kind} closed across {stack[-1]} at {i}")
            else:
                stack.append(kind)
            i += width
        elif c == "[":
            if "link" in stack:
                raise MarkdownV2Error(f"link inside a link at {i}")
            stack.append("link")
            i += 1
        elif c == "]":
            if not stack or stack[-1] != "link" or not text.startswith("(", i + 1):
                raise MarkdownV2Error(f"unescaped ']' at {i}")
            stack.pop()
            url, i = read_escaped_until(")", i + 2, "link")
            if not url:
                raise MarkdownV2Error("empty link target")
        elif c == ">" and line_start:
            i += 1  # a blockquote line
        elif c == "\r":
            i += 1  # ignored: separates two entities
        elif c in TELEGRAM_RESERVED:
            raise MarkdownV2Error(f"reserved {c!r} not escaped at {i}")
        else:
            visible.append(c)
            i += 1
    if stack:
        raise MarkdownV2Error(f"{stack[-1]} not closed")
    return "".join(visible)
