"""doctor's token checks against each platform's stand-in (a real Synapse for Matrix): an
accepted token is an ok line naming whose it is, a refused one a problem saying what to do, an
unreachable platform a problem naming the variable to check; no line ever holds a token."""

from __future__ import annotations

import socket
from pathlib import Path

from discord_process import DISCORD_TOKEN
from discord_standin import BOT_ID, BOT_NAME, DiscordStandin
from slack_standin import APP_TOKEN, BOT_TOKEN, BOT_USER, TEAM, SlackStandin
from switchboard.adapter_checks import Configured, Finding, check_adapters
from switchboard.adapters import ADAPTERS, FoundToken
from telegram_process import TOKEN as TELEGRAM_TOKEN
from telegram_standin import TelegramStandin
from testkit.synapse import Synapse


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token_lines(name: str, tokens: dict[str, str], environ: dict[str, str]) -> list[Finding]:
    """doctor's token findings for adapter `name` holding `tokens` (given as variables)."""
    found = {env: FoundToken(env, value, env) for env, value in tokens.items()}
    environ = {"SWITCHBOARD_GATED_URL": f"http://127.0.0.1:{closed_port()}", **environ}
    findings = check_adapters([Configured(ADAPTERS[name], None, found, None)], environ)
    lines = [f for f in findings if f.check.startswith(f"{name} ") and "token" in f.check.lower()]
    for f in lines:
        for value in tokens.values():
            assert value not in f"{f.value} {f.problem} {f.warning}"
    return lines


def test_slack_tokens_are_asked_with_auth_test_and_apps_connections_open(
    slack: SlackStandin,
) -> None:
    env = {"SLACK_API_URL": slack.api_url}
    good = token_lines("slack", {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}, env)
    assert [(f.check, f.value, f.problem) for f in good] == [
        (
            "slack SLACK_BOT_TOKEN",
            f"ok: team {TEAM} as {BOT_USER} (SLACK_BOT_TOKEN)",
            None,
        ),
        ("slack SLACK_APP_TOKEN", "ok: Socket Mode allowed (SLACK_APP_TOKEN)", None),
    ]
    bad = token_lines(
        "slack", {"SLACK_BOT_TOKEN": "xoxb-revoked", "SLACK_APP_TOKEN": BOT_TOKEN}, env
    )
    assert [(f.value, f.problem) for f in bad] == [
        (
            "REFUSED (SLACK_BOT_TOKEN)",
            "slack: Slack refused SLACK_BOT_TOKEN (invalid_auth on auth.test); set "
            "SLACK_BOT_TOKEN or `switchboard secret set slack-bot-token --expose adapter` with a "
            "valid one",
        ),
        (
            "REFUSED (SLACK_APP_TOKEN)",
            "slack: SLACK_APP_TOKEN is not the right kind of token (it starts with xapp-); set "
            "SLACK_APP_TOKEN or `switchboard secret set slack-app-token --expose adapter` with a "
            "valid one",
        ),
    ]


def test_a_discord_token_is_asked_with_get_users_me(discord_cloud: DiscordStandin) -> None:
    env = {"SWITCHBOARD_DISCORD_API_BASE": discord_cloud.api_base}
    (good,) = token_lines("discord", {"DISCORD_BOT_TOKEN": DISCORD_TOKEN}, env)
    assert (good.value, good.problem) == (f"ok: {BOT_NAME} (id {BOT_ID}) (DISCORD_BOT_TOKEN)", None)
    (bad,) = token_lines("discord", {"DISCORD_BOT_TOKEN": "MTIz.wrong"}, env)
    assert bad.value == "REFUSED (DISCORD_BOT_TOKEN)"
    assert (bad.problem or "").startswith(
        "discord: Discord refused DISCORD_BOT_TOKEN (401 on GET /users/@me); set "
    )


def test_a_matrix_token_is_asked_with_whoami_and_must_be_the_bots(synapse: Synapse) -> None:
    bot = synapse.register("doctorbot", "doctor-password-1")
    env = {"SWITCHBOARD_MATRIX_HOMESERVER": synapse.url}
    (good,) = token_lines("matrix", {"MATRIX_ACCESS_TOKEN": bot.access_token}, env)
    assert (good.value, good.problem) == (f"ok: {bot.user_id} (MATRIX_ACCESS_TOKEN)", None)
    (bad,) = token_lines("matrix", {"MATRIX_ACCESS_TOKEN": "syt_not_a_token"}, env)
    assert (bad.problem or "").startswith(
        "matrix: the homeserver refused MATRIX_ACCESS_TOKEN (M_UNKNOWN_TOKEN on whoami); set "
    )
    other = {**env, "SWITCHBOARD_MATRIX_USER": "@someone-else:localhost"}
    (wrong,) = token_lines("matrix", {"MATRIX_ACCESS_TOKEN": bot.access_token}, other)
    assert (wrong.problem or "").startswith(
        f"matrix: MATRIX_ACCESS_TOKEN is {bot.user_id}'s, not @someone-else:localhost "
        "(SWITCHBOARD_MATRIX_USER); set "
    )
    (unset,) = token_lines("matrix", {"MATRIX_ACCESS_TOKEN": bot.access_token}, {})
    assert unset.problem == (
        "matrix: SWITCHBOARD_MATRIX_HOMESERVER is not set (the adapter needs it too)"
    )


def test_a_platform_out_of_reach_is_a_problem_naming_the_variable(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{closed_port()}/bot"
    (line,) = token_lines(
        "telegram", {"TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN}, {"TELEGRAM_API_URL": base}
    )
    assert line.value == "not checked"
    assert (line.problem or "").startswith(
        f"telegram: cannot ask the platform about TELEGRAM_BOT_TOKEN at {base} (ConnectError"
    )
    assert (line.problem or "").endswith("check the network, or TELEGRAM_API_URL")


def test_telegram_answers_getme_for_a_good_token(telegram: TelegramStandin) -> None:
    env = {"TELEGRAM_API_URL": telegram.api_url}
    (good,) = token_lines("telegram", {"TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN}, env)
    assert good.value == "ok: @switchboard_test_bot (TELEGRAM_BOT_TOKEN)"
