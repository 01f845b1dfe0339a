"""The rules of the adapter protocol (docs/channels.md), each a small function that drives the
adapter through a `Probe` and returns PASS or FAIL with a one-line detail, run in order by
`run_rules`. A rule the adapter's protocol or capabilities do not call for is n/a."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import httpx
import store
from gated.delivery import RETRY_STATUSES, remote_id
from gated.registration import MIN_SEND_SECRET, SEND_SECRET_RE

from switchboard.adaptercheck.errors import SayFailed
from switchboard.adaptercheck.polling import wait_until
from switchboard.adaptercheck.probe import Auth, Probe

Result = Literal["PASS", "FAIL", "n/a"]
Outcome = tuple[Result, str]
Need = Literal["1.1", "typing", "files_in", "files_out"]

# How long gated stays down in the "gated down and back" rule: long enough for the adapter to
# meet it down, short enough that a bounded back-off tries again soon after.
DOWN_S: Final = 1.5
FILE_NAME: Final = "adapter-check.txt"


@dataclass(frozen=True, slots=True)
class Row:
    rule: str
    result: Result
    detail: str


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    run: Callable[[Probe], Outcome]
    summary: str  # what passing means, for `--help` and the docs
    needs: Need | None = None  # protocol 1.1, or a capability the adapter registered


def passed(detail: str) -> Outcome:
    return "PASS", detail


def failed(detail: str) -> Outcome:
    return "FAIL", detail


def elapsed(since: float) -> str:
    return f"{time.monotonic() - since:.1f} s"


def answered(resp: httpx.Response) -> str:
    return f"{resp.status_code} {resp.text[:80]!r}" if resp.text else str(resp.status_code)


# -- the rules --------------------------------------------------------------------------------


def registration(p: Probe) -> Outcome:
    channel = wait_until(p.find_channel, p.timeout)
    if channel is None:
        return failed(
            f"no adapter registered channel {p.prefix!r} (of {p.chat_jid}) in {p.timeout:g} s"
        )
    p.channel = channel
    caps = channel.capabilities
    if channel.protocol != "1.1" or caps is None:
        return passed(f"protocol 1.0 at {channel.url}: the 1.1-only rules are n/a")
    secret = channel.send_secret or ""
    if len(secret) < MIN_SEND_SECRET or not SEND_SECRET_RE.fullmatch(secret):
        return failed(f"send_secret is not {MIN_SEND_SECRET}+ URL-safe characters")
    offers = [
        name
        for name in ("files_in", "files_out", "threads", "typing", "edits")
        if getattr(caps, name)
    ]
    return passed(
        f"protocol 1.1 at {channel.url}: max_text {p.max_text}, format {caps.format}, "
        f"{', '.join(offers) or 'no files, threads or typing'}"
    )


def health(p: Probe) -> Outcome:
    # A just-started adapter may still be connecting to its platform: it has until --timeout.
    started = time.monotonic()
    answers: list[httpx.Response] = []

    def healthy() -> bool:
        answers.append(p.call("GET", "/health"))
        return answers[-1].is_success

    if wait_until(healthy, p.timeout):
        late = f" after {elapsed(started)}" if len(answers) > 1 else ""
        return passed(f"GET /health answered {answers[-1].status_code}{late}")
    return failed(f"GET /health with the send secret answered {answered(answers[-1])}")


def needs_secret(
    method: str, path: str, body: Callable[[Probe], object]
) -> Callable[[Probe], Outcome]:
    """A rule: `method path` without the send secret, and with a wrong one, is a 401."""

    def rule(p: Probe) -> Outcome:
        answers: dict[Auth, int] = {}
        for auth in ("none", "wrong"):
            answers[auth] = p.call(method, path, auth=auth, body=body(p)).status_code
        if all(status == 401 for status in answers.values()):
            return passed(f"{method} {path}: 401 without the secret and with a wrong one")
        return failed(
            f"{method} {path} answered {answers['none']} without the secret, "
            f"{answers['wrong']} with a wrong one (want 401)"
        )

    return rule


def a_send(p: Probe) -> object:
    """A valid /send: an adapter that takes it without the secret really posts it."""
    nonce = p.nonce()
    return p.send_body(f"adapter check: must not be shown {nonce}", f"out:check-{nonce}:1")


def a_typing(p: Probe) -> object:
    return {"chat_jid": p.chat_jid, "thread_id": None}


def inbound(p: Probe) -> Outcome:
    nonce = p.nonce()
    text = f"adapter check inbound {nonce}"
    started = time.monotonic()
    p.say(text)
    found = wait_until(lambda: p.posted(nonce), p.timeout)
    if not found:
        elsewhere = p.posted_elsewhere(nonce)
        where = f"; it arrived in {', '.join(elsewhere)}" if elsewhere else ""
        return failed(f"{text!r} did not reach gated in {p.chat_jid} in {p.timeout:g} s{where}")
    msg = p.inbound = found[0]
    p.inbound_nonce = nonce
    if not msg.sender:
        return failed(f"message seq {msg.seq} arrived without a sender")
    if msg.source != p.adapter.name:
        return failed(f"message seq {msg.seq} came from channel {msg.source!r}")
    return passed(f"arrived in {elapsed(started)} as seq {msg.seq}, sender {msg.sender!r}")


def reply(p: Probe) -> Outcome:
    if p.inbound is None:
        return "n/a", "needs the inbound rule's message"
    nonce = p.inbound_nonce
    started = time.monotonic()

    def settled() -> tuple[int, str, str | None, str | None] | None:
        for msg in p.replies(nonce):
            row = p.outbox(msg.seq)
            if row is not None and row.status in ("sent", "dead"):
                return msg.seq, row.status, row.remote_id, row.last_error
        return None

    done = wait_until(settled, p.timeout)
    if done is None:
        return failed(f"the echo reply was not delivered in {p.timeout:g} s")
    seq, status, remote_id, error = done
    if status == "dead":
        return failed(f"/send of reply seq {seq} failed for good: {error}")
    rid = f"remote_id {remote_id!r}" if remote_id else "no remote_id (optional)"
    return passed(f"reply seq {seq} delivered in {elapsed(started)}, {rid}")


def repeated_key(p: Probe) -> Outcome:
    nonce = p.nonce()
    body = p.send_body(f"adapter check: shown once {nonce}", f"out:check-{nonce}:1")
    first, second = p.call("POST", "/send", body=body), p.call("POST", "/send", body=body)
    if not (first.is_success and second.is_success):
        return failed(f"/send answered {answered(first)}, then {answered(second)}")
    ids = [remote_id(first), remote_id(second)]
    if ids[0] != ids[1]:
        return failed(f"the repeat answered remote_id {ids[1]!r}, not {ids[0]!r}: posted twice")
    if ids[0] is None:
        return passed("both 2xx; no remote_id, so a second post cannot be seen")
    return passed(f"both 2xx with remote_id {ids[0]!r}")


def oversized_text(p: Probe) -> Outcome:
    size = p.max_text + 1
    nonce = p.nonce()
    resp = p.call("POST", "/send", body=p.send_body("x" * size, f"out:check-{nonce}:1"))
    status = resp.status_code
    if resp.is_success:
        return failed(
            f"{size} characters (max_text {p.max_text}) answered {status}: cut or sent, not refused"
        )
    if status >= 500 or status in RETRY_STATUSES or status == 401:
        return failed(f"{size} characters answered {answered(resp)}: want 413")
    return passed(f"{size} characters (max_text {p.max_text}) refused with {status}")


def file_out(p: Probe) -> Outcome:
    nonce = p.nonce()
    data = f"adapter check file {nonce}\n".encode()
    body = p.send_body(
        f"adapter check file out {nonce}", f"out:check-{nonce}:1", [p.attachment(FILE_NAME, data)]
    )
    resp = p.call("POST", "/send", body=body)
    if resp.is_success:
        return passed(f"/send with a {len(data)}-byte file answered {resp.status_code}")
    return failed(f"/send with a {len(data)}-byte file answered {answered(resp)}")


def file_in(p: Probe) -> Outcome:
    nonce = p.nonce()
    data = f"adapter check file {nonce}\n".encode()
    path = p.workdir / FILE_NAME
    path.write_bytes(data)
    digest = Probe.attachment(FILE_NAME, data)["sha256"]
    started = time.monotonic()
    p.say(f"adapter check file in {nonce}", path)

    def stored() -> bool:
        return any(
            a.get("file") == digest for m in p.messages() if not m.is_from_me for a in m.attachments
        )

    if not wait_until(stored, p.timeout):
        return failed(f"no message with the file (sha256 {digest[:12]}…) in {p.timeout:g} s")
    size = p.stored_file_size(digest)
    if size != len(data):
        return failed(f"the message names the file, but gated stored {size} bytes of it")
    return passed(f"arrived in {elapsed(started)}, {len(data)} bytes stored, sha256 matches")


def typing(p: Probe) -> Outcome:
    resp = p.call("POST", "/typing", body=a_typing(p))
    if resp.is_success:
        return passed(f"POST /typing answered {resp.status_code}")
    return failed(f"POST /typing answered {answered(resp)}")


def gated_down_and_back(p: Probe) -> Outcome:
    nonce = p.nonce()
    text = f"adapter check while gated is down {nonce}"
    p.gated.stop()
    try:
        p.say(text)
        time.sleep(DOWN_S)  # the outage under test, not a wait for something
    finally:
        p.gated.start()
    back, back_at = time.monotonic(), store.utcnow()
    if not wait_until(lambda: p.posted(nonce), p.timeout):
        return failed(f"said while gated was down; not posted in {p.timeout:g} s after it was back")
    if not wait_until(lambda: p.replies(nonce), p.timeout):
        return failed("posted after gated was back, but its echo reply was never stored")
    arrived = elapsed(back)
    count = len(p.posted(nonce))
    if count != 1:
        return failed(f"said once while gated was down, posted {count} times")
    if not wait_until(healthy_since(p, back_at), p.timeout):
        now = p.find_channel()
        state = f"{now.health} ({now.health_error})" if now else "unregistered"
        return failed(f"posted once, but gated's /health ping of the adapter says {state}")
    return passed(f"posted once, {arrived} after gated was back; gated's health ping: ok")


def healthy_since(p: Probe, since: datetime) -> Callable[[], object]:
    """True once one of gated's own pings, after `since`, found the adapter healthy."""

    def ok() -> object:
        channel = p.find_channel()
        checked = channel.health_checked_at if channel else None
        return channel and channel.health == "ok" and checked and store.parse_iso(checked) >= since

    return ok


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "registration",
        registration,
        "registers (1.1: a 32+ character send secret, "
        "valid capabilities; 1.0 is reported, its 1.1-only rows are n/a)",
    ),
    Rule("health", health, "GET /health with the send secret is 2xx (within --timeout)"),
    Rule(
        "send-needs-secret",
        needs_secret("POST", "/send", a_send),
        "POST /send without the secret, or with a wrong one, is 401",
        "1.1",
    ),
    Rule(
        "health-needs-secret",
        needs_secret("GET", "/health", lambda p: None),
        "GET /health without the secret, or with a wrong one, is 401",
        "1.1",
    ),
    Rule(
        "typing-needs-secret",
        needs_secret("POST", "/typing", a_typing),
        "POST /typing without the secret, or with a wrong one, is 401",
        "typing",
    ),
    Rule("inbound", inbound, "a user's message (--say) reaches gated in the chat, with a sender"),
    Rule("reply", reply, "the echo agent's reply is delivered by /send (2xx)"),
    Rule(
        "repeated-key",
        repeated_key,
        "/send twice with one idempotency_key: the same remote_id, posted once",
        "1.1",
    ),
    Rule(
        "oversized-text",
        oversized_text,
        "/send over capabilities.max_text is refused with a 4xx (413), not cut or sent",
        "1.1",
    ),
    Rule("file-out", file_out, "/send with an attachment is 2xx", "files_out"),
    Rule(
        "file-in",
        file_in,
        "a user's file (--say --file) reaches gated: stored, sha256 matches",
        "files_in",
    ),
    Rule("typing", typing, "POST /typing with the secret is 2xx", "typing"),
    Rule(
        "gated-down-and-back",
        gated_down_and_back,
        "a message said while gated is down is posted once when it is back; health ok again",
    ),
)


def not_applicable(rule: Rule, p: Probe) -> str | None:
    """Why `rule` does not apply to this adapter, or None when it does."""
    if p.channel is None:
        return "not run: no adapter registered"
    caps = p.channel.capabilities
    if rule.needs is None:
        return None
    if caps is None or p.channel.protocol != "1.1":
        return "protocol 1.0 adapter: a protocol 1.1 rule"
    if rule.needs != "1.1" and not getattr(caps, rule.needs):
        return f"capabilities.{rule.needs} is false"
    return None


def run_rules(p: Probe) -> Iterator[Row]:
    """Each rule's row, in order (the registration rule's first: the others need it)."""
    for rule in RULES:
        reason = None if rule.name == "registration" else not_applicable(rule, p)
        if reason is not None:
            yield Row(rule.name, "n/a", reason)
            continue
        try:
            result, detail = rule.run(p)
        except SayFailed as exc:
            result, detail = "FAIL", str(exc)
        except httpx.HTTPError as exc:
            result, detail = "FAIL", f"the adapter did not answer: {type(exc).__name__}: {exc}"
        yield Row(rule.name, result, detail)
