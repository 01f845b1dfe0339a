"""store.placeholders: the store's `?`/`:name` SQL as psycopg reads it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store.placeholders import to_psycopg


@pytest.mark.parametrize(
    ("sql", "want"),
    [
        ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
        ("UPDATE t SET v = :value WHERE k = :key", "UPDATE t SET v = %(value)s WHERE k = %(key)s"),
        ("SELECT '?', 'it''s :x', \"a?b\" FROM t WHERE c = ?",
         "SELECT '?', 'it''s :x', \"a?b\" FROM t WHERE c = %s"),
        ("SELECT x::text, 5 % 2 FROM t WHERE y LIKE 'a%' AND z = ?",
         "SELECT x::text, 5 %% 2 FROM t WHERE y LIKE 'a%%' AND z = %s"),
        ("SELECT 1 -- why? :because\nWHERE a = ?", "SELECT 1 -- why? :because\nWHERE a = %s"),
        ("SELECT /* ? :x */ ?", "SELECT /* ? :x */ %s"),
        ("SELECT ':'  || ? || ':1'", "SELECT ':'  || %s || ':1'"),
        ("SELECT a:1", "SELECT a:1"),
    ],
)  # fmt: skip
def test_parameters_are_translated_outside_literals_names_and_comments(sql: str, want: str) -> None:
    assert to_psycopg(sql) == want


SQL_PIECES = st.sampled_from(
    ["SELECT ", "a", " = ", "?", ":name", "'lit ? :x %'", '"q?"', "::int", "%", " -- c ?\n",
     "/* ? */", ",", "(", ")", "''", " "]
)  # fmt: skip


@given(st.lists(SQL_PIECES, max_size=30))
def test_question_marks_outside_quotes_become_exactly_the_positional_placeholders(
    pieces: list[str],
) -> None:
    sql = "".join(pieces)
    out = to_psycopg(sql)
    # Every `%` psycopg sees is either a placeholder or a doubled literal one.
    stripped = out.replace("%%", "").replace("%s", "")
    stripped = re.sub(r"%\(\w+\)s", "", stripped)
    assert "%" not in stripped
    # Outside quotes, comments and casts nothing of ours survives untranslated.
    if "'" not in sql and '"' not in sql and "--" not in sql and "/*" not in sql:
        assert "?" not in out
        assert out.count("%s") == sql.count("?")
