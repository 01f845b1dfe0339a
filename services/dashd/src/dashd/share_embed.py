"""The public URL of a share link and the snippets a web site pastes to embed it (pure, and
light to import: the CLI prints them too)."""

from __future__ import annotations


def share_url(base_url: str, token: str) -> str:
    """The public URL of a share link, under the dashboard's base URL."""
    return f"{base_url.rstrip('/')}/s/{token}"


def embed_snippets(base_url: str, token: str) -> tuple[str, str]:
    """What a web site pastes to embed the chat: the widget script, and a plain iframe."""
    url = share_url(base_url, token)
    script = f'<script src="{url}/widget.js" async></script>'
    iframe = (
        f'<iframe src="{url}" title="Chat" width="380" height="560" '
        'style="border:1px solid #ccc;border-radius:8px"></iframe>'
    )
    return script, iframe
