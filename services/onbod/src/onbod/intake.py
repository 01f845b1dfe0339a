"""What onbod does with one message from an unregistered chat, per policy. Runs inside the
daemon's transaction, so the row's change, the replies and the cursor commit together."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta

import store
from store import bus

from onbod import handoff, names, records, texts
from onbod.config import Config
from onbod.models import Onboarding

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
OPEN_DECIDER = "policy:open"


def may_prompt(last: str | None, now: datetime, interval_s: float) -> bool:
    """True when nothing was said since `last` for at least `interval_s` seconds."""
    return last is None or (now - store.parse_iso(last)).total_seconds() >= interval_s


class Intake:
    """Handles unregistered chats' messages for one daemon (one connection, one policy)."""

    def __init__(self, conn: sqlite3.Connection, config: Config) -> None:
        self.conn = conn
        self.config = config

    def handle(self, msg: store.Message, now: datetime) -> str:
        """Act on `msg` (inside the caller's transaction); return what was done, for the log."""
        row = records.get(self.conn, msg.chat_jid)
        if row is not None:
            records.count_message(self.conn, msg.chat_jid)
        if self.config.policy == "closed":
            return self._closed(row, msg, now)
        if self.config.policy == "open":
            return self._open(row, msg, now)
        return self._approval(row, msg, now)

    def _say(self, jid: str, text: str, *, folder: str | None = None) -> None:
        store.store_outbound(
            self.conn,
            jid,
            text,
            group_folder=folder,
            source=bus.ONBOARDING_SENDER,
            sender=bus.ONBOARDING_SENDER,
        )

    def _may_greet(self, now: datetime) -> bool:
        since = store.iso(now - HOUR)
        return records.greeted_since(self.conn, since) < self.config.max_greetings_per_hour

    # -- policy closed: record, never answer -------------------------------------------------

    def _closed(self, row: Onboarding | None, msg: store.Message, now: datetime) -> str:
        if row is None:
            records.insert(
                self.conn,
                msg.chat_jid,
                "ignored",
                first_seq=msg.seq,
                first_message=msg.content,
                now=store.iso(now),
                greeted=False,
            )
            return "recorded"
        return "ignored"

    # -- policy open: register at once -------------------------------------------------------

    def _open(self, row: Onboarding | None, msg: store.Message, now: datetime) -> str:
        jid, stamp = msg.chat_jid, store.iso(now)
        if row is not None and row.status in ("approved", "rejected"):
            return f"ignored ({row.status})"
        if row is None:
            records.insert(
                self.conn,
                jid,
                "ignored",
                first_seq=msg.seq,
                first_message=msg.content,
                now=stamp,
                greeted=False,
            )
            row = records.get(self.conn, jid)
            assert row is not None
        name = row.world_name if row.status == "pending" else None
        if name is None or handoff.taken_reason(self.conn, name, jid) is not None:
            name = handoff.generated_name(self.conn, jid)
        request = (row.first_seq, row.first_message)
        if row.status == "ignored" and row.first_seq != msg.seq:
            request = (msg.seq, msg.content)  # a chat recorded under 'closed' asks anew
        records.set_fields(
            self.conn,
            jid,
            row.status,
            status="approved",
            world_name=name,
            first_seq=request[0],
            first_message=request[1],
            decided_by=OPEN_DECIDER,
            decided_at=stamp,
        )
        handoff.make_group_dir(self.conn, name)
        handoff.register_world(self.conn, jid, name, request[0])
        log.info("registered jid=%s world=%s policy=open", jid, name)
        return "registered"

    # -- policy approval: name, then an operator decides -------------------------------------

    def _approval(self, row: Onboarding | None, msg: store.Message, now: datetime) -> str:
        jid, stamp = msg.chat_jid, store.iso(now)
        if row is None:
            greet = self._may_greet(now)
            records.insert(
                self.conn,
                jid,
                "awaiting_name",
                first_seq=msg.seq,
                first_message=msg.content,
                now=stamp,
                greeted=greet,
            )
            if greet:
                self._say(jid, texts.greeting())
                return "greeted"
            return "recorded (greeting cap reached)"
        if row.status == "ignored":
            greet = self._may_greet(now)
            records.set_fields(
                self.conn,
                jid,
                "ignored",
                prompted=greet,
                status="awaiting_name",
                first_seq=msg.seq,
                first_message=msg.content,
                greeted_at=stamp if greet else None,
            )
            if greet:
                self._say(jid, texts.greeting())
                return "greeted"
            return "recorded (greeting cap reached)"
        if row.status == "awaiting_name":
            if row.greeted_at is None:
                if not self._may_greet(now):
                    return "suppressed (greeting cap reached)"
                records.set_fields(self.conn, jid, "awaiting_name", prompted=True, greeted_at=stamp)
                self._say(jid, texts.greeting())
                return "greeted"
            return self._name_answer(row, msg, now)
        if row.status == "pending":
            last = row.reminded_at or row.requested_at
            if not may_prompt(last, now, self.config.reminder_interval_s):
                return "kept (pending)"
            records.set_fields(self.conn, jid, "pending", prompted=True, reminded_at=stamp)
            self._say(jid, texts.reminder(row.world_name or ""))
            return "reminded"
        return f"ignored ({row.status})"

    def _name_answer(self, row: Onboarding, msg: store.Message, now: datetime) -> str:
        jid, stamp = msg.chat_jid, store.iso(now)
        answer = msg.content.strip()
        problem = names.name_problem(answer)
        if problem is not None:
            reply, outcome = texts.invalid_name(answer, problem), "asked again (invalid)"
        elif handoff.taken_reason(self.conn, answer, jid) is not None:
            reply, outcome = texts.name_taken(answer), "asked again (taken)"
        elif (
            records.requested_since(self.conn, store.iso(now - HOUR))
            >= self.config.max_pending_per_hour
        ):
            reply, outcome = texts.too_many_requests(), "asked again (hourly cap)"
        else:
            records.set_fields(
                self.conn,
                jid,
                "awaiting_name",
                prompted=True,
                status="pending",
                world_name=answer,
                requested_at=stamp,
            )
            self._say(jid, texts.awaiting_approval(answer))
            self._notify_operators(jid, answer, row.first_message)
            log.info("pending jid=%s world=%s", jid, answer)
            return "pending"
        if not may_prompt(row.prompted_at, now, self.config.prompt_interval_s):
            return "rate-limited"
        records.set_fields(self.conn, jid, "awaiting_name", prompted=True, prompted_at=stamp)
        self._say(jid, reply)
        return outcome

    def _notify_operators(self, jid: str, name: str, first_message: str | None) -> None:
        operators = store.operator_groups(self.conn)
        if not operators:
            log.warning("no operator group to notify jid=%s world=%s", jid, name)
        for group in operators:
            notice = texts.operator_notice(jid, name, first_message)
            self._say(group.jid, notice, folder=group.folder)
