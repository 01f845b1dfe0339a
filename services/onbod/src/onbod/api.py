"""onbod's public functions for gated's /approve and /reject, dashd's buttons and the CLI.
Signatures are the contract; see DESIGN.md section 6."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal

OnboardingStatus = Literal["awaiting_name", "pending", "approved", "rejected"]


@dataclass(frozen=True, slots=True)
class Onboarding:
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


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of approve/reject: `ok` False when another operator decided first (or bad jid)."""

    ok: bool
    message: str
    onboarding: Onboarding | None


def approve(conn: sqlite3.Connection, jid: str, by: str) -> Decision:
    """Compare-and-set pending -> approved; registers the group and hands over the first message."""
    raise NotImplementedError


def reject(conn: sqlite3.Connection, jid: str, by: str, reason: str = "") -> Decision:
    """Compare-and-set pending -> rejected; tells the sender (with the reason)."""
    raise NotImplementedError


def pending(conn: sqlite3.Connection) -> list[Onboarding]:
    """Onboardings awaiting an operator's decision, oldest first."""
    raise NotImplementedError


def list_onboarding(
    conn: sqlite3.Connection, status: OnboardingStatus | None = None, limit: int = 200
) -> list[Onboarding]:
    """Every onboarding row (optionally of one status), newest first."""
    raise NotImplementedError
