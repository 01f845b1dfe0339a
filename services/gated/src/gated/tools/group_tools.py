"""The tools across groups: `delegate` (a child folder of the caller, or a granted one, answers
a prompt in the calling chat) and the operator tools (`grants.operator`): `list_groups`,
`register_group`, `add_route`, `approve`, `reject` — each through the owner's functions, which
log the change in the audit log as the run's agent (`agent:<folder>`, origin `tool`)."""

from __future__ import annotations

from typing import Any

import store
from onbod import api as onboarding
from store import bus
from store.hierarchy import folder_parent

from gated.tools.args import AddRoute, Approve, Delegate, NoArgs, RegisterGroup, Reject
from gated.tools.context import CallContext
from gated.tools.protocol import ToolError


def _store_call(argument: str | None, fn: Any, *args: Any, **kw: Any) -> Any:
    """A store function's result; its InvalidInput as a ToolError naming the argument."""
    try:
        return fn(*args, **kw)
    except store.InvalidInput as exc:
        raise ToolError("invalid_argument", str(exc), argument or exc.field) from None
    except store.StoreError as exc:
        raise ToolError("failed", str(exc), argument) from None


def may_delegate(ctx: CallContext, folder: str) -> bool:
    """A folder may hand a prompt to its own children, and to any folder its grants name; never
    up to its parent or across to a sibling without a grant."""
    if folder in ctx.settings.grants_delegate_to:
        return True
    return folder != ctx.run.folder and folder_parent(ctx.conn, folder) == ctx.run.folder


def delegate(ctx: CallContext, args: Delegate) -> dict[str, Any]:
    run = ctx.run
    _store_call("folder", store.validate.folder, args.folder)
    if not may_delegate(ctx, args.folder):
        raise ToolError(
            "refused",
            f"this group may not delegate to {args.folder} (not a child of {run.folder}; "
            "grants.delegate_to)",
            "folder",
        )
    if not store.groups_for_folder(ctx.conn, args.folder):
        raise ToolError("invalid_argument", f"no group has the folder {args.folder}", "folder")
    msg = store.NewMessage(
        id=ctx.effect_id,
        chat_jid=run.chat_jid,
        content=args.prompt,
        sender=bus.DELEGATE_SENDER,
        sender_name=run.folder,
        verb=bus.TASK,
        source=bus.DELEGATE_SOURCE,
        group_folder=args.folder,
        topic=bus.delegate_topic(run.folder),
    )
    seq = _store_call("prompt", store.put_message, ctx.conn, msg).seq
    return {"folder": args.folder, "chat_jid": run.chat_jid, "seq": seq}


def list_groups(ctx: CallContext, _args: NoArgs) -> dict[str, Any]:
    return {
        "groups": [
            {
                "jid": g.jid,
                "folder": g.folder,
                "parent": g.parent,
                "name": g.name,
                "operator": g.is_operator,
                "requires_trigger": g.requires_trigger,
                "trigger_word": g.trigger_word,
            }
            for g in store.registered_groups(ctx.conn)
        ]
    }


def register_group(ctx: CallContext, args: RegisterGroup) -> dict[str, Any]:
    group = _store_call(
        None,
        store.register_group,
        ctx.conn,
        args.jid,
        args.folder,
        name=args.name,
        trigger_word=args.trigger_word,
        requires_trigger=args.requires_trigger,
        actor=ctx.actor,
    )
    return {"jid": group.jid, "folder": group.folder}


def add_route(ctx: CallContext, args: AddRoute) -> dict[str, Any]:
    route = _store_call(
        None, store.add_route, ctx.conn, args.jid, args.type, args.match, args.target,
        actor=ctx.actor,
    )  # fmt: skip
    return {"id": route.id, "jid": route.jid, "seq": route.seq, "target": route.target}


def approve(ctx: CallContext, args: Approve) -> dict[str, Any]:
    actor = ctx.actor  # decided by 'agent:<folder>'
    decision = _store_call("jid", onboarding.approve, ctx.conn, args.jid, actor.name, actor=actor)
    if not decision.ok:
        raise ToolError("failed", decision.message, "jid")
    return {"jid": args.jid, "message": decision.message}


def reject(ctx: CallContext, args: Reject) -> dict[str, Any]:
    actor = ctx.actor
    decision = _store_call(
        "jid", onboarding.reject, ctx.conn, args.jid, actor.name, args.reason, actor=actor
    )
    if not decision.ok:
        raise ToolError("failed", decision.message, "jid")
    return {"jid": args.jid, "message": decision.message}
