"""log_safe(): whatever a request carried, it becomes one log-line token that cannot move the
cursor, start a terminal escape, reverse the text or hide characters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store import log_safe


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        ("web", "web"),
        ("tg:12345", "tg:12345"),
        ("web\n", '"web\\x0a"'),
        ("a b", '"a b"'),
        ("\x1b[31mred", '"\\x1b[31mred"'),
        ("\x9b31m", '"\\x9b31m"'),
        ("user\u202egnp.exe", '"user\\u202egnp.exe"'),
        ("ali\u200bce", '"ali\\u200bce"'),
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("", '""'),
        ("Zoë", '"Zoë"'),
    ],
)
def test_values_are_escaped_for_one_log_line(value: str, logged: str) -> None:
    assert log_safe(value) == logged


def test_long_values_are_cut_and_marked() -> None:
    assert log_safe("x" * 500, limit=10) == '"xxxxxxxxxx…"'


@given(st.text())
def test_a_logged_value_is_always_printable_and_on_one_line(value: str) -> None:
    out = log_safe(value)
    assert out.isprintable()
    assert len(out) <= len('"…"') + len("\\U0001f600") * 200
