"""The conditions an adapter reports: a rejected platform token, a temporary or permanent
send failure, a gated that refuses the registration, a delivery cut short by the stop."""

from __future__ import annotations


class TokenRejected(Exception):
    """The platform refused the token: the adapter exits 2 with this one line."""


class TemporaryFailure(Exception):
    """The send may work later: /send answers 503 (429 when `retry_after`) with Retry-After."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """Retrying cannot help (unknown chat, blocked bot): /send answers 422, gated marks it dead."""


class RegistrationRefused(Exception):
    """gated refused the registration (wrong channel secret, a taken prefix): exit 2."""


class Stopping(Exception):
    """The adapter is stopping: the message was not stored, so its offset must not advance."""
