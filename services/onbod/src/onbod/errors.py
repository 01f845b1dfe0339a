"""onbod's own exceptions: one class per condition, each naming the field and the value."""

from __future__ import annotations

from store import InvalidInput


class InvalidSetting(InvalidInput):
    """A daemon setting (flag or SWITCHBOARD_ONBOARDING_* variable) has an unusable value."""
