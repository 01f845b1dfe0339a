"""`group add|list|rm|config` and `route add|list|rm`: which chats are answered, by which
folder, with which settings, and under which parent folder."""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Annotated

import store
import typer
from store import hierarchy, share_links
from store.paths import group_path

from switchboard.cli_actor import cli_actor
from switchboard.commands import share
from switchboard.options import DbOption, JsonOption, opened, print_json, print_table

group_app = typer.Typer(help="Register chats to group folders.", no_args_is_help=True)
route_app = typer.Typer(
    help="Routing rules that send a chat's messages to a folder.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(group_app, name="group")
    share.register(group_app)
    app.add_typer(route_app, name="route")


@group_app.command("add")
def group_add(
    jid: Annotated[str, typer.Argument(help="Chat jid, e.g. web:demo or email:a@b.c.")],
    folder: Annotated[str, typer.Argument(help="Group folder (a-z, 0-9, '-', '_').")],
    db: DbOption = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    trigger: Annotated[str, typer.Option(help="Trigger word (see --requires-trigger).")] = "",
    requires_trigger: Annotated[
        bool, typer.Option(help="Only messages containing the trigger word start a run.")
    ] = False,
    agent: Annotated[
        str,
        typer.Option(
            help="The folder's agent command (default: gated's --default-agent); the same as "
            "`group config FOLDER --set command=CMD`."
        ),
    ] = "",
    operator: Annotated[bool, typer.Option(help="Operator chat (/approve, /reject).")] = False,
    parent: Annotated[
        str | None,
        typer.Option(
            metavar="FOLDER",
            help="Parent folder: the folder inherits its settings (and persona, while its own "
            "is the template) and may be delegated to by it. A folder that has a parent keeps "
            "it; change it with `group config FOLDER --parent`.",
        ),
    ] = None,
) -> None:
    """Register a chat to a group folder (a new folder starts with CLAUDE.md and memory/)."""
    # Checked before opening, so bad input never creates or migrates a database.
    store.validate.jid(jid, "jid")
    store.validate.folder(folder)
    if parent is not None:
        store.validate.folder(parent, "parent")
    if agent:
        store.validate.short_text(agent, "command", allow_empty=False)
    actor = cli_actor()
    with opened(db) as conn:
        with store.tx(conn):
            g = store.register_group(
                conn,
                jid,
                folder,
                name=name,
                trigger_word=trigger,
                requires_trigger=requires_trigger,
                is_operator=operator,
                parent=parent,
                actor=actor,
            )
            if agent:
                store.update_folder_settings(conn, folder, {"command": agent}, [], actor=actor)
        group_path(conn, folder, create=True)  # a new folder gets its CLAUDE.md and memory/
    under = f" (parent {g.parent})" if g.parent else ""
    typer.echo(f"registered {g.jid} -> {g.folder}{under}")


@group_app.command("list")
def group_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List registered chats, children under their parent folder (the agent is their folder's:
    see `group config FOLDER`), with how many share-link visitors each folder has (their
    chats are counted, not listed)."""
    with opened(db) as conn:
        groups = store.registered_groups(conn, visitors=False)
        commands = {g.folder: store.folder_settings(conn, g.folder).command for g in groups}
        tree = hierarchy.tree_order(hierarchy.parent_map(conn), [g.folder for g in groups])
        visitors = share_links.visitor_counts(conn, sorted(commands))
    if as_json:
        print_json(
            [
                {
                    "jid": g.jid,
                    "folder": g.folder,
                    "parent": g.parent,
                    "name": g.name,
                    "trigger_word": g.trigger_word,
                    "requires_trigger": g.requires_trigger,
                    "command": commands[g.folder],
                    "is_operator": g.is_operator,
                    "created_at": g.created_at,
                    "share_visitors": visitors.get(g.folder, 0),
                }
                for g in groups
            ]
        )
        return
    by_folder: dict[str, list[store.Group]] = {}
    for g in groups:
        by_folder.setdefault(g.folder, []).append(g)
    print_table(
        ["jid", "folder", "parent", "trigger", "agent", "operator", "visitors"],
        [
            [
                g.jid,
                "  " * row.depth + g.folder,
                g.parent or "",
                g.trigger_word + (" (required)" if g.requires_trigger else ""),
                commands[g.folder] or "switchboard-echo",
                "yes" if g.is_operator else "",
                visitors.get(g.folder, ""),
            ]
            for row in tree
            for g in by_folder[row.folder]
        ],
        "no groups yet (add one: switchboard group add web:demo demo)",
    )


@group_app.command("rm")
def group_rm(
    jid: Annotated[str, typer.Argument(help="Chat jid to unregister.")], db: DbOption = None
) -> None:
    """Unregister a chat (its messages stay; its routes are removed)."""
    with opened(db, must_exist=True) as conn:
        store.unregister_group(conn, jid, actor=cli_actor())
    typer.echo(f"unregistered {jid}")


@group_app.command("config")
def group_config(
    folder: Annotated[str, typer.Argument(help="Group folder (see group list).")],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Change a setting (repeatable). Keys: command, timeout_s, stdin, sandbox "
            "(auto|bwrap|none), network (none|proxy|full), allow_hosts, mounts "
            "(HOST_PATH:INSIDE_PATH[:rw],...; under $SWITCHBOARD_MOUNT_ROOTS), memory_mb, pids, "
            "cpu_s, disk_mb, env.NAME, secrets.",
        ),
    ] = None,
    unset: Annotated[
        list[str] | None,
        typer.Option(
            "--unset", metavar="KEY", help="Return a setting to its default (repeatable)."
        ),
    ] = None,
    parent: Annotated[
        str | None,
        typer.Option(
            metavar="FOLDER",
            help="Make FOLDER this folder's parent (for every chat of the folder): the folder "
            "inherits every setting it does not set itself. Refused for an unknown folder or "
            "a cycle.",
        ),
    ] = None,
    no_parent: Annotated[
        bool, typer.Option("--no-parent", help="Remove the folder's parent.")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a folder's settings (own, inherited from a parent folder, or default), or change
    them with --set/--unset (all or nothing) and --parent/--no-parent."""
    store.validate.folder(folder)
    if parent is not None:
        store.validate.folder(parent, "parent")
        if no_parent:
            raise store.InvalidInput("--parent", "give --parent FOLDER or --no-parent, not both")
    changes = parse_assignments(set_ or [])
    removed = list(unset or [])
    roots = store.parse_mount_roots(os.environ.get("SWITCHBOARD_MOUNT_ROOTS"))
    moving = parent is not None or no_parent
    actor = cli_actor()
    with opened(db, must_exist=True) as conn:
        require_folder(conn, folder)
        with store.tx(conn):  # the parent and the settings change together or not at all
            if moving:
                hierarchy.set_folder_parent(conn, folder, parent, actor=actor)
            if changes or removed:
                store.update_folder_settings(
                    conn, folder, changes, removed, mount_roots=roots, actor=actor
                )
        settings = store.folder_settings(conn, folder)
        lines = store.setting_lines(conn, folder)
        current = hierarchy.folder_parent(conn, folder)
    if as_json:
        print_json(
            {
                "folder": folder,
                "parent": current,
                "settings": store.settings_json(settings),
                "defaults": [line.key for line in lines if line.default],
                "inherited": {
                    line.key: line.inherited_from for line in lines if line.inherited_from
                },
            }
        )
        return
    if changes or removed or moving:
        done = [f"parent {current}" if current else "no parent"] if moving else []
        done += [f"set {', '.join(changes)}"] if changes else []
        done += [f"unset {', '.join(removed)}"] if removed else []
        typer.echo(f"{folder}: {'; '.join(done)}")
    elif current:
        typer.echo(f"{folder}: parent {current}")
    print_table(
        ["key", "value", "from"],
        [[line.key, line.shown, line.source] for line in lines],
        "",
    )


def parse_assignments(items: list[str]) -> dict[str, str]:
    """`KEY=VALUE` texts as a mapping; a missing `=` or a key given twice is bad input."""
    changes: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise store.InvalidInput("--set", f"{item[:80]!r} is not KEY=VALUE")
        if key in changes:
            raise store.InvalidInput(key, "is set twice")
        changes[key] = value
    return changes


def require_folder(conn: sqlite3.Connection, folder: str) -> None:
    """A typo in FOLDER is an error, not settings for a folder nothing uses."""
    if not store.folder_in_use(conn, folder):
        raise store.NotFound(
            f"no group folder {folder!r}: no chat is registered or routed to it "
            f"(register one: switchboard group add web:{folder} {folder})"
        )


@route_app.command("add")
def route_add(
    jid: Annotated[str, typer.Argument(help="Chat jid the rule applies to.")],
    type: Annotated[
        str, typer.Argument(help="command | verb | pattern | keyword | sender | default.")
    ],
    target: Annotated[str, typer.Argument(help="Group folder that answers matches.")],
    match: Annotated[str, typer.Option(help="What to match (regex for 'pattern').")] = "",
    seq: Annotated[int | None, typer.Option(help="Position (default: after the last).")] = None,
    db: DbOption = None,
) -> None:
    """Add a routing rule; rules are tried in seq order, first match wins."""
    store.validate.jid(jid, "jid")
    store.validate.route_match(store.validate.route_type(type), match)
    store.validate.folder(target, "target")
    with opened(db) as conn:
        r = store.add_route(conn, jid, type, match, target, seq=seq, actor=cli_actor())
    typer.echo(f"route {r.id} added: {r.jid} #{r.seq} {r.type} {r.match!r} -> {r.target}")


@route_app.command("list")
def route_list(
    jid: Annotated[str | None, typer.Argument(help="Only this chat's routes.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List routing rules in evaluation order."""
    with opened(db) as conn:
        routes = store.routes_for(conn, jid) if jid else store.all_routes(conn)
    if as_json:
        print_json(
            [
                {
                    "id": r.id,
                    "jid": r.jid,
                    "seq": r.seq,
                    "type": r.type,
                    "match": r.match,
                    "target": r.target,
                }
                for r in routes
            ]
        )
        return
    print_table(
        ["id", "jid", "seq", "type", "match", "target"],
        [
            [r.id, r.jid, r.seq, r.type, json.dumps(r.match) if r.match else "", r.target]
            for r in routes
        ],
        "no routes (chats go to their registered folder; add one: switchboard route add ...)",
    )


@route_app.command("rm")
def route_rm(
    route_id: Annotated[int, typer.Argument(help="Route id (see route list).")],
    db: DbOption = None,
) -> None:
    """Remove a routing rule."""
    with opened(db, must_exist=True) as conn:
        store.remove_route(conn, route_id, actor=cli_actor())
    typer.echo(f"route {route_id} removed")
