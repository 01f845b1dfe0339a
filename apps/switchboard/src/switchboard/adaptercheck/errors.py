"""The checker's errors: one class per condition, each message naming what is wrong."""

from __future__ import annotations


class CheckError(Exception):
    """The check cannot run here (the throw-away gated will not start): exit 2, one line."""


class SayFailed(Exception):
    """The --say command did not make the platform show a message: the rule using it fails."""
