"""`switchboard up --with telegram` and `switchboard doctor` with the real switchboard-telegram
against the Telegram stand-in (services/platforms/tests/telegram_standin.py) and a real gated:
the adapter registers and answers, its token and the channel secret travel in environments only,
a refused token stops `up` with the adapter's reason, and doctor says what works and what not.
One `up --with slack,discord,matrix` does the same for the other three (their stand-ins, and the
real Synapse for Matrix), one of the tokens from the secret store."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import store
from discord_process import DISCORD_TOKEN
from discord_standin import CHANNEL_ID as DISCORD_CHANNEL
from discord_standin import DiscordStandin
from matrix_adapter import MatrixWorld
from slack_standin import APP_TOKEN as SLACK_APP_TOKEN
from slack_standin import BOT_TOKEN as SLACK_BOT_TOKEN
from slack_standin import CHANNEL as SLACK_CHANNEL
from slack_standin import TEAM as SLACK_TEAM
from slack_standin import SlackStandin
from telegram_process import TOKEN
from telegram_standin import TelegramStandin
from testkit import wait_for
from testkit.synapse import Synapse
from testkit.up_process import UpProcess

BIN = Path(sys.executable).parent
CLEAN = (
    "SWITCHBOARD_DB",
    "NOTIFY_SOCKET",
    "SWITCHBOARD_LISTEN",
    "SWITCHBOARD_GATED_URL",
    "SWITCHBOARD_CHANNEL_SECRET",
    "TELEGRAM_BOT_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "DISCORD_BOT_TOKEN",
    "MATRIX_ACCESS_TOKEN",
)
OUTBOX_SQL = (
    "SELECT m.chat_jid, o.status FROM outbox o JOIN messages m ON m.seq = o.seq ORDER BY o.seq"
)


@pytest.fixture
def gated_port(free_port: Callable[[], int]) -> int:
    return free_port()


@pytest.fixture
def clean_env(gated_port: int) -> dict[str, str]:
    """This process's environment less any Switchboard setting or token, gated on a free port."""
    out = {k: v for k, v in os.environ.items() if k not in CLEAN}
    out["SWITCHBOARD_LISTEN"] = f"127.0.0.1:{gated_port}"
    return out


@pytest.fixture
def env(clean_env: dict[str, str], telegram: TelegramStandin) -> dict[str, str]:
    """The environment of the Telegram tests: the stand-in as Telegram."""
    return {
        **clean_env,
        "TELEGRAM_API_URL": telegram.api_url,
        "TELEGRAM_FILE_URL": telegram.file_url,
        "TELEGRAM_POLL_TIMEOUT": "1",
    }


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[Callable[..., UpProcess]]:
    started: list[UpProcess] = []
    seen: set[int] = set()

    def start(*args: str, env: dict[str, str]) -> UpProcess:
        up = UpProcess.start(["--only", "gated", *args], cwd=tmp_path, env=env)
        started.append(up)
        return up

    yield start
    for up in started:
        seen.update(children(up.proc.pid))
        up.stop()
    for pid in seen:  # nothing may outlive the test, even when it failed half-way
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def cli(
    tmp_path: Path, env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "switchboard"), *args],
        cwd=tmp_path,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def children(pid: int) -> dict[int, list[str]]:
    """pid -> argv of the live processes whose parent is `pid`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(stat[1]) == pid and stat[0] != "Z":
            found[int(entry.name)] = [a.decode(errors="replace") for a in argv if a]
    return found


def child_running(up: UpProcess, script: str) -> int:
    """The pid of `up`'s child that runs the console script `script` (exec'd by now)."""
    for pid, argv in children(up.proc.pid).items():
        if "-c" not in argv and any(a.endswith(f"/{script}") for a in argv):
            return pid
    raise AssertionError(f"no child of up runs {script}: {children(up.proc.pid)}")


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode(errors="replace").partition("=") for item in raw if item)
    return {k: v for k, _, v in pairs}


def cmdline_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_up_with_telegram_registers_the_adapter_and_the_echo_comes_back(
    tmp_path: Path,
    env: dict[str, str],
    telegram: TelegramStandin,
    start_up: Callable[..., UpProcess],
) -> None:
    assert cli(tmp_path, env, "group", "add", "tg:42", "tgdemo").returncode == 0
    up = start_up("--with", "telegram", env={**env, "TELEGRAM_BOT_TOKEN": TOKEN})
    up.wait_for_banner()
    text = up.text()
    assert re.search(r"^up\s+\| Switchboard is up: gated, telegram on ", text, re.M), text
    assert re.search(
        r"^up\s+\|\s+telegram:\s+registered with gated as channel tg at \d\d:\d\d:\d\d UTC "
        r"\(http://127\.0\.0\.1:\d+\)$",
        text,
        re.M,
    ), text
    assert re.search(r"^telegram \| .*registered with gated channel=tg", text, re.M), text

    telegram.user_message(42, "hello from telegram")
    replies = wait_for(telegram.messages, 60, "the echo reply at the Telegram stand-in")
    assert [(m["chat_id"], m["text"]) for m in replies] == [("42", "echo: hello from telegram")]

    # A channel secret made for this run: gated and the adapter have it, nobody saw it.
    adapter = child_running(up, "switchboard-telegram")
    gated = child_running(up, "gated")
    secret = environ_of(gated)["SWITCHBOARD_CHANNEL_SECRET"]
    assert len(secret) >= 40
    assert environ_of(adapter)["SWITCHBOARD_CHANNEL_SECRET"] == secret
    assert "TELEGRAM_BOT_TOKEN" not in environ_of(gated)  # a token reaches its adapter only
    for pid in (adapter, gated):
        assert secret not in cmdline_of(pid)
    assert secret not in up.text()
    assert environ_of(adapter)["SWITCHBOARD_TELEGRAM_STATE_DIR"] == str(tmp_path / "data/telegram")
    assert (tmp_path / "data/telegram/adapter.db").exists()

    pids = list(children(up.proc.pid))
    up.proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert up.proc.wait(timeout=40) == 0, up.text()
    assert not [p for p in pids if alive(p)]
    assert "telegram | " in up.text()
    assert up.text().rstrip().endswith("all stopped")


def test_a_token_from_the_secret_store_goes_to_the_adapter_by_environment_only(
    tmp_path: Path,
    env: dict[str, str],
    telegram: TelegramStandin,
    start_up: Callable[..., UpProcess],
) -> None:
    stored = cli(
        tmp_path, env, "secret", "set", "telegram-bot-token", "--expose", "adapter", stdin=TOKEN
    )
    assert stored.returncode == 0, stored.stderr
    assert "never given to an agent" in stored.stdout
    up = start_up("--with", "telegram", env=env)
    up.wait_for_banner()
    adapter = child_running(up, "switchboard-telegram")
    assert TOKEN not in cmdline_of(adapter)
    assert environ_of(adapter)["TELEGRAM_BOT_TOKEN"] == TOKEN
    assert TOKEN not in environ_of(child_running(up, "gated")).values()

    # doctor sees it all working: gated, the adapter's /health, the token (from the store).
    doctor = cli(tmp_path, env, "doctor")
    out = doctor.stdout
    assert re.search(r"^telegram gated\s+ok \(http://127\.0\.0\.1:\d+\)$", out, re.M), out
    assert re.search(r"^telegram adapter\s+ok \(http://127\.0\.0\.1:\d+; gated's last", out, re.M)
    assert re.search(
        r"^telegram token\s+ok: @switchboard_test_bot \(secret telegram-bot-token\)$", out, re.M
    ), out
    assert not re.search(r"^(PROBLEM|WARNING): telegram", out, re.M), out
    assert TOKEN not in out + doctor.stderr
    assert TOKEN not in up.text()

    assert up.stop() == 0, up.text()


def test_a_token_telegram_refuses_stops_up_with_the_adapters_reason(
    tmp_path: Path, env: dict[str, str], start_up: Callable[..., UpProcess]
) -> None:
    up = start_up("--with", "telegram", env={**env, "TELEGRAM_BOT_TOKEN": "999:refused"})
    assert up.proc.wait(timeout=60) == 1
    assert up.eof.wait(timeout=10)
    text = up.text()
    assert "Telegram rejected the bot token (401 on getMe): check TELEGRAM_BOT_TOKEN" in text
    assert "telegram refused its settings (exit code 2" in text
    # Its last lines are repeated under the reason.
    assert re.search(r"^up\s+\|\s+telegram: .*Telegram rejected the bot token", text, re.M), text
    assert "restarting" not in text
    assert "999:refused" not in text


def test_without_a_token_up_says_how_to_give_one_and_starts_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    proc = cli(tmp_path, env, "up", "--with", "slack,telegram")
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: slack: no token: set SLACK_BOT_TOKEN or `switchboard secret set slack-bot-token "
        "--expose adapter`; and set SLACK_APP_TOKEN or `switchboard secret set slack-app-token "
        "--expose adapter`\n"
    )
    assert not (tmp_path / "data").exists()
    matrix = cli(tmp_path, {**env, "MATRIX_ACCESS_TOKEN": "syt_x"}, "up", "--with", "matrix")
    assert matrix.returncode == 2
    assert matrix.stderr == (
        "error: matrix: SWITCHBOARD_MATRIX_HOMESERVER is not set (the platform's URL)\n"
    )
    assert not (tmp_path / "data").exists()


def test_up_refuses_an_unknown_adapter(tmp_path: Path, env: dict[str, str]) -> None:
    proc = cli(tmp_path, env, "up", "--with", "telegram,whatsapp")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "'whatsapp' is not a chat adapter" in proc.stderr
    assert not (tmp_path / "data").exists()


def test_doctor_fails_on_a_refused_token_and_on_gated_down(
    tmp_path: Path, env: dict[str, str], telegram: TelegramStandin, gated_port: int
) -> None:
    assert cli(tmp_path, env, "init").returncode == 0
    doctor = cli(tmp_path, {**env, "TELEGRAM_BOT_TOKEN": "999:refused"}, "doctor")
    out = doctor.stdout
    assert doctor.returncode == 1, out
    assert re.search(r"^telegram gated\s+DOWN at http://127\.0\.0\.1:\d+$", out, re.M), out
    assert f"PROBLEM: telegram: gated does not answer at http://127.0.0.1:{gated_port} (" in out
    assert re.search(r"^telegram token\s+REFUSED \(TELEGRAM_BOT_TOKEN\)$", out, re.M), out
    assert (
        "PROBLEM: telegram: Telegram refused TELEGRAM_BOT_TOKEN (401 on getMe); set "
        "TELEGRAM_BOT_TOKEN or `switchboard secret set telegram-bot-token --expose adapter` "
        "with a valid one"
    ) in out
    assert re.search(r"^telegram adapter\s+not registered with gated$", out, re.M), out
    assert "WARNING: telegram: a token is set here, but no telegram adapter registered" in out
    assert "999:refused" not in out
    assert out.rstrip().splitlines()[-1].startswith("doctor: ")
    # Nothing configured: no adapter lines at all.
    quiet = cli(tmp_path, env, "doctor").stdout
    assert not re.search(r"^telegram ", quiet, re.M), quiet
    conn = store.connect(tmp_path / "data" / "messages.db", readonly=True)
    try:
        assert conn.execute("SELECT COUNT(*) FROM channels").fetchone()[0] == 0
    finally:
        conn.close()


def test_up_with_slack_discord_and_matrix_answers_each_platform_once(
    tmp_path: Path,
    clean_env: dict[str, str],
    slack: SlackStandin,
    discord_cloud: DiscordStandin,
    synapse: Synapse,
    start_up: Callable[..., UpProcess],
) -> None:
    """One `up` runs the three adapters: a message in on each platform (Slack and Discord
    stand-ins, a real Synapse) gets the echo agent's reply there once. Discord's token comes
    from the secret store; no token is in any child's argv."""
    world = MatrixWorld.fresh(synapse, tmp_path)
    room = asyncio.run(room_with(world))
    chats = {
        "slack": f"slack:{SLACK_TEAM}:{SLACK_CHANNEL}",
        "discord": f"discord:{DISCORD_CHANNEL}",
        "matrix": f"matrix:{room}",
    }
    for name, jid in chats.items():
        added = cli(tmp_path, clean_env, "group", "add", jid, f"{name}demo")
        assert added.returncode == 0, added.stderr
    stored = cli(
        tmp_path,
        clean_env,
        "secret",
        "set",
        "discord-bot-token",
        "--expose",
        "adapter",
        stdin=DISCORD_TOKEN,
    )
    assert stored.returncode == 0, stored.stderr
    tokens = {
        "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
        "SLACK_APP_TOKEN": SLACK_APP_TOKEN,
        "MATRIX_ACCESS_TOKEN": world.bot.access_token,
    }
    platforms = {
        "SLACK_API_URL": slack.api_url,
        "SLACK_FILES_URL": slack.files_url,
        "SWITCHBOARD_DISCORD_API_BASE": discord_cloud.api_base,
        "SWITCHBOARD_MATRIX_HOMESERVER": synapse.url,
        "SWITCHBOARD_MATRIX_USER": world.bot.user_id,
        "SWITCHBOARD_MATRIX_SYNC_TIMEOUT": "500",
    }
    up = start_up("--with", "slack,discord,matrix", env={**clean_env, **tokens, **platforms})
    up.wait_for_banner()
    for name, channel in (("slack", "slack"), ("discord", "discord"), ("matrix", "matrix")):
        up.wait_for_line(rf"^up\s+\|\s+{name}:\s+registered with gated as channel {channel} ")
    up.wait_for_line(r"^slack\s+\| .*socket mode connected")
    up.wait_for_line(r"^discord\s+\| .*connected to Discord as ")

    slack.user_message("hello from slack")
    discord_cloud.user_message("hello from discord")
    matrix_reply = asyncio.run(say_in_room(world, room, "hello from matrix"))
    slack_replies = wait_for(slack.posted, 60, "the echo reply at Slack")
    discord_replies = wait_for(discord_cloud.posted, 60, "the echo reply at Discord")
    assert matrix_reply == "echo: hello from matrix"
    # Every reply marked sent, nothing left to send: what reached each platform is final.
    db = tmp_path / "data" / "messages.db"
    wait_for(lambda: outbox(db) == {jid: ["sent"] for jid in chats.values()}, 30, "all sent")
    assert [(m["channel"], m["text"]) for m in slack.posted()] == [
        (SLACK_CHANNEL, "echo: hello from slack")
    ]
    assert slack_replies == slack.posted()
    assert [c["json"]["content"] for c in discord_cloud.posted()] == ["echo: hello from discord"]
    assert discord_replies == discord_cloud.posted()
    assert asyncio.run(bot_messages(world, room)) == ["echo: hello from matrix"]

    # Each adapter has its own token(s) by environment, none in anyone's argv.
    pids = {name: child_running(up, f"switchboard-{name}") for name in chats}
    pids["gated"] = child_running(up, "gated")
    assert environ_of(pids["discord"])["DISCORD_BOT_TOKEN"] == DISCORD_TOKEN
    assert environ_of(pids["slack"])["SLACK_APP_TOKEN"] == SLACK_APP_TOKEN
    assert environ_of(pids["matrix"])["MATRIX_ACCESS_TOKEN"] == world.bot.access_token
    assert "DISCORD_BOT_TOKEN" not in environ_of(pids["slack"])
    assert "SLACK_BOT_TOKEN" not in environ_of(pids["matrix"])
    every = [DISCORD_TOKEN, *tokens.values()]
    assert not set(every) & set(environ_of(pids["gated"]).values())
    for pid in children(up.proc.pid):
        assert not [t for t in every if t in cmdline_of(pid)], cmdline_of(pid)
    assert not [t for t in every if t in up.text()]

    up.proc.send_signal(signal.SIGINT)
    assert up.proc.wait(timeout=40) == 0, up.text()
    assert not [p for p in pids.values() if alive(p)]
    assert up.text().rstrip().endswith("all stopped")


async def room_with(world: MatrixWorld) -> str:
    """A room the person made, the bot invited."""
    async with world.human() as human:
        return await human.create_room(invite=(world.bot.user_id,), name="Up")


async def say_in_room(world: MatrixWorld, room: str, text: str) -> str:
    """Once the bot has joined, the person says `text`; the bot's next message there."""
    async with world.human() as human:
        await human.wait_for_member(room, world.bot.user_id, timeout=60)
        await human.send_text(room, text)
        reply = await human.wait_for_message(world.bot.user_id, room_id=room, timeout=60)
        return reply.body


async def bot_messages(world: MatrixWorld, room: str) -> list[str]:
    """Everything the bot said in the room, as a fresh client of the person syncs it."""
    async with world.human() as human:
        return [m.body for m in await human.messages_from(world.bot.user_id, room)]


def outbox(db: Path) -> dict[str, list[str]]:
    """chat jid -> the statuses of its replies in gated's outbox, oldest first."""
    conn = store.connect(db, readonly=True)
    try:
        rows = conn.execute(OUTBOX_SQL).fetchall()
    finally:
        conn.close()
    found: dict[str, list[str]] = {}
    for jid, status in rows:
        found.setdefault(jid, []).append(status)
    return found
