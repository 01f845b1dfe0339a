"""dashd's exceptions: one class per condition, each message naming the field and value."""

from __future__ import annotations


class DashdError(Exception):
    """Base class of every error dashd raises on purpose."""


class RateLimited(DashdError):
    """Too many failed logins for this ip and username; names when it clears."""


class SessionInvalid(DashdError):
    """A refresh token that is unknown, expired, revoked or reused."""
