"""Errors raised inside gated: one class per condition."""

from __future__ import annotations


class GatedError(Exception):
    """Base class of gated's own errors."""


class DeliveryError(GatedError):
    """Sending an outbound message failed; `permanent` means retrying cannot help;
    `retry_after` is the receiver's earliest time to try again, in seconds (Retry-After)."""

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class SecretKeyError(GatedError):
    """The secrets key file is missing, unsafe (group/other may read it) or not the one that
    encrypted a secret; names the file and what to do."""


class RunTaken(GatedError):
    """Between planning and launch, another gated opened or took the work key's run."""

    def __init__(self, key: str) -> None:
        super().__init__(f"work_key {key!r}: its run is held by another gated")
        self.key = key
