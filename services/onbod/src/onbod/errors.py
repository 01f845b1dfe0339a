"""onbod's own exceptions: one class per condition, each naming the field and the value."""

from __future__ import annotations
