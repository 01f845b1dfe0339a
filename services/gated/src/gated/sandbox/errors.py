"""Errors of the sandbox: one class per condition."""

from __future__ import annotations

from gated.errors import GatedError


class SandboxError(GatedError):
    """A run cannot be confined as asked; the message names the setting and the reason."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class SandboxRequired(SandboxError):
    """The run would be unconfined, and gated or the group requires a sandbox."""
