"""The vendored static files (htmx, stylesheets, app script, share widget) under content-hashed
URLs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

STATIC_DIR: Final = Path(__file__).parent / "static"
STATIC_FILES: Final = ("htmx.min.js", "style.css", "app.js", "widget.js", "share.css")
MEDIA_TYPES: Final = {".js": "text/javascript", ".css": "text/css"}


@dataclass(frozen=True, slots=True)
class StaticFile:
    url: str
    body: bytes
    media_type: str


def static_files() -> dict[str, StaticFile]:
    """Each vendored file under a content-hashed name, so browsers may cache it forever."""
    files = {}
    for name in STATIC_FILES:
        body = (STATIC_DIR / name).read_bytes()
        stem, dot, ext = name.rpartition(".")
        url = f"/static/{stem}.{hashlib.sha256(body).hexdigest()[:10]}{dot}{ext}"
        files[name] = StaticFile(url, body, MEDIA_TYPES["." + ext] + "; charset=utf-8")
    return files
