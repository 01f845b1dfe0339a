"""World names: the rules a stranger's answer must follow, and names generated for `open`.
Pure functions, no I/O."""

from __future__ import annotations

import re
from typing import Final

MIN_LEN: Final = 2
MAX_LEN: Final = 32
# Whole values: always fullmatch() (`$` would let a trailing newline through).
NAME_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
RULES: Final = (
    f"{MIN_LEN}-{MAX_LEN} characters: lowercase letters, digits and dashes, "
    "starting and ending with a letter or digit (for example: my-world)"
)
FALLBACK: Final = "world"


def name_problem(answer: str) -> str | None:
    """Why `answer` (already stripped) is not a valid world name, or None when it is."""
    if not answer:
        return "it is empty"
    if len(answer) < MIN_LEN:
        return f"it is shorter than {MIN_LEN} characters"
    if len(answer) > MAX_LEN:
        return f"it is longer than {MAX_LEN} characters"
    if answer != answer.lower() and NAME_RE.fullmatch(answer.lower()):
        return "use lowercase letters only"
    if not re.fullmatch(r"[a-z0-9-]+", answer):
        return "only lowercase letters, digits and dashes are allowed"
    if not NAME_RE.fullmatch(answer):
        return "it must start and end with a letter or digit"
    return None


def slug_from_jid(jid: str) -> str:
    """A valid world name derived from a chat jid (`tg:12345` -> `tg-12345`)."""
    slug = re.sub(r"[^a-z0-9]+", "-", jid.lower()).strip("-")
    slug = slug[: MAX_LEN - 4].strip("-")
    return slug if len(slug) >= MIN_LEN else FALLBACK


def candidates(jid: str, limit: int = 50) -> list[str]:
    """Generated names to try in order: the jid's slug, then `<slug>-2`, `<slug>-3`, ..."""
    base = slug_from_jid(jid)
    return [base] + [f"{base}-{i}" for i in range(2, limit + 1)]
