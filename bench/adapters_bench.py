"""Adapter overhead (issue 17): platform event -> agent start and -> reply at the platform,
p50/p99 per adapter, against a direct POST /v1/messages to the same gated in the same run; and
each adapter's RSS once registered and idle.

One real gated (temp db, its default sandbox) answers five chats with the echo agent, started
through `sh` so the agent's first instant is recorded (gated_bench's way of timing "agent
start"). `bench:direct` is the baseline: this process posts to /v1/messages and a minimal
local /send (gated_bench's reply_catcher) catches the reply. The others go through an adapter
process: switchboard-telegram, -slack and -discord against their stand-ins and switchboard-
matrix against a real Synapse, all from services/platforms/tests. Every route is sampled in
turn (ABBA order), each event only once gated is idle, so a figure is one event's latency.

Run: `uv run python bench/adapters_bench.py [--events N] [--warmup W] [--no-matrix]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import httpx
import store

PLATFORM_TESTS = Path(__file__).resolve().parents[1] / "services" / "platforms" / "tests"
sys.path.insert(0, str(PLATFORM_TESTS))

from adapter_process import PlatformAdapterProcess  # noqa: E402
from discord_process import DISCORD_TOKEN, DiscordAdapterProcess  # noqa: E402
from discord_standin import CHANNEL_ID, DiscordStandin  # noqa: E402
from gated_bench import percentile, reply_catcher  # noqa: E402
from matrix_adapter import MatrixWorld  # noqa: E402
from matrix_human import MatrixHuman, SeenMessage  # noqa: E402
from real_gated import RealGated  # noqa: E402
from slack_process import SlackAdapterProcess  # noqa: E402
from slack_standin import CHANNEL, TEAM, SlackStandin  # noqa: E402
from telegram_process import BIN, SECRET, TOKEN, AdapterProcess  # noqa: E402
from telegram_standin import TelegramStandin  # noqa: E402
from testkit import wait_for  # noqa: E402
from testkit.synapse import MatrixUser, Synapse  # noqa: E402

RESULTS: Final = Path(__file__).parent / "results" / "adapters.json"
TG_CHAT: Final = 42
STARTS: Final = "agent-starts.txt"  # in each group folder: the agent's cwd, inside the sandbox
# The echo agent, its first instant appended (wall clock) to STARTS in its folder.
AGENT: Final = ["/bin/sh", "-c", f'date +%s.%N >> {STARTS}; exec "{BIN}/switchboard-echo"']
REPLY_TIMEOUT_S: Final = 30.0
OBSERVER_SYNC_MS: Final = 1000
POLL_S: Final = 0.02
IDLE_SQL: Final = (
    "SELECT (SELECT COUNT(*) FROM session_log WHERE ended_at IS NULL)"
    " + (SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending'))"
)
# VmRSS = RssAnon (the process's own) + RssFile (mapped files: shared libraries, shared with
# every other process that maps them) + RssShmem.
RSS_KEYS: Final = ("VmRSS", "RssAnon", "RssFile")
TARGETS: Final = {"overhead_p50_ms": 20.0, "rss_idle_mb": 60.0}


def monotonic_of(wall: float) -> float:
    """A wall-clock instant (the agent's `date`, Synapse's origin_server_ts) on the monotonic
    clock the stand-ins stamp their calls with (CLOCK_MONOTONIC is one clock for all processes)."""
    return wall - (time.time() - time.monotonic())


class Route(Protocol):
    """One way in: `emit` a user's message as the platform would (from `sent_at` on, the
    monotonic instant taken just before); `instants` waits for the echo and returns when the
    platform emitted the event and when the reply reached the platform (monotonic)."""

    @property
    def name(self) -> str: ...

    @property
    def jid(self) -> str: ...

    @property
    def folder(self) -> str: ...

    def emit(self, text: str) -> None: ...

    def instants(self, text: str, sent_at: float) -> tuple[float, float]: ...


def first(found: Callable[[], float | None], what: str) -> float:
    at = wait_for(found, REPLY_TIMEOUT_S, what, interval=POLL_S)
    assert at is not None
    return at


@dataclass
class Direct:
    """The baseline: POST /v1/messages from here; the reply caught by a local /send."""

    http: httpx.Client
    gated: str
    token: str
    arrived: dict[str, float]  # reply text -> wall clock at the /send
    cond: threading.Condition
    name: str = "direct"
    jid: str = "bench:direct"
    folder: str = "direct"
    sent: int = 0

    def emit(self, text: str) -> None:
        self.sent += 1
        body = {"chat_jid": self.jid, "id": f"d{self.sent}", "content": text, "sender": "bench"}
        headers = {"Authorization": f"Bearer {self.token}"}
        self.http.post(f"{self.gated}/v1/messages", json=body, headers=headers).raise_for_status()

    def instants(self, text: str, sent_at: float) -> tuple[float, float]:
        with self.cond:
            if not self.cond.wait_for(lambda: f"echo: {text}" in self.arrived, REPLY_TIMEOUT_S):
                raise AssertionError(f"no reply to {text!r} at the local /send")
            return sent_at, monotonic_of(self.arrived[f"echo: {text}"])


@dataclass
class StandinRoute:
    """A platform stand-in. The user's message goes in through the stand-in's own wrapper; the
    event is queued at the platform when that call returns, the instant taken then (the
    wrappers open a client per call, ~35 ms of TLS set-up before the request is sent). The
    reply's instant is the stand-in's own stamp on the bot's call, polled over one kept-alive
    client: a fresh client per poll would load a core while the event is on its way."""

    name: str
    jid: str
    inject: Callable[[str], object]
    calls_url: str  # the control API's record of the bot's calls (a list, or {"calls": ...})
    is_reply: Callable[[dict[str, Any], str], bool]  # this call posted this text, and was taken
    http: httpx.Client
    queued_at: float = 0.0

    @property
    def folder(self) -> str:
        return self.name

    def emit(self, text: str) -> None:
        self.inject(text)
        self.queued_at = time.monotonic()

    def instants(self, text: str, sent_at: float) -> tuple[float, float]:
        def found() -> float | None:
            body = self.http.get(self.calls_url).json()
            calls = body["calls"] if isinstance(body, dict) else body
            hits = [c["at"] for c in calls if self.is_reply(c, f"echo: {text}")]
            return float(hits[0]) if hits else None

        return self.queued_at, first(found, f"the {self.name} bot posting the echo of {text!r}")


def telegram_route(cloud: TelegramStandin, http: httpx.Client) -> StandinRoute:
    return StandinRoute(
        "telegram",
        f"tg:{TG_CHAT}",
        lambda text: cloud.user_message(TG_CHAT, text),
        f"{cloud.url}/_test/sent",
        lambda c, text: c["method"] == "sendMessage" and "message_id" in c and c["text"] == text,
        http,
    )


def state_route(
    name: str,
    jid: str,
    cloud: SlackStandin | DiscordStandin,
    posted: Callable[[dict[str, Any], str], bool],
    http: httpx.Client,
) -> StandinRoute:
    """A stand-in that records the bot's calls under /_test/state (Slack's, Discord's); a
    user's message goes in by its `user_message`, `posted` says a call posted this text."""
    return StandinRoute(name, jid, cloud.user_message, f"{cloud.url}/_test/state", posted, http)


def slack_posted(c: dict[str, Any], text: str) -> bool:
    return (
        c["method"] == "chat.postMessage"
        and bool(c.get("answer", {}).get("ok"))
        and c["text"] == text
    )


def discord_posted(c: dict[str, Any], text: str) -> bool:
    return (
        c["route"] == "POST /channels/{id}/messages"
        and "message_id" in c
        and c["json"]["content"] == text
    )


def synapse_instant(message: SeenMessage) -> float:
    return monotonic_of(int(message.source["origin_server_ts"]) / 1000)


class SynapseObserver:
    """A third account in the room, a plain matrix-nio client long-polling /sync in a thread
    of its own: when each event reached it is Synapse's own delivery time, the part of the
    Matrix figure that is the homeserver's and not the adapter's."""

    def __init__(self, synapse: Synapse, user: MatrixUser, room_id: str) -> None:
        self.client = MatrixHuman(synapse.url, user.user_id, user.access_token)
        self.room_id = room_id
        self.reached: dict[str, float] = {}  # event id -> monotonic, when its /sync returned
        self.joined = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="synapse-observer", daemon=True)

    def run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.client.accept_invite(self.room_id, REPLY_TIMEOUT_S))
            self.joined.set()
            while not self.stopping.is_set():
                known = len(self.client.seen)
                loop.run_until_complete(self.client.sync_once(OBSERVER_SYNC_MS))
                now = time.monotonic()
                for message in self.client.seen[known:]:
                    self.reached[message.event_id] = now
        finally:
            loop.run_until_complete(self.client.client.close())
            loop.close()

    def start(self) -> SynapseObserver:
        self.thread.start()
        if not self.joined.wait(REPLY_TIMEOUT_S):
            raise AssertionError("the observer did not join the room")
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=OBSERVER_SYNC_MS / 1000 + 10)

    def delivered_at(self, event_id: str) -> float:
        return first(lambda: self.reached.get(event_id), f"event {event_id} at the observer")


@dataclass
class Matrix:
    """A person on the real Synapse. Both instants are Synapse's `origin_server_ts` (when it
    took the person's event, and the bot's reply): the client's own request is not counted.
    `synapse_ms` collects how long Synapse took to hand each event to a plain client."""

    human: MatrixHuman
    bot: str
    room_id: str
    loop: asyncio.AbstractEventLoop
    observer: SynapseObserver
    name: str = "matrix"
    folder: str = "matrix"
    sent: dict[str, str] = field(default_factory=dict)  # text -> the person's event id
    synapse_ms: list[float] = field(default_factory=list)

    @property
    def jid(self) -> str:
        return f"matrix:{self.room_id}"

    def emit(self, text: str) -> None:
        self.sent[text] = self.loop.run_until_complete(self.human.send_text(self.room_id, text))

    def instants(self, text: str, sent_at: float) -> tuple[float, float]:
        person = self.human.user_id
        reply = self.loop.run_until_complete(
            self.human.wait_for_message(
                self.bot,
                room_id=self.room_id,
                match=lambda m: m.body == f"echo: {text}",
                timeout=REPLY_TIMEOUT_S,
            )
        )
        event = self.loop.run_until_complete(
            self.human.wait_for_message(
                person,
                room_id=self.room_id,
                match=lambda m: m.event_id == self.sent[text],
                timeout=REPLY_TIMEOUT_S,
            )
        )
        emitted = synapse_instant(event)
        self.synapse_ms.append((self.observer.delivered_at(event.event_id) - emitted) * 1000)
        return emitted, synapse_instant(reply)


@dataclass
class Samples:
    start_ms: list[float] = field(default_factory=list)
    reply_ms: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        def p(values: list[float]) -> dict[str, float]:
            return {q: round(percentile(values, n), 1) for q, n in (("p50", 50), ("p99", 99))}

        return {
            "samples": len(self.reply_ms),
            "event_to_agent_start_ms": p(self.start_ms),
            "event_to_reply_ms": p(self.reply_ms),
        }


def idle(db: Path) -> bool:
    """No run going and no reply waiting: the next event is not queued behind the last."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        busy: int = conn.execute(IDLE_SQL).fetchone()[0]
    return busy == 0


def sample(route: Route, gated: RealGated, groups: Path, i: int) -> tuple[float, float]:
    """One event through `route` once gated is idle: (event -> agent start, event -> reply at
    the platform) in ms."""
    wait_for(lambda: idle(gated.db), REPLY_TIMEOUT_S, "gated to be idle", interval=POLL_S)
    text = f"ping {route.name} {i}"
    starts = groups / route.folder / STARTS
    before = len(starts.read_text().splitlines()) if starts.exists() else 0
    sent_at = time.monotonic()
    route.emit(text)
    t0, reply = route.instants(text, sent_at)
    new = wait_for(
        lambda: starts.read_text().splitlines()[before:], 10, f"the agent start of {text!r}"
    )
    return (monotonic_of(float(new[0])) - t0) * 1000, (reply - t0) * 1000


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    """`key` (VmRSS, VmHWM) of a process, from /proc/<pid>/status, in MB (2^20 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise AssertionError(f"no {key} for pid {pid}")


def register_direct(gated: RealGated, send_url: str) -> str:
    """The baseline's channel, protocol 1.1 like the adapters (so gated formats its replies
    the same way); its token."""
    reg = httpx.post(
        f"{gated.url}/v1/channels/register",
        json={
            "name": "bench",
            "url": send_url,
            "protocol": "1.1",
            "send_secret": "b" * 32,
            "capabilities": {"max_text": 4096, "format": "plain"},
        },
        headers={"Authorization": f"Bearer {SECRET}"},
        timeout=10,
    )
    reg.raise_for_status()
    return str(reg.json()["token"])


def measure(workdir: Path, events: int, warmup: int, idle_s: float, matrix: bool) -> dict[str, Any]:
    with ExitStack() as stack:
        telegram = TelegramStandin(TOKEN, workdir).start()
        stack.callback(telegram.stop)
        slack = SlackStandin(workdir).start()
        stack.callback(slack.stop)
        discord = DiscordStandin(DISCORD_TOKEN, workdir).start()
        stack.callback(discord.stop)
        control = stack.enter_context(httpx.Client(timeout=10))
        routes: list[Route] = [
            telegram_route(telegram, control),
            state_route("slack", f"slack:{TEAM}:{CHANNEL}", slack, slack_posted, control),
            state_route("discord", f"discord:{CHANNEL_ID}", discord, discord_posted, control),
        ]
        mx: tuple[MatrixWorld, Matrix] | None = None
        synapse_s = None
        if matrix:
            synapse = Synapse.start(workdir / "synapse")
            stack.callback(synapse.stop)
            synapse_s = round(synapse.startup_s, 1)
            world = MatrixWorld.fresh(synapse, workdir)
            watcher = synapse.register(f"observer-{secrets.token_hex(4)}", secrets.token_hex(12))
            loop = asyncio.new_event_loop()
            stack.callback(loop.close)
            human = world.human()
            stack.callback(lambda: loop.run_until_complete(human.client.close()))
            room = loop.run_until_complete(
                human.create_room(invite=(world.bot.user_id, watcher.user_id), name="bench")
            )
            observer = SynapseObserver(synapse, watcher, room).start()
            stack.callback(observer.stop)
            mx = (world, Matrix(human, world.bot.user_id, room, loop, observer))
            routes.append(mx[1])

        adapter_url, arrived, cond = stack.enter_context(reply_catcher())
        groups = {r.jid: r.folder for r in routes} | {"bench:direct": "direct"}
        gated = RealGated(workdir, groups, AGENT)
        stack.callback(gated.kill)
        gated.start()
        http = stack.enter_context(httpx.Client(timeout=10))
        direct = Direct(http, gated.url, register_direct(gated, adapter_url), arrived, cond)

        procs: dict[str, PlatformAdapterProcess] = {
            "telegram": AdapterProcess(workdir, telegram, gated.url),
            "slack": SlackAdapterProcess(workdir, slack, gated.url),
            "discord": DiscordAdapterProcess(workdir, discord, gated.url),
        }
        if mx is not None:
            procs["matrix"] = mx[0].adapter(gated.url)
        for proc in procs.values():
            proc.start()
            stack.callback(proc.kill)
        for proc in procs.values():
            proc.wait_logged("registered with gated")
        procs["slack"].wait_logged("socket mode connected")
        procs["discord"].wait_logged("connected to Discord", 30)
        if mx is not None:
            loop = mx[1].loop
            loop.run_until_complete(mx[1].human.wait_for_member(mx[1].room_id, mx[1].bot, 30))
        # The condition for the RSS figure: registered, then idle for a while.
        time.sleep(idle_s)
        pids = {name: p.proc.pid for name, p in procs.items() if p.proc is not None}
        rss_idle = {name: {k: rss_mb(pid, k) for k in RSS_KEYS} for name, pid in pids.items()}

        every: list[Route] = [direct, *routes]
        got = {r.name: Samples() for r in every}
        for i in range(warmup + events):
            for route in every if i % 2 == 0 else reversed(every):
                start_ms, reply_ms = sample(route, gated, workdir / "groups", i)
                if i >= warmup:
                    got[route.name].start_ms.append(start_ms)
                    got[route.name].reply_ms.append(reply_ms)
        rss_after = {name: rss_mb(pid) for name, pid in pids.items()}
        rss_peak = {name: rss_mb(pid, "VmHWM") for name, pid in pids.items()}
        for proc in procs.values():
            proc.stop()
        assert gated.stop() == 0, gated.log()[-2000:]

    base = got["direct"].figures()
    adapters: dict[str, Any] = {}
    for name in procs:
        fig = got[name].figures()
        fig["overhead_p50_ms"] = {
            k: round(fig[k]["p50"] - base[k]["p50"], 1)
            for k in ("event_to_agent_start_ms", "event_to_reply_ms")
        }
        fig["rss_mb"] = {
            "idle": rss_idle[name]["VmRSS"],
            "idle_anon": rss_idle[name]["RssAnon"],
            "idle_file": rss_idle[name]["RssFile"],
            "after_events": rss_after[name],
            "peak": rss_peak[name],
        }
        adapters[name] = fig
    if mx is not None:
        synapse_ms = mx[1].synapse_ms[warmup:]
        plain = {q: round(percentile(synapse_ms, n), 1) for q, n in (("p50", 50), ("p99", 99))}
        adapters["matrix"]["synapse_to_plain_client_ms"] = plain
        adapters["matrix"]["overhead_p50_ms_less_synapse"] = {
            k: round(v - plain["p50"], 1) for k, v in adapters["matrix"]["overhead_p50_ms"].items()
        }
    return {
        "events_per_route": events,
        "warmup_per_route": warmup,
        "idle_s": idle_s,
        "direct": base,
        "adapters": adapters,
        "matrix": f"real Synapse, started in {synapse_s} s" if matrix else "not measured",
        "targets": TARGETS,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200, help="measured events per route")
    p.add_argument("--warmup", type=int, default=10, help="events per route not counted")
    p.add_argument("--idle-s", type=float, default=5.0, help="idle time before the RSS reading")
    p.add_argument("--no-matrix", action="store_true", help="leave out Synapse and Matrix")
    args = p.parse_args()
    if args.events < 1 or args.warmup < 0 or args.idle_s < 0:
        p.error("--events must be ≥ 1, --warmup and --idle-s ≥ 0")
    result: dict[str, Any] = {
        "when": store.now_iso(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    # Outside /tmp, where deployments keep their data (a sandbox has a /tmp of its own).
    with tempfile.TemporaryDirectory(prefix="adapters-bench-", dir="/var/tmp") as tmp:
        started = time.monotonic()
        result |= measure(Path(tmp), args.events, args.warmup, args.idle_s, not args.no_matrix)
        result["seconds"] = round(time.monotonic() - started, 1)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    d = result["direct"]
    print(
        "| route | event→agent start p50 / p99 ms | event→reply p50 / p99 ms | overhead p50 ms "
        "(start, reply) | RSS idle MB |\n|---|---|---|---|---|"
    )
    for name, fig in [("direct POST", d), *result["adapters"].items()]:
        s, r = fig["event_to_agent_start_ms"], fig["event_to_reply_ms"]
        over = fig.get("overhead_p50_ms", {})
        print(
            f"| {name} | {s['p50']} / {s['p99']} | {r['p50']} / {r['p99']} | "
            f"{over.get('event_to_agent_start_ms', '–')}, {over.get('event_to_reply_ms', '–')} | "
            f"{fig.get('rss_mb', {}).get('idle', '–')} |"
        )
    mx = result["adapters"].get("matrix")
    if mx is not None:
        plain = mx["synapse_to_plain_client_ms"]
        print(
            f"\nmatrix: Synapse to a plain client's /sync p50 {plain['p50']} ms; "
            f"overhead p50 less that: {mx['overhead_p50_ms_less_synapse']}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {RESULTS} (measured in {result['seconds']} s)")


if __name__ == "__main__":
    main()
