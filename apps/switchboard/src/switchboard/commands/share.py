"""`group share FOLDER`: a folder's public share link (a web chat with its agent for anyone
holding the URL): create it, `--rotate` or `--revoke` it, and set which web sites may embed
it (`--allow-origin`, `--no-origins`); prints the URL and the embed snippets."""

from __future__ import annotations

import os
from typing import Annotated, Final
from urllib.parse import urlsplit

import store
import typer
from dashd.config import DEFAULT_LISTEN
from dashd.share_embed import embed_snippets, share_url
from store import share_links

from switchboard.cli_actor import cli_actor
from switchboard.options import DbOption, JsonOption, opened, print_json

LISTEN_ENV: Final = "SWITCHBOARD_DASHD_LISTEN"


def register(group: typer.Typer) -> None:
    group.command("share")(group_share)


def default_base_url() -> str:
    """The dashboard's URL as `switchboard up` prints it: its listen address (the same env
    variable dashd reads), else dashd's default."""
    return f"http://{os.environ.get(LISTEN_ENV) or DEFAULT_LISTEN}"


def base_url_of(value: str) -> str:
    """An http(s) URL with a host and no query or fragment; the trailing `/` dropped."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise store.InvalidInput(
            "--base-url", f"{value[:80]!r} is not an http(s) URL like https://chat.example.com"
        )
    return value.rstrip("/")


def group_share(
    folder: Annotated[str, typer.Argument(help="Group folder whose agent the link chats with.")],
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Replace the token: the old URL stops working at once.")
    ] = False,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Remove the link: its URL stops working at once.")
    ] = False,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-origin",
            metavar="ORIGIN",
            help="A web site that may embed the chat, like https://example.com (repeatable; "
            "replaces the list).",
        ),
    ] = None,
    no_origins: Annotated[
        bool, typer.Option("--no-origins", help="No web site may embed the chat.")
    ] = False,
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url",
            envvar="SWITCHBOARD_SHARE_BASE_URL",
            show_envvar=True,
            help="The dashboard's public URL (default: http://$SWITCHBOARD_DASHD_LISTEN, "
            f"else http://{DEFAULT_LISTEN}).",
        ),
    ] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a folder's share link and print its URL (shown once: only a hash is kept)."""
    store.validate.folder(folder)
    base = base_url_of(base_url or default_base_url())
    origins = [share_links.origin(o, "--allow-origin") for o in allow_origin or []]
    if origins and no_origins:
        raise store.InvalidInput("--no-origins", "cannot be combined with --allow-origin")
    if revoke and (rotate or origins or no_origins):
        raise store.InvalidInput("--revoke", "cannot be combined with other options")
    actor = cli_actor()
    with opened(db, must_exist=True) as conn:
        if not store.folder_in_use(conn, folder):
            raise store.NotFound(
                f"no group folder {folder!r}: no chat is registered or routed to it "
                f"(register one: switchboard group add web:{folder} {folder})"
            )
        if revoke:
            if not share_links.revoke_link(conn, folder, actor=actor):
                raise store.NotFound(f"group folder {folder!r} has no share link")
            typer.echo(f"{folder}: share link revoked (its URL no longer opens anything)")
            return
        link = share_links.get_link(conn, folder)
        new = link is None or rotate
        token = share_links.create_link(conn, folder, actor=actor) if new else ""
        if origins or no_origins:
            share_links.set_frame_ancestors(conn, folder, origins, actor=actor)
        link = share_links.get_link(conn, folder)
    assert link is not None
    script, iframe = embed_snippets(base, token) if token else ("", "")
    if as_json:
        print_json(
            {
                "folder": folder,
                "url": share_url(base, token) if token else None,
                "script": script or None,
                "iframe": iframe or None,
                "created_at": link.created_at,
                "frame_ancestors": list(link.frame_ancestors),
            }
        )
        return
    if token:
        typer.echo(share_url(base, token))
        typer.echo("  (shown only now: the store keeps just a hash; --rotate makes a new one)")
        typer.echo(f"embed a chat button:  {script}")
        typer.echo(f"or an inline frame:   {iframe}")
    else:
        typer.echo(
            f"{folder}: share link made {link.created_at}; its URL was shown only then "
            "(--rotate for a new one: the old URL stops working)"
        )
    shown = " ".join(link.frame_ancestors) or "none (add one: --allow-origin https://...)"
    typer.echo(f"sites that may embed it: {shown}")
