"""The egress proxy's decisions, pure: a request target parsed into host and port, matched
against a group's `allow_hosts`, and the addresses a name resolved to checked for being public."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS: Final = (80, 443)  # what a rule without a port allows
MAX_HOST_CHARS: Final = 253
LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME_RE: Final = re.compile(rf"{LABEL}(?:\.{LABEL})*")
# 100.64.0.0/10 (carrier-grade NAT) is not `is_private` on every Python version.
SHARED_V4: Final = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True, slots=True)
class Rule:
    """One `allow_hosts` item: an exact host, or `*.suffix` (its subdomains only), and the
    port it allows (None: 80 and 443)."""

    host: str  # without the `*.`
    wildcard: bool
    port: int | None
    text: str  # as the folder's setting has it, for the log


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request wants to go: a normalised host (a name, or an IP literal) and a port."""

    host: str
    port: int
    ip: IPAddress | None  # the host is an IP literal


class BadTarget(ValueError):
    """A request target that names no host and port this proxy would try."""


def parse_rule(text: str) -> Rule:
    """An `allow_hosts` item (as `store.group_settings` validated it) as a Rule."""
    item = text.strip().lower()
    host, sep, port = item.rpartition(":")
    if not sep:
        host, port = item, ""
    wildcard = host.startswith("*.")
    return Rule(host[2:] if wildcard else host, wildcard, int(port) if port else None, text)


def parse_rules(items: Iterable[str]) -> tuple[Rule, ...]:
    return tuple(parse_rule(i) for i in items)


def normal_host(raw: str) -> tuple[str, IPAddress | None]:
    """A host as the agent wrote it, lower-cased, one trailing dot dropped, `[v6]` unwrapped;
    and its address when it is an IP literal. BadTarget for anything that is neither."""
    host = raw.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        try:
            return host[1:-1], ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise BadTarget(f"{raw!r} is not an IPv6 address") from None
    host = host.removesuffix(".")
    try:
        return host, ipaddress.IPv4Address(host)
    except ValueError:
        pass
    if len(host) > MAX_HOST_CHARS or not HOSTNAME_RE.fullmatch(host):
        raise BadTarget(f"{raw[:80]!r} is not a host name")
    if host.rsplit(".", 1)[-1].isdigit():
        raise BadTarget(f"{raw[:80]!r} looks like an IP address but is not one")
    return host, None


def parse_authority(authority: str) -> Target:
    """`host:port` (CONNECT's target; the port is required)."""
    host, sep, port = authority.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise BadTarget(f"{authority[:80]!r} is not host:port")
    name, ip = normal_host(host)
    return Target(name, int(port), ip)


def parse_url_host(netloc: str, default_port: int) -> Target:
    """The authority of an absolute URL: `host`, `host:port`, `[v6]:port`; no user info."""
    if "@" in netloc:
        raise BadTarget("user info in the URL is not forwarded")
    if netloc.endswith("]") or ":" not in netloc:
        name, ip = normal_host(netloc)
        return Target(name, default_port, ip)
    return parse_authority(netloc)


def host_matches(rule: Rule, host: str) -> bool:
    """`*.suffix` matches hosts below suffix (never suffix itself, never `xsuffix`); an exact
    rule matches only its host."""
    if rule.wildcard:
        prefix = host[: -len(rule.host) - 1]
        return host.endswith("." + rule.host) and "" not in prefix.split(".")
    return host == rule.host


def port_matches(rule: Rule, port: int) -> bool:
    return port in DEFAULT_PORTS if rule.port is None else port == rule.port


def matching_rule(rules: Sequence[Rule], target: Target) -> Rule | None:
    """The first rule allowing the target. An IP literal is allowed only by a rule naming that
    literal exactly (a wildcard never matches an address: `*.0.0.1` is not 127.0.0.1)."""
    for rule in rules:
        if target.ip is not None and (rule.wildcard or _literal(rule.host) != target.ip):
            continue
        if target.ip is None and not host_matches(rule, target.host):
            continue
        if port_matches(rule, target.port):
            return rule
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_public(ip: IPAddress) -> bool:
    """True for an address on the public internet: not loopback, link-local, private,
    multicast, unspecified, reserved, shared (100.64/10); an IPv4-mapped or 6to4/Teredo IPv6
    address is judged by the IPv4 address inside it."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            return is_public(inner)
    if isinstance(ip, ipaddress.IPv4Address) and ip in SHARED_V4:
        return False
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
    )


def public_addresses(found: Iterable[str]) -> list[IPAddress]:
    """The public ones of the addresses a name resolved to, in order, without duplicates."""
    out: list[IPAddress] = []
    for text in found:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
        if is_public(ip) and ip not in out:
            out.append(ip)
    return out


def parse_resolve_map(text: str) -> tuple[tuple[str, str], ...]:
    """`NAME=IP[,NAME=IP]` (gated --egress-resolve, for tests) as (name, address) pairs."""
    pairs: list[tuple[str, str]] = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        name, sep, address = item.partition("=")
        if not sep:
            raise ValueError(f"{item[:80]!r} is not NAME=IP")
        host, ip = normal_host(name)
        if ip is not None:
            raise ValueError(f"{name[:80]!r}: the name must be a host name, not an address")
        pairs.append((host, str(ipaddress.ip_address(address.strip()))))
    return tuple(pairs)
