"""The egress proxy's decisions on their own: `allow_hosts` matching (exact hosts, `*.suffix`
subdomains only, ports), request targets, and which resolved addresses count as public."""

from __future__ import annotations

import ipaddress

import pytest
from gated.egress.rules import (
    BadTarget,
    Target,
    host_matches,
    is_public,
    matching_rule,
    parse_authority,
    parse_resolve_map,
    parse_rule,
    parse_rules,
    parse_url_host,
    public_addresses,
)
from hypothesis import given
from hypothesis import strategies as st

LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
NAME = st.lists(LABEL, min_size=1, max_size=4).map(".".join)


def target(host: str, port: int = 443) -> Target:
    return parse_authority(f"{host}:{port}")


def below(host: str, suffix: str) -> bool:
    """The oracle, by labels: `host` is `suffix` with one or more non-empty labels before it."""
    labels, tail = host.split("."), suffix.split(".")
    return len(labels) > len(tail) and labels[-len(tail) :] == tail and all(labels)


@given(suffix=NAME, label=LABEL, junk=st.text(min_size=1, max_size=8))
def test_a_wildcard_matches_exactly_the_subdomains_of_its_suffix(
    suffix: str, label: str, junk: str
) -> None:
    rule = parse_rule(f"*.{suffix}")
    assert host_matches(rule, f"{label}.{suffix}")
    assert host_matches(rule, f"a.{label}.{suffix}")
    assert not host_matches(rule, suffix)
    assert not host_matches(rule, f".{suffix}")  # an empty label is no subdomain
    lookalikes = [f"{label}{suffix}", f"{suffix}.{label}", f"{suffix}{junk}", f"{junk}{suffix}"]
    for host in lookalikes:
        assert host_matches(rule, host) == below(host, suffix), host


def test_example_lookalikes_do_not_match() -> None:
    rule = parse_rule("*.example.com")
    for host in ("example.com", "example.com.evil", "evilexample.com", "example.comm", "com"):
        assert not host_matches(rule, host), host
    assert host_matches(rule, "api.example.com")


@given(host=NAME, other=NAME)
def test_an_exact_rule_matches_only_its_host(host: str, other: str) -> None:
    rule = parse_rule(host)
    assert host_matches(rule, host)
    assert host_matches(rule, other) == (other == host)
    assert not host_matches(rule, f"x.{host}")


@given(port=st.integers(1, 65535))
def test_a_rule_without_a_port_allows_80_and_443_only_and_a_port_only_itself(port: int) -> None:
    bare = parse_rules(["example.com"])
    assert (matching_rule(bare, target("example.com", port)) is not None) == (port in (80, 443))
    pinned = parse_rules(["example.com:8443"])
    assert (matching_rule(pinned, target("example.com", port)) is not None) == (port == 8443)


def test_the_first_matching_rule_is_named() -> None:
    rules = parse_rules(["api.example.com:8080", "*.example.com", "Example.org"])
    assert matching_rule(rules, target("api.example.com", 8080)) == rules[0]
    assert matching_rule(rules, target("api.example.com", 443)) == rules[1]
    assert matching_rule(rules, target("EXAMPLE.org.", 80)) == rules[2]
    assert matching_rule(rules, target("example.com", 443)) is None


def test_an_ip_literal_is_allowed_only_by_the_same_literal_never_by_a_wildcard() -> None:
    rules = parse_rules(["*.0.0.1", "*.1.1", "93.184.216.34"])
    assert matching_rule(rules, target("127.0.0.1")) is None
    assert matching_rule(rules, target("1.1.1.1")) is None
    assert matching_rule(rules, target("93.184.216.34")) == rules[2]
    assert matching_rule(rules, target("[::ffff:93.184.216.34]")) is None


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("example.com:443", ("example.com", 443)),
        ("Example.COM.:80", ("example.com", 80)),
        ("[2606:4700::1]:443", ("2606:4700::1", 443)),
        ("10.0.0.1:22", ("10.0.0.1", 22)),
    ],
)
def test_connect_targets_are_normalised(authority: str, expected: tuple[str, int]) -> None:
    t = parse_authority(authority)
    assert (t.host, t.port) == expected


@pytest.mark.parametrize(
    "authority",
    ["example.com", "example.com:0", "example.com:70000", "exa mple.com:443", ":443",
     "a_b.com:443", "2130706433:80", "1.2.3:80", "[nonsense]:443", "\u0435xample.com:443"],
)  # fmt: skip
def test_bad_connect_targets_are_refused(authority: str) -> None:
    with pytest.raises(BadTarget):
        parse_authority(authority)


def test_url_hosts_take_the_default_port_and_refuse_user_info() -> None:
    assert parse_url_host("example.com", 80) == Target("example.com", 80, None)
    assert parse_url_host("example.com:8080", 80).port == 8080
    assert parse_url_host("[::1]", 80).ip == ipaddress.ip_address("::1")
    with pytest.raises(BadTarget):
        parse_url_host("user:pw@example.com", 80)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "::1", "::", "fe80::1",
     "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::1",
     "64:ff9b::7f00:1", "192.0.2.1", "198.18.0.1"],
)  # fmt: skip
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_only_the_public_resolved_addresses_are_kept() -> None:
    found = ["127.0.0.1", "93.184.216.34", "fe80::1%eth0", "93.184.216.34"]
    assert public_addresses(found) == [ipaddress.ip_address("93.184.216.34")]


def test_the_test_resolve_map_takes_names_to_addresses() -> None:
    assert parse_resolve_map("allowed.test=127.0.0.1, Other.Test=::1") == (
        ("allowed.test", "127.0.0.1"),
        ("other.test", "::1"),
    )
    for bad in ("allowed.test", "allowed.test=nowhere", "127.0.0.1=127.0.0.1"):
        with pytest.raises(ValueError, match=r"NAME=IP|address|host name"):
            parse_resolve_map(bad)
