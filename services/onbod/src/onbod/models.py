"""Typed rows of the `onboarding` table and the outcome of an operator's decision."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal, get_args

OnboardingStatus = Literal["awaiting_name", "pending", "approved", "rejected", "ignored"]
STATUSES: tuple[str, ...] = get_args(OnboardingStatus)


@dataclass(frozen=True, slots=True)
class Onboarding:
    """One unknown chat's onboarding; `ignored` rows were recorded under the `closed` policy."""

    jid: str
    status: OnboardingStatus
    world_name: str | None
    prompted_at: str | None
    first_seq: int | None
    first_message: str | None
    decided_by: str | None
    decided_at: str | None
    reason: str | None
    created_at: str
    greeted_at: str | None = None
    requested_at: str | None = None
    reminded_at: str | None = None
    prompts: int = 0
    messages: int = 0

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Onboarding:
        return cls(
            jid=row["jid"],
            status=row["status"],
            world_name=row["world_name"],
            prompted_at=row["prompted_at"],
            first_seq=row["first_seq"],
            first_message=row["first_message"],
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
            reason=row["reason"],
            created_at=row["created_at"],
            greeted_at=row["greeted_at"],
            requested_at=row["requested_at"],
            reminded_at=row["reminded_at"],
            prompts=row["prompts"],
            messages=row["messages"],
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of approve/reject: `ok` False when another operator decided first (or bad jid)."""

    ok: bool
    message: str
    onboarding: Onboarding | None
