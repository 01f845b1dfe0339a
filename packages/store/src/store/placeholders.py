"""The store's SQL is written once with sqlite3's parameters (`?` and `:name`); this turns it
into psycopg's (`%s`, `%(name)s`, and `%` doubled), outside string literals, quoted names and
comments. `::` (a PostgreSQL cast) is left alone. Pure and cached: each text is translated once."""

from __future__ import annotations

import functools
from typing import Final

NAME_START: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
NAME_CHARS: Final = NAME_START | frozenset("0123456789")


@functools.lru_cache(maxsize=4096)
def to_psycopg(sql: str) -> str:
    """`sql` with `?` → `%s`, `:name` → `%(name)s`, `%` → `%%` in the SQL itself; literals
    ('…'), quoted names ("…"), `--` and `/* */` comments are copied unchanged (but a `%` in
    them is doubled too, as psycopg reads every `%` of a query that has parameters)."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":
            end = _quoted_end(sql, i, c)
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif c == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        elif c == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
        elif c == ":" and i + 1 < n and sql[i + 1] in NAME_START:
            j = i + 2
            while j < n and sql[j] in NAME_CHARS:
                j += 1
            out.append(f"%({sql[i + 1 : j]})s")
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _quoted_end(sql: str, start: int, quote: str) -> int:
    """The index just past the literal or quoted name opened at `start` (a doubled quote is
    an escaped one); the end of the text when it is never closed."""
    i = start + 1
    while True:
        j = sql.find(quote, i)
        if j < 0:
            return len(sql)
        if sql.startswith(quote * 2, j):
            i = j + 2
            continue
        return j + 1
