"""route(): first match by seq among command, verb, pattern, keyword, sender, default."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from gated.routing import command_name, contains_word, route
from hypothesis import given
from hypothesis import strategies as st
from store import Route


@dataclass(frozen=True)
class Msg:
    content: str
    verb: str = "message"
    sender: str = "alice@example.com"


def r(seq: int, type_: str, match: str, target: str) -> Route:
    return Route(id=seq, jid="web:x", seq=seq, type=type_, match=match, target=target)


CASES = [
    # (route type, match, message, matches?)
    ("command", "deploy", Msg("/deploy now"), True),
    ("command", "/deploy", Msg("/deploy"), True),
    ("command", "deploy", Msg("/DEPLOY@mybot please"), True),
    ("command", "deploy", Msg("  /deploy"), True),
    ("command", "deploy", Msg("/deployment"), False),
    ("command", "deploy", Msg("please /deploy"), False),
    ("command", "deploy", Msg("deploy"), False),
    ("command", "deploy", Msg("/deploy/x"), False),
    ("verb", "task", Msg("anything", verb="task"), True),
    ("verb", "task", Msg("task", verb="message"), False),
    ("verb", "task", Msg("x", verb="TASK"), False),
    ("pattern", r"^bug #\d+", Msg("bug #12 is back"), True),
    ("pattern", r"\border\b", Msg("where is my order?"), True),
    ("pattern", r"^bug #\d+", Msg("a bug #12"), False),
    ("pattern", r"(unclosed", Msg("(unclosed"), False),  # a bad regex never matches
    ("keyword", "invoice", Msg("Your INVOICE is ready"), True),
    ("keyword", "invoice", Msg("invoice."), True),
    ("keyword", "invoice", Msg("invoices are due"), False),
    ("keyword", "c++", Msg("I love C++ a lot"), True),
    ("keyword", "c++", Msg("I love C+++"), True),
    ("keyword", "inv", Msg("invoice"), False),
    ("sender", "alice@example.com", Msg("hi"), True),
    ("sender", "ALICE@example.com", Msg("hi"), True),
    ("sender", "bob@example.com", Msg("hi"), False),
    ("default", "", Msg("anything at all"), True),
]


@pytest.mark.parametrize(("type_", "match", "msg", "expected"), CASES)
def test_each_route_type_matches_what_it_says(
    type_: str, match: str, msg: Msg, expected: bool
) -> None:
    target = route(msg, [r(10, type_, match, "routed")], "home")
    assert target == ("routed" if expected else "home")


def test_no_routes_go_to_the_registered_folder() -> None:
    assert route(Msg("hello"), [], "home") == "home"


def test_first_match_by_seq_wins_not_list_order() -> None:
    routes = [
        r(30, "default", "", "fallback"),
        r(20, "keyword", "billing", "billing"),
        r(10, "pattern", "urgent", "oncall"),
    ]
    assert route(Msg("urgent billing issue"), routes, "home") == "oncall"
    assert route(Msg("billing question"), routes, "home") == "billing"
    assert route(Msg("hello"), routes, "home") == "fallback"


def test_default_route_before_others_shadows_them() -> None:
    routes = [r(1, "default", "", "all"), r(2, "keyword", "x", "never")]
    assert route(Msg("x"), routes, "home") == "all"


def test_command_name_parses_slash_commands() -> None:
    assert command_name("/new #work") == "new"
    assert command_name("/Ping@bot") == "ping"
    assert command_name("/ ping") is None
    assert command_name("hello /ping") is None
    assert command_name("/") is None


@given(st.text(), st.text(min_size=1))
def test_route_and_word_match_never_raise(text: str, word: str) -> None:
    routes = [
        r(1, "pattern", word, "p"),
        r(2, "keyword", word, "k"),
        r(3, "command", word, "c"),
        r(4, "sender", word, "s"),
    ]
    assert route(Msg(text), routes, "home") in {"p", "k", "c", "s", "home"}
    contains_word(text, word)


@given(st.from_regex(r"[a-z]{1,10}", fullmatch=True))
def test_a_keyword_is_found_in_a_sentence_in_any_case(word: str) -> None:
    assert contains_word(f"say {word.upper()}, please", word)
