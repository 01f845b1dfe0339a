"""`check_login(cfg)`: can gated log in to the configured IMAP and SMTP servers? Used by
`switchboard doctor`; returns the problems found (empty when both logins work)."""

from __future__ import annotations

from gated.config import Config
from gated.email.imap import close_quietly, open_client
from gated.email.smtp import open_smtp

TIMEOUT_S = 10.0


def check_login(cfg: Config) -> list[str]:
    """Log in to IMAP (and select the folder) and to SMTP; one line per problem."""
    email = cfg.email
    if email is None:
        return []
    problems: list[str] = []
    try:
        client = open_client(email, timeout=TIMEOUT_S)
        try:
            client.select_folder(email.imap_folder, readonly=True)
        finally:
            close_quietly(client)
    except Exception as exc:  # report any failure as a problem line, never crash the doctor
        problems.append(
            f"imap login failed host={email.imap_host}:{email.imap_port} tls={email.imap_tls} "
            f"user={email.imap_user} folder={email.imap_folder}: {type(exc).__name__}: {exc}"
        )
    try:
        with open_smtp(email, timeout=TIMEOUT_S) as smtp:
            smtp.noop()
    except Exception as exc:  # same: a problem line
        problems.append(
            f"smtp login failed host={email.smtp_host}:{email.smtp_port} tls={email.smtp_tls} "
            f"user={email.smtp_user or '(none)'}: {type(exc).__name__}: {exc}"
        )
    return problems
