"""What onbod says to strangers and to operators. Pure functions returning message text."""

from __future__ import annotations

from typing import Final

from onbod.names import RULES

QUOTE_MAX: Final = 40
FIRST_MESSAGE_MAX: Final = 500


def _quote(text: str, limit: int = QUOTE_MAX) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def greeting() -> str:
    return (
        "Hello! This chat is not connected to an assistant yet. To request one, reply with "
        f"a name for your world — {RULES}. An operator will review your request."
    )


def invalid_name(answer: str, problem: str) -> str:
    quoted = _quote(answer)
    return f'"{quoted}" cannot be a world name: {problem}. Please reply with a name — {RULES}.'


def name_taken(name: str) -> str:
    return f'The world name "{name}" is already taken. Please reply with another name — {RULES}.'


def too_many_requests() -> str:
    return (
        "We are receiving many requests right now. Please send your world name again in a "
        "little while."
    )


def awaiting_approval(name: str) -> str:
    return (
        f'Thank you! Your world "{name}" now awaits an operator\'s approval. '
        "We will tell you here as soon as it is decided."
    )


def reminder(name: str) -> str:
    return f'Your world "{name}" is still awaiting an operator\'s approval. Thank you for waiting.'


def approved(name: str) -> str:
    return f'Good news: your world "{name}" was approved. Your first message is being answered.'


def rejected(name: str | None, reason: str) -> str:
    what = f'the world "{name}"' if name else "an assistant"
    text = f"Sorry, your request for {what} was not approved."
    return f"{text} Reason: {reason.strip()}" if reason.strip() else text


def operator_notice(jid: str, name: str, first_message: str | None) -> str:
    first = _quote(first_message or "", FIRST_MESSAGE_MAX) or "(none)"
    return (
        f"Onboarding request: {jid} asks for the world {name!r}.\n"
        f"First message: {first}\n"
        f"Answer with /approve {jid} or /reject {jid} [reason]."
    )
