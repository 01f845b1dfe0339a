"""What `up --with` and `doctor` know of the chat adapters: the same facts as the adapters
themselves (variables, defaults, channel names, unit ports), `--with` parsed, and each token
found in its variable first, then in the secret store."""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
from pathlib import Path

import pytest
import store
from adapterkit.config import parser_for
from daemonkit.settings import _SettingAction
from switchboard.adapters import (
    ADAPTERS,
    FoundToken,
    find_tokens,
    gated_url_for,
    missing_tokens,
    parse_with,
    secret_name,
)
from switchboard.supervisor import console_argv

ROOT = Path(__file__).resolve().parents[3]


def settings_of(info_name: str) -> tuple[object, dict[str, object]]:
    """The adapter's module and its settings: variable -> default."""
    info = ADAPTERS[info_name]
    module = importlib.import_module(info.module)
    parser: argparse.ArgumentParser = parser_for(info.script, "", module.TOKEN_ENV)
    module.add_arguments(parser)
    found = {a.env: a.setting_default for a in parser._actions if isinstance(a, _SettingAction)}
    return module, found


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_the_facts_match_the_adapter_itself(name: str) -> None:
    info = ADAPTERS[name]
    module, found = settings_of(name)
    tokens = [module.TOKEN_ENV, *([module.APP_TOKEN_ENV] if name == "slack" else [])]
    assert list(info.tokens) == tokens
    assert info.api_env in found
    assert found[info.api_env] == info.api_default
    assert info.setting_env("LISTEN") in found
    assert info.setting_env("STATE_DIR") in found
    platform = {
        "telegram": "TelegramPlatform",
        "slack": "SlackPlatform",
        "discord": "DiscordPlatform",
        "matrix": "MatrixPlatform",
    }[name]
    assert getattr(module, platform).name == info.channel
    assert info.jid_example.strip("'").startswith(f"{info.channel}:")
    unit = (ROOT / f"deploy/systemd/{info.script}.service").read_text()
    assert f"Environment={info.setting_env('LISTEN')}=127.0.0.1:{info.unit_port}" in unit
    scripts = (ROOT / "services/platforms/pyproject.toml").read_text()
    assert re.search(rf'^{info.script} = "{info.entry}"$', scripts, re.M)


def test_with_takes_each_named_adapter_once_in_order() -> None:
    assert [a.name for a in parse_with("slack, telegram,slack")] == ["slack", "telegram"]


@pytest.mark.parametrize(("value", "named"), [("telegram,whatsapp", "whatsapp"), (",", ",")])
def test_with_refuses_an_unknown_adapter_by_name(value: str, named: str) -> None:
    with pytest.raises(store.InvalidInput) as exc:
        parse_with(value)
    assert exc.value.field == "with"
    assert repr(named) in str(exc.value)
    assert "telegram,matrix,discord,slack" in str(exc.value)


def test_a_token_comes_from_its_variable_first_then_the_secret_store() -> None:
    stored = {"slack-bot-token": "xoxb-stored", "slack-app-token": "xapp-stored"}
    slack = ADAPTERS["slack"]
    found = find_tokens(slack, {"SLACK_BOT_TOKEN": "xoxb-env"}, stored.get)
    assert found == {
        "SLACK_BOT_TOKEN": FoundToken("SLACK_BOT_TOKEN", "xoxb-env", "SLACK_BOT_TOKEN"),
        "SLACK_APP_TOKEN": FoundToken("SLACK_APP_TOKEN", "xapp-stored", "secret slack-app-token"),
    }
    assert missing_tokens(slack, found) is None


def test_a_missing_token_says_both_ways_to_give_it() -> None:
    slack = ADAPTERS["slack"]
    found = find_tokens(slack, {"SLACK_BOT_TOKEN": "  "}, {"slack-app-token": "xapp-1"}.get)
    assert missing_tokens(slack, found) == (
        "no token: set SLACK_BOT_TOKEN or `switchboard secret set slack-bot-token --expose adapter`"
    )
    assert secret_name("MATRIX_ACCESS_TOKEN") == "matrix-access-token"


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("127.0.0.1:8700", "http://127.0.0.1:8700"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("[::]:8700", "http://[::1]:8700"),
        ("[::1]:8700", "http://[::1]:8700"),
        ("localhost:8700", "http://localhost:8700"),
    ],
)
def test_adapters_reach_gated_on_loopback_when_it_listens_everywhere(listen: str, url: str) -> None:
    assert gated_url_for(listen) == url


def test_without_the_console_script_up_runs_the_same_entry_point() -> None:
    """The fallback of a missing script runs its entry point, so telegram stays lean."""
    argv = console_argv("switchboard-no-such-script", ADAPTERS["telegram"].entry)
    assert argv[1:] == ["-c", "from platforms.lean import telegram; telegram()"]
    shown = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "TELEGRAM_BOT_TOKEN" in shown.stdout
