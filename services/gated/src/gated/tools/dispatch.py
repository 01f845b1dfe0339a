"""One call, start to answer: answered from `tool_calls` when its id was seen in this run,
else checked (tool, grants, arguments) and carried out — a call that changes something in the
same transaction as its record, and only once per (batch, tool, n) across re-runs of a batch."""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import replace
from typing import cast

import store
from daemonkit import tracing

from gated.tools import audit
from gated.tools.args import parse_args
from gated.tools.catalog import TOOLS, Tool
from gated.tools.context import CallContext, RunIdentity
from gated.tools.protocol import (
    LIST_TOOLS,
    ErrorCode,
    Request,
    ToolError,
    error_line,
    ok_line,
)

log = logging.getLogger(__name__)


def answer(conn: sqlite3.Connection, run: RunIdentity, req: Request) -> bytes:
    """The answer line of an authenticated request (the token was checked by the caller), a
    span of the run's trace (tracing on); what the call stores continues the call's span."""
    span = tracing.start("gated.tool", run.traceparent, attributes={"tool": req.tool[:64]})
    if span is not None:
        run = replace(run, traceparent=tracing.traceparent(span))
    outcome = _answer(conn, run, req)
    if isinstance(outcome, ToolError):
        tracing.end(span, outcome.code)
        return error_line(req.call_id, outcome)
    tracing.end(span)
    return ok_line(req.call_id, outcome)


def _answer(conn: sqlite3.Connection, run: RunIdentity, req: Request) -> object:
    """The call's result, or the ToolError it is answered with."""
    if req.tool == LIST_TOOLS:
        settings = store.folder_settings(conn, run.folder)
        listed = [t.listing() for t in TOOLS.values() if settings.grants_operator or not t.operator]
        return {"tools": listed}
    prior = audit.find_call(conn, run.run_id, req.call_id)
    if prior is not None:
        if prior.status == "ok":
            return prior.result_value()
        code = cast(ErrorCode, prior.error_code or "failed")
        return ToolError(code, prior.error or "")
    started_at = store.now_iso()
    t0 = time.perf_counter()
    try:
        result, replay_of = _carry_out(conn, run, req, started_at, t0)
    except ToolError as err:
        _record_error(conn, run, req, err, started_at, t0)
        log.info(
            "tool call refused folder=%s run=%d tool=%s code=%s argument=%s: %s",
            run.folder, run.run_id, req.tool, err.code, err.argument, err.message,
        )  # fmt: skip
        return err
    except Exception:
        log.exception("tool call failed folder=%s run=%d tool=%s", run.folder, run.run_id, req.tool)
        failed = ToolError("failed", f"{req.tool} failed inside gated; see gated's log")
        _record_error(conn, run, req, failed, started_at, t0)
        return failed
    log.info(
        "tool call folder=%s run=%d tool=%s ms=%.1f%s",
        run.folder, run.run_id, req.tool, (time.perf_counter() - t0) * 1000,
        f" repeated_from={replay_of}" if replay_of else "",
    )  # fmt: skip
    return result


def _tool(conn: sqlite3.Connection, run: RunIdentity, name: str) -> tuple[Tool, CallContext]:
    tool = TOOLS.get(name)
    if tool is None:
        raise ToolError(
            "unknown_tool", f"no tool {name!r}; the tools are {', '.join(TOOLS)}", "tool"
        )
    settings = store.folder_settings(conn, run.folder)
    if tool.operator and not settings.grants_operator:
        raise ToolError("refused", f"{name} is for operator groups (grants.operator)", "tool")
    return tool, CallContext(conn, run, settings, effect_id="")


def _carry_out(
    conn: sqlite3.Connection, run: RunIdentity, req: Request, started_at: str, t0: float
) -> tuple[object, int | None]:
    """The call's result and, when an earlier attempt of the batch did it, that call's id."""
    tool, ctx = _tool(conn, run, req.tool)
    args = parse_args(tool.args, req.args)
    if not tool.effect:
        result = tool.run(ctx, args)
        _record_ok(conn, run, req, result, started_at, t0)
        return result, None
    with store.tx(conn):
        n = audit.effects_of_run(conn, run.run_id, tool.name)
        key = f"{run.work_key}:{run.batch_end}:{tool.name}:{n}"
        earlier = audit.by_effect(conn, key)
        if earlier is not None:
            # An earlier attempt of this batch (gated restarted, the run was retried) already
            # did this: answer as it was answered, do nothing again.
            result = earlier.result_value()
            _record_ok(conn, run, req, result, started_at, t0, replay_of=earlier.id)
            return result, earlier.id
        ctx = CallContext(conn, run, ctx.settings, effect_id=f"tool:{key}")
        result = tool.run(ctx, args)
        _record_ok(conn, run, req, result, started_at, t0, effect_key=key)
        return result, None


def _record_ok(
    conn: sqlite3.Connection,
    run: RunIdentity,
    req: Request,
    result: object,
    started_at: str,
    t0: float,
    *,
    effect_key: str | None = None,
    replay_of: int | None = None,
) -> None:
    audit.record(
        conn,
        run_id=run.run_id,
        call_id=req.call_id,
        tool=req.tool,
        args=req.args,
        started_at=started_at,
        duration_ms=(time.perf_counter() - t0) * 1000,
        result=result,
        effect_key=effect_key,
        replay_of=replay_of,
    )


def _record_error(
    conn: sqlite3.Connection,
    run: RunIdentity,
    req: Request,
    err: ToolError,
    started_at: str,
    t0: float,
) -> None:
    try:
        audit.record(
            conn,
            run_id=run.run_id,
            call_id=req.call_id,
            tool=req.tool[:64],
            args=req.args,
            started_at=started_at,
            duration_ms=(time.perf_counter() - t0) * 1000,
            error_code=err.code,
            error=err.message[:2000],
        )
    except sqlite3.Error:
        log.exception("cannot record a refused tool call run=%d", run.run_id)
