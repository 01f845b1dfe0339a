"""daemonkit.settings: the parsers every daemon's flags and SWITCHBOARD_* variables go through."""

from __future__ import annotations

import argparse

import pytest
from daemonkit import settings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1:8700", ("127.0.0.1", 8700)),
        ("[::1]:8080", ("::1", 8080)),
        ("localhost:0", ("localhost", 0)),
        ("gw.example.org:443", ("gw.example.org", 443)),
    ],
)
def test_listen_addresses(raw: str, expected: tuple[str, int]) -> None:
    assert settings.listen_address(raw) == expected


@pytest.mark.parametrize(
    "raw", ["8700", "localhost", ":8700", "host:99999", "host:-1", "bad host:80", "a\nb:80"]
)
def test_bad_listen_addresses(raw: str) -> None:
    with pytest.raises(settings.SettingError, match="expected HOST:PORT"):
        settings.listen_address(raw)


def test_numbers_are_finite_and_in_range() -> None:
    assert settings.integer(1, 10)("7") == 7
    assert settings.number(0.5)("0.5") == 0.5
    for bad in ("0", "11", "1.5", "x", ""):
        with pytest.raises(settings.SettingError, match="from 1 to 10"):
            settings.integer(1, 10)(bad)
    for bad in ("nan", "inf", "-inf", "0.1"):
        with pytest.raises(settings.SettingError, match=r"at least 0\.5"):
            settings.number(0.5)(bad)


def test_booleans_and_choices() -> None:
    assert [settings.boolean(w) for w in ("1", "YES", "on", "0", "off", "")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    with pytest.raises(settings.SettingError):
        settings.boolean("maybe")
    assert settings.choice("INFO", "DEBUG", fold=True)("debug") == "DEBUG"
    with pytest.raises(settings.SettingError, match="expected one of ssl, plain"):
        settings.choice("ssl", "plain")("SSL")


def test_loopback_hosts() -> None:
    assert all(settings.is_loopback(h) for h in ("localhost", "127.0.0.1", "127.8.8.8", "::1"))
    assert not any(settings.is_loopback(h) for h in ("example.org", "10.0.0.1", "localhost."))


def test_a_switch_and_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser(prog="demo")
    settings.add_setting(
        parser, "--on", env="DEMO_ON", parse=settings.boolean, default=False, help="x", switch=True
    )
    monkeypatch.delenv("DEMO_ON", raising=False)
    assert settings.parse_settings(parser, []).on is False
    assert settings.parse_settings(parser, ["--on"]).on is True
    monkeypatch.setenv("DEMO_ON", "yes")
    assert settings.parse_settings(parser, []).on is True
