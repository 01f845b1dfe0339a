"""switchboard: the admin CLI and the local supervisor (`switchboard up`)."""

__version__ = "0.1.0"
