"""Start an adapter without the optional imports it never uses (issue 17: idle RSS ≤ 60 MB).

python-telegram-bot imports httpx, whose package imports its command-line client (click, rich,
pygments) when those happen to be installed, and imports cryptography for Telegram Passport,
which the adapter never decrypts: together about 14 MB of a 72 MB idle process. A module whose
`sys.modules` entry is None raises ImportError on import, and both libraries treat that as
"not installed". This is done only in the adapter's own process, before the library loads, never
on import of `platforms`, so a test or tool that imports the adapter modules is unaffected."""

from __future__ import annotations

import sys
from typing import Final

# Imports that python-telegram-bot makes optionally and the Telegram adapter does not need.
UNUSED_BY_TELEGRAM: Final = ("httpx._main", "cryptography")


def keep_out(modules: tuple[str, ...]) -> None:
    """Make `import m` raise ImportError for each m not yet imported in this process."""
    for name in modules:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def telegram(argv: list[str] | None = None) -> None:
    """`switchboard-telegram`'s entry point: keep the unused imports out, then run the adapter."""
    keep_out(UNUSED_BY_TELEGRAM)
    from platforms.telegram import main  # imported only now, after keep_out

    main(argv)
