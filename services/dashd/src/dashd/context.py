"""What a page handler is given: the app-wide state built once at start, and `Ctx`, one
request with its viewer, form, clock, CSRF token and queued cookie changes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from store import blobs
from store.audit import Actor

from dashd import __version__, auth
from dashd.access import Viewer
from dashd.assets import static_files
from dashd.chart_tallies import ChartTallies
from dashd.config import Config
from dashd.connections import Db
from dashd.formats import format_seconds, format_when

MAX_INT_DIGITS: Final = 18  # below SQLite's 64-bit integer limit


class AppState:
    """What every request needs, built once at start."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = Db(config.db_path)
        self.key = auth.signing_key(self.db.write())
        self.static = static_files()
        self.templates = Environment(
            loader=PackageLoader("dashd", "templates"), autoescape=True, auto_reload=False
        )
        self.templates.globals["static_url"] = lambda name: self.static[name].url
        self.templates.globals["version"] = __version__
        self.templates.filters["when"] = format_when
        self.templates.filters["seconds"] = format_seconds
        self.templates.filters["stored_files"] = blobs.stored_files
        self.requests = 0
        self.charts = ChartTallies()  # the charts page's running sums


@dataclass(slots=True)
class Ctx:
    """One request as a page handler sees it."""

    state: AppState
    request: Request
    viewer: Viewer | None
    form: FormData | None
    now: datetime
    csrf: str = ""
    nonce: str = ""
    cookies: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def read(self) -> sqlite3.Connection:
        return self.state.db.read()

    @property
    def write(self) -> sqlite3.Connection:
        return self.state.db.write()

    @property
    def user(self) -> Viewer:
        assert self.viewer is not None
        return self.viewer

    @property
    def actor(self) -> Actor:
        """The signed-in user as the audit log records them, from the client's address (the
        TCP peer: behind a reverse proxy, the proxy's)."""
        return Actor(self.user.username, "dashboard", client_ip(self.request))

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else default

    def param(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)

    def int_param(self, name: str) -> int | None:
        raw = self.request.query_params.get(name, "")
        if not raw:
            return None
        if not raw.isdigit() or len(raw) > MAX_INT_DIGITS:
            raise HTTPException(400, f"{name}: {raw[:40]!r} is not a positive integer")
        return int(raw)

    def path_id(self, name: str) -> int:
        """An integer id from the path; 404 when it cannot be a row id (SQLite's range)."""
        value = int(self.request.path_params[name])
        if not 0 < value < 2**62:
            raise HTTPException(404, "No such row here.")
        return value

    def render(self, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        page = self.state.templates.get_template(template).render(
            viewer=self.viewer,
            csrf=self.csrf,
            path=self.request.url.path,
            notice=self.param("ok"),
            error=self.param("err"),
            htmx=self.request.headers.get("hx-request") == "true",
            **values,
        )
        return HTMLResponse(page, status_code=code)

    def redirect(self, url: str, **query: str) -> RedirectResponse:
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        return RedirectResponse(url, status_code=303)

    def not_found(self, what: str) -> HTTPException:
        return HTTPException(404, what)


Handler = Callable[[Ctx], Response]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""
