"""World-name rules and generated names (pure functions), exhaustively and by property."""

from __future__ import annotations

import re

import pytest
import store
from hypothesis import given
from hypothesis import strategies as st
from onbod import names, texts


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("my-world", None),
        ("ab", None),
        ("a1", None),
        ("x" * 32, None),
        ("2cool4school", None),
        ("", "it is empty"),
        ("a", "it is shorter than 2 characters"),
        ("x" * 33, "it is longer than 32 characters"),
        ("My-World", "use lowercase letters only"),
        ("My World!", "only lowercase letters, digits and dashes are allowed"),
        ("my_world", "only lowercase letters, digits and dashes are allowed"),
        ("my world", "only lowercase letters, digits and dashes are allowed"),
        ("../etc", "only lowercase letters, digits and dashes are allowed"),
        ("-world", "it must start and end with a letter or digit"),
        ("world-", "it must start and end with a letter or digit"),
        ("wörld", "only lowercase letters, digits and dashes are allowed"),
    ],
)
def test_name_problem_explains_each_rule(answer: str, problem: str | None) -> None:
    assert names.name_problem(answer) == problem


@given(st.text(max_size=40))
def test_every_accepted_name_is_a_safe_group_folder(answer: str) -> None:
    if names.name_problem(answer) is None:
        assert store.validate.folder(answer) == answer
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}[a-z0-9]", answer)


@given(st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?", fullmatch=True))
def test_every_name_following_the_rules_is_accepted(answer: str) -> None:
    if len(answer) >= names.MIN_LEN:
        assert names.name_problem(answer) is None


@given(st.from_regex(r"[a-z][a-z0-9_-]{0,31}:[!-~]{1,255}", fullmatch=True))
def test_generated_names_follow_the_rules(jid: str) -> None:
    for name in names.candidates(jid, limit=3):
        assert names.name_problem(name) is None, (jid, name)


def test_slug_from_jid_is_readable() -> None:
    assert names.slug_from_jid("tg:12345") == "tg-12345"
    assert names.slug_from_jid("email:Ann@Example.org") == "email-ann-example-org"
    assert names.slug_from_jid("x:!") == "world"
    assert names.candidates("tg:1")[:3] == ["tg-1", "tg-1-2", "tg-1-3"]


def test_messages_quote_long_answers_briefly_and_name_the_rules() -> None:
    text = texts.invalid_name("x" * 500, "it is longer than 32 characters")
    assert len(text) < 400
    assert names.RULES in text
    assert "Reason: spam" in texts.rejected("w", " spam ")
    assert "Reason" not in texts.rejected("w", "  ")
    notice = texts.operator_notice("tg:1", "w", "line one\nline two")
    assert "/approve tg:1" in notice
    assert "line one line two" in notice
