"""A group's settings, one `group_settings` row per folder (the seed's container_config): the
agent command, timeout, sandbox, network, mounts, limits, env, secrets and tool grants; each key
validated. A folder's effective settings are its own keys over its parent's effective ones."""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, get_args

from store import audit, validate
from store.audit import Actor
from store.clock import now_iso
from store.connection import tx
from store.errors import InvalidInput, StoreError
from store.hierarchy import ancestors
from store.models import FolderSettings, Mount, NetworkMode, SandboxMode, StdinMode
from store.paths import groups_dir

# The keys `update_folder_settings` takes, in display order; `env.NAME` stands for every
# `env.<NAME>` key.
KNOWN_KEYS: Final = (
    "command",
    "timeout_s",
    "stdin",
    "sandbox",
    "network",
    "allow_hosts",
    "mounts",
    "memory_mb",
    "pids",
    "cpu_s",
    "disk_mb",
    "env.NAME",
    "secrets",
    "grants.send_to",
    "grants.delegate_to",
    "grants.operator",
    "budget_usd_day",
    "budget_usd_month",
)
ENV_PREFIX: Final = "env."
SANDBOX_MODES: Final[tuple[str, ...]] = get_args(SandboxMode)
NETWORK_MODES: Final[tuple[str, ...]] = get_args(NetworkMode)
STDIN_MODES: Final[tuple[str, ...]] = get_args(StdinMode)
# Inclusive ranges of the integer limits.
LIMITS: Final[dict[str, tuple[int, int]]] = {
    "memory_mb": (64, 65536),
    "pids": (8, 4096),
    "cpu_s": (1, 86400),
    "disk_mb": (16, 1048576),
}
MAX_TIMEOUT_S: Final = 86400.0
MAX_BUDGET_USD: Final = 1_000_000.0
MAX_TEXT: Final = 4096  # command and env values
MAX_LIST: Final = 64  # items of allow_hosts, mounts, secrets
INT_RE: Final = re.compile(r"[0-9]{1,12}")
NUMBER_RE: Final = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")
HOST_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
ALLOW_HOST_RE: Final = re.compile(
    rf"(?P<host>(?:\*\.)?{HOST_LABEL}(?:\.{HOST_LABEL})*)(?::(?P<port>[0-9]{{1,5}}))?"
)
ENV_NAME_RE: Final = re.compile(r"[A-Z_][A-Z0-9_]*")
# Set by gated for every run (HOME, PATH, LANG and the protocol's SWITCHBOARD_* variables).
RESERVED_ENV: Final = frozenset({"PATH", "HOME", "LANG"})
RESERVED_ENV_PREFIX: Final = "SWITCHBOARD_"
# ...except the shipped agents' own settings, which a group sets for its agent.
AGENT_ENV: Final = frozenset({"SWITCHBOARD_CLAUDE_BIN", "SWITCHBOARD_CLAUDE_ARGS"})
SECRET_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Kernel interfaces the sandbox sets up itself; a mount may not cover them.
FORBIDDEN_INSIDE: Final = ("/proc", "/dev", "/sys")
MOUNT_ROOTS_ENV: Final = "SWITCHBOARD_MOUNT_ROOTS"


@dataclass(frozen=True, slots=True)
class SettingLine:
    """One key of a folder's settings as `group config` and the dashboard show it."""

    key: str  # 'command', 'env.MODE', ... ('env' when no variable is set)
    value: str  # the text `--set KEY=VALUE` takes; '' for an unset command/timeout/env
    default: bool  # True: neither this folder nor an ancestor sets it, the default applies
    inherited_from: str | None = None  # the ancestor folder whose value this is

    @property
    def shown(self) -> str:
        """The value as a person reads it (what an empty default means, in words)."""
        return self.value or DEFAULT_TEXT.get(self.key, "")

    @property
    def source(self) -> str:
        """Where the value comes from: 'own', 'inherited from FOLDER' or 'default'."""
        if self.default:
            return "default"
        return f"inherited from {self.inherited_from}" if self.inherited_from else "own"


# How a key at its default reads where it has no value of its own (gated's flags decide).
DEFAULT_TEXT: Final = {
    "command": "(gated's --default-agent)",
    "timeout_s": "(gated's --agent-timeout)",
    "env": "(none)",
    "budget_usd_day": "(no budget)",
    "budget_usd_month": "(no budget)",
}


# -- reading ---------------------------------------------------------------------------------


def stored_settings(conn: sqlite3.Connection, folder: str) -> dict[str, Any]:
    """The keys set for a folder, as stored (JSON object; {} when the folder has no row)."""
    row = conn.execute("SELECT settings FROM group_settings WHERE folder = ?", (folder,)).fetchone()
    if row is None:
        return {}
    data = json.loads(row[0])
    return data if isinstance(data, dict) else {}


def decode(folder: str, data: Mapping[str, Any]) -> FolderSettings:
    """FolderSettings from a stored JSON object (missing keys take the defaults)."""
    defaults = FolderSettings(folder)
    timeout = data.get("timeout_s")
    env = data.get("env") or {}
    return FolderSettings(
        folder=folder,
        command=data.get("command"),
        timeout_s=float(timeout) if timeout is not None else None,
        stdin=data.get("stdin", defaults.stdin),
        sandbox=data.get("sandbox", defaults.sandbox),
        network=data.get("network", defaults.network),
        allow_hosts=tuple(data.get("allow_hosts", ())),
        mounts=tuple(
            Mount(str(m["host_path"]), str(m["inside_path"]), bool(m.get("writable", False)))
            for m in data.get("mounts", ())
        ),
        memory_mb=int(data.get("memory_mb", defaults.memory_mb)),
        pids=int(data.get("pids", defaults.pids)),
        cpu_s=int(data.get("cpu_s", defaults.cpu_s)),
        disk_mb=int(data.get("disk_mb", defaults.disk_mb)),
        env=tuple(sorted((str(k), str(v)) for k, v in env.items())),
        secrets=tuple(data.get("secrets", ())),
        grants_send_to=tuple(data.get("grants.send_to", ())),
        grants_delegate_to=tuple(data.get("grants.delegate_to", ())),
        grants_operator=bool(data.get("grants.operator", False)),
        budget_usd_day=_float_or_none(data.get("budget_usd_day")),
        budget_usd_month=_float_or_none(data.get("budget_usd_month")),
    )


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def resolved_settings(
    conn: sqlite3.Connection, folder: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """A folder's effective stored object (its own keys over its parent's effective ones, up
    the tree; `env` merged variable by variable) and, for each key set ('env.NAME' for a
    variable), the folder it comes from."""
    layers = [validate.folder(folder), *ancestors(conn, folder)]
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for source in reversed(layers):  # farthest first: nearer folders override
        for key, value in stored_settings(conn, source).items():
            if key == "env" and isinstance(value, dict):
                env = merged.setdefault("env", {})
                for name, text in value.items():
                    env[name] = text
                    origin[f"{ENV_PREFIX}{name}"] = source
            else:
                merged[key] = value
                origin[key] = source
    return merged, origin


def effective_stored(conn: sqlite3.Connection, folder: str) -> dict[str, Any]:
    """The keys in force for a folder, set by it or an ancestor (see resolved_settings)."""
    return resolved_settings(conn, folder)[0]


def folder_settings(conn: sqlite3.Connection, folder: str) -> FolderSettings:
    """A folder's effective settings: its own keys over its ancestors', else the defaults."""
    return decode(validate.folder(folder), effective_stored(conn, folder))


def all_folder_settings(conn: sqlite3.Connection) -> list[FolderSettings]:
    """The effective settings of every folder that has set any or inherits any, by folder."""
    rows = conn.execute(
        "SELECT folder FROM group_settings UNION "
        "SELECT folder FROM registered_groups WHERE parent IS NOT NULL ORDER BY 1"
    ).fetchall()
    found = [(str(r[0]), effective_stored(conn, str(r[0]))) for r in rows]
    return [decode(folder, data) for folder, data in found if data]


def settings_json(settings: FolderSettings) -> dict[str, Any]:
    """Every key with its typed value (`group config --json`); env as an object."""
    return {
        "command": settings.command,
        "timeout_s": settings.timeout_s,
        "stdin": settings.stdin,
        "sandbox": settings.sandbox,
        "network": settings.network,
        "allow_hosts": list(settings.allow_hosts),
        "mounts": [
            {"host_path": m.host_path, "inside_path": m.inside_path, "writable": m.writable}
            for m in settings.mounts
        ],
        "memory_mb": settings.memory_mb,
        "pids": settings.pids,
        "cpu_s": settings.cpu_s,
        "disk_mb": settings.disk_mb,
        "env": dict(settings.env),
        "secrets": list(settings.secrets),
        "grants.send_to": list(settings.grants_send_to),
        "grants.delegate_to": list(settings.grants_delegate_to),
        "grants.operator": settings.grants_operator,
        "budget_usd_day": settings.budget_usd_day,
        "budget_usd_month": settings.budget_usd_month,
    }


def setting_lines(conn: sqlite3.Connection, folder: str) -> list[SettingLine]:
    """Every key of a folder's effective settings in display order, each as text, with where
    it comes from (own, an ancestor, the default)."""
    stored, origin = resolved_settings(conn, folder)
    settings = decode(folder, stored)

    def line(key: str, value: str) -> SettingLine:
        source = origin.get(key)
        inherited = source if source is not None and source != folder else None
        return SettingLine(key, value, source is None, inherited)

    lines = []
    for key in KNOWN_KEYS:
        if key == "env.NAME":
            if not settings.env:
                lines.append(SettingLine("env", "", True))
            lines += [line(f"{ENV_PREFIX}{k}", v) for k, v in settings.env]
            continue
        lines.append(line(key, _as_text(getattr(settings, key.replace(".", "_")))))
    return lines


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(
            f"{v.host_path}:{v.inside_path}{':rw' if v.writable else ''}"
            if isinstance(v, Mount)
            else str(v)
            for v in value
        )
    return str(value)


# -- validating ------------------------------------------------------------------------------


def _command(key: str, text: str) -> str:
    validate.short_text(text, key)
    if len(text) > MAX_TEXT:
        raise InvalidInput(key, f"is {len(text)} characters; the limit is {MAX_TEXT}")
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise InvalidInput(key, f"cannot be split like a command line ({exc})") from exc
    if not argv:
        raise InvalidInput(key, "must not be empty")
    return text


def _timeout(key: str, text: str) -> float:
    if not NUMBER_RE.fullmatch(text):
        raise InvalidInput(key, f"{text[:40]!r} is not a number of seconds")
    value = float(text)
    if not 0 < value <= MAX_TIMEOUT_S:
        raise InvalidInput(key, f"must be more than 0 and at most {MAX_TIMEOUT_S:g}, got {text}")
    return value


def _budget(key: str, text: str) -> float:
    if not NUMBER_RE.fullmatch(text):
        raise InvalidInput(key, f"{text[:40]!r} is not an amount of US dollars (like 5 or 2.50)")
    value = float(text)
    if not 0 < value <= MAX_BUDGET_USD:
        raise InvalidInput(
            key, f"must be more than 0 and at most {MAX_BUDGET_USD:,.0f}, got {text}"
        )
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def check(key: str, text: str) -> str:
        if text not in choices:
            raise InvalidInput(key, f"{text[:40]!r} is not one of {', '.join(choices)}")
        return text

    return check


def _limit(key: str, text: str) -> int:
    low, high = LIMITS[key]
    if not INT_RE.fullmatch(text):
        raise InvalidInput(key, f"{text[:40]!r} is not a whole number")
    value = int(text)
    if not low <= value <= high:
        raise InvalidInput(key, f"must be from {low} to {high}, got {value}")
    return value


def _items(key: str, text: str) -> list[str]:
    """A comma list's items; '' is the empty list, an empty item is an error."""
    if text == "":
        return []
    items = [item.strip() for item in text.split(",")]
    if "" in items:
        raise InvalidInput(key, "has an empty item (two commas, or a comma at an end)")
    if len(items) > MAX_LIST:
        raise InvalidInput(key, f"has {len(items)} items; the limit is {MAX_LIST}")
    return list(dict.fromkeys(items))


def _allow_hosts(key: str, text: str) -> list[str]:
    hosts = []
    for item in _items(key, text.lower()):
        m = ALLOW_HOST_RE.fullmatch(item)
        if m is None or len(m["host"]) > 253:
            raise InvalidInput(
                key, f"{item[:80]!r} is not a host name, '*.suffix', with an optional ':port'"
            )
        if m["port"] is not None and not 1 <= int(m["port"]) <= 65535:
            raise InvalidInput(key, f"{item[:80]!r}: the port must be from 1 to 65535")
        hosts.append(item)
    return hosts


def _secrets(key: str, text: str) -> list[str]:
    for item in (names := _items(key, text)):
        if not SECRET_NAME_RE.fullmatch(item):
            raise InvalidInput(
                key,
                f"{item[:80]!r} is not a secret name (a-z, 0-9, '-', '_'; start with a letter "
                "or digit; at most 64)",
            )
    return names


def _env_value(key: str, text: str) -> str:
    name = key[len(ENV_PREFIX) :]
    if not ENV_NAME_RE.fullmatch(name):
        raise InvalidInput(key, f"{name[:80]!r} is not a variable name (A-Z, 0-9, '_')")
    if name in RESERVED_ENV or (name.startswith(RESERVED_ENV_PREFIX) and name not in AGENT_ENV):
        raise InvalidInput(
            key, f"{name} is set by gated for every run (PATH, HOME, LANG, SWITCHBOARD_*)"
        )
    bad = validate.CONTROL_RE.search(text)
    if bad:
        raise InvalidInput(
            key, f"must not contain control characters (U+{ord(bad.group()):04X} found)"
        )
    if len(text) > MAX_TEXT:
        raise InvalidInput(key, f"is {len(text)} characters; the limit is {MAX_TEXT}")
    return text


def _send_to(key: str, text: str) -> list[str]:
    """Chats (`channel:id`) or folders a group may message."""
    for item in (targets := _items(key, text)):
        if ":" in item:
            validate.jid(item, key)
        else:
            validate.folder(item, key)
    return targets


def _folders(key: str, text: str) -> list[str]:
    for item in (folders := _items(key, text)):
        validate.folder(item, key)
    return folders


def _flag(key: str, text: str) -> bool:
    if text not in ("true", "false"):
        raise InvalidInput(key, f"{text[:40]!r} is not true or false")
    return text == "true"


# Validators of the keys that need nothing but their text (mounts also need the roots).
PLAIN_KEYS: Final[dict[str, Callable[[str, str], Any]]] = {
    "command": _command,
    "timeout_s": _timeout,
    "stdin": _choice(STDIN_MODES),
    "sandbox": _choice(SANDBOX_MODES),
    "network": _choice(NETWORK_MODES),
    "allow_hosts": _allow_hosts,
    **dict.fromkeys(LIMITS, _limit),
    "secrets": _secrets,
    "grants.send_to": _send_to,
    "grants.delegate_to": _folders,
    "grants.operator": _flag,
    "budget_usd_day": _budget,
    "budget_usd_month": _budget,
}


def _check_key(key: str) -> None:
    """An unknown key is an error naming it and listing the known ones."""
    if key in PLAIN_KEYS or key == "mounts" or key == "env" or key.startswith(ENV_PREFIX):
        return
    raise InvalidInput(key, f"unknown setting; the keys are {', '.join(KNOWN_KEYS)}")


# -- mounts ----------------------------------------------------------------------------------


def parse_mount_roots(text: str | None) -> tuple[Path, ...]:
    """The allowed mount roots from SWITCHBOARD_MOUNT_ROOTS (os.pathsep-separated; none when
    unset). Each must be an absolute path."""
    roots = []
    for part in (text or "").split(os.pathsep):
        if not part:
            continue
        if not os.path.isabs(part):
            raise InvalidInput(MOUNT_ROOTS_ENV, f"{part[:80]!r} is not an absolute path")
        roots.append(Path(part))
    return tuple(roots)


def protected_paths(conn: sqlite3.Connection) -> list[Path]:
    """What no mount may be, lie in or contain: the database file and its directory, the
    groups directory and every group's folder (each resolved, and as named)."""
    found: list[Path] = []
    row = conn.execute("PRAGMA database_list").fetchone()
    db_file = str(row["file"]) if row and row["file"] else ""
    if db_file:
        found += [Path(db_file), Path(db_file).parent]
    groups = groups_dir(conn)
    found.append(groups)
    folders = {
        r[0]
        for r in conn.execute(
            "SELECT folder FROM registered_groups UNION SELECT target FROM routes "
            "UNION SELECT folder FROM group_settings"
        )
    }
    if groups.is_dir():
        folders |= {p.name for p in groups.iterdir()}
    found += [groups / f for f in sorted(folders)]
    resolved = {Path(os.path.realpath(p)) for p in found}
    resolved |= {Path(os.path.realpath(p.parent)) / p.name for p in found}
    return sorted(resolved)


def check_mount(
    host: str,
    inside: str,
    writable: bool,
    *,
    mount_roots: Sequence[Path],
    protected: Iterable[Path],
    key: str = "mounts",
) -> Mount:
    """One mount, checked: the host path absolute, existing, resolved (symlinks, `..`) and then
    under a mount root and clear of every protected path; the inside path absolute and outside
    /proc, /dev, /sys. Returns it with the resolved host path."""
    if not os.path.isabs(host):
        raise InvalidInput(key, f"host path {host[:80]!r} is not absolute")
    if validate.CONTROL_RE.search(host) or validate.CONTROL_RE.search(inside):
        raise InvalidInput(key, "a path must not contain control characters")
    real = Path(os.path.realpath(host))
    if not mount_roots:
        raise InvalidInput(
            key,
            f"no mount roots are configured, so no mount is allowed (set {MOUNT_ROOTS_ENV} "
            "to the directories mounts may come from)",
        )
    roots = [Path(os.path.realpath(r)) for r in mount_roots]
    if not any(real.is_relative_to(r) for r in roots):
        raise InvalidInput(
            key,
            f"{host[:80]} resolves to {str(real)[:80]}, outside the mount roots "
            f"({os.pathsep.join(str(r) for r in roots)})",
        )
    for p in protected:
        if real.is_relative_to(p) or p.is_relative_to(real):
            raise InvalidInput(
                key,
                f"{host[:80]} resolves to {str(real)[:80]}, which overlaps {p} (the database, "
                "its directory, the groups directory or a group's folder)",
            )
    if not real.exists():
        raise InvalidInput(key, f"{host[:80]} does not exist")
    if not posixpath.isabs(inside):
        raise InvalidInput(key, f"inside path {inside[:80]!r} is not absolute")
    normal = posixpath.normpath(inside)
    if normal == "/" or normal.startswith("//"):
        raise InvalidInput(key, f"inside path {inside[:80]!r} would cover the sandbox's root")
    for kernel in FORBIDDEN_INSIDE:
        if normal == kernel or normal.startswith(kernel + "/"):
            raise InvalidInput(key, f"inside path {inside[:80]!r} is under {kernel}")
    return Mount(str(real), normal, writable)


def _mounts(
    key: str, text: str, mount_roots: Sequence[Path], conn: sqlite3.Connection
) -> list[Mount]:
    items = _items(key, text)
    protected = protected_paths(conn) if items else []
    mounts = []
    for item in items:
        parts = item.split(":")
        if len(parts) == 3 and parts[2] in ("rw", "ro"):
            host, inside, writable = parts[0], parts[1], parts[2] == "rw"
        elif len(parts) == 2:
            host, inside, writable = parts[0], parts[1], False
        else:
            raise InvalidInput(key, f"{item[:80]!r} is not HOST_PATH:INSIDE_PATH[:rw]")
        mounts.append(
            check_mount(
                host, inside, writable, mount_roots=mount_roots, protected=protected, key=key
            )
        )
    return mounts


def check_mounts(
    conn: sqlite3.Connection, mounts: Iterable[Mount], mount_roots: Sequence[Path]
) -> tuple[Mount, ...]:
    """Check stored mounts again (right before a run: a path may have become a symlink since
    it was set); raises InvalidInput("mounts", ...) on the first that no longer passes."""
    protected = protected_paths(conn)
    return tuple(
        check_mount(
            m.host_path, m.inside_path, m.writable, mount_roots=mount_roots, protected=protected
        )
        for m in mounts
    )


# -- writing ---------------------------------------------------------------------------------


def _encode(value: object) -> object:
    if isinstance(value, list):
        return [
            {"host_path": v.host_path, "inside_path": v.inside_path, "writable": v.writable}
            if isinstance(v, Mount)
            else v
            for v in value
        ]
    return value


def validated_changes(
    conn: sqlite3.Connection,
    set_: Mapping[str, str],
    unset: Sequence[str],
    mount_roots: Sequence[Path],
) -> tuple[dict[str, Any], list[str]]:
    """Every key and value checked (the first problem raises InvalidInput(key, reason)); the
    typed values to store and the keys to remove."""
    for key in [*set_, *unset]:
        _check_key(key)
    both = sorted(set(set_) & set(unset))
    if both:
        raise InvalidInput(both[0], "is both set and unset")
    values: dict[str, Any] = {}
    for key, text in set_.items():
        if not isinstance(text, str):
            raise InvalidInput(key, "must be text")
        if key == "env":
            raise InvalidInput(key, "set one variable at a time: env.NAME=VALUE")
        if key == "mounts":
            values[key] = _mounts(key, text, mount_roots, conn)
        elif key.startswith(ENV_PREFIX):
            values[key] = _env_value(key, text)
        else:
            values[key] = PLAIN_KEYS[key](key, text)
    for key in unset:
        if key.startswith(ENV_PREFIX):
            _env_value(key, "")
    return values, list(unset)


def update_folder_settings(
    conn: sqlite3.Connection,
    folder: str,
    set_: Mapping[str, str],
    unset: Sequence[str],
    *,
    mount_roots: Sequence[Path] = (),
    actor: Actor | None = None,
) -> FolderSettings:
    """Set and unset keys of a folder's settings, all or nothing: every key and value is
    checked first (InvalidInput(key, reason) on the first problem, nothing written). `unset`
    returns a key to its default (`env` removes every variable). `mount_roots` are the
    directories mounts may come from (none: every mount is refused). With an `actor`, logged
    as `group.config.set` (the folder's own settings before and after)."""
    validate.folder(folder)
    values, removed = validated_changes(conn, set_, unset, mount_roots)
    with tx(conn):
        # Read and write in one BEGIN IMMEDIATE transaction: a concurrent change of another
        # key is never lost.
        row = conn.execute(
            "SELECT settings FROM group_settings WHERE folder = ?", (folder,)
        ).fetchone()
        before = json.loads(row[0]) if row else {}
        current = _apply(json.loads(row[0]) if row else {}, values, removed)
        _write(conn, folder, current, row[0] if row else None)
        audit.record(conn, actor, "group.config.set", folder, before=before, after=current)
    return decode(folder, current)


def _apply(
    current: dict[str, Any], values: Mapping[str, Any], removed: Sequence[str]
) -> dict[str, Any]:
    """The stored JSON object with validated values set and keys removed."""
    for key, value in values.items():
        if key.startswith(ENV_PREFIX):
            current.setdefault("env", {})[key[len(ENV_PREFIX) :]] = value
        else:
            current[key] = _encode(value)
    for key in removed:
        if key.startswith(ENV_PREFIX):
            current.get("env", {}).pop(key[len(ENV_PREFIX) :], None)
            if not current.get("env"):
                current.pop("env", None)
        else:
            current.pop(key, None)
    return current


def _write(
    conn: sqlite3.Connection, folder: str, settings: dict[str, Any], previous: str | None
) -> None:
    """Store a folder's settings (no row when none is set); compare-and-set on the text read."""
    text = json.dumps(settings, sort_keys=True)
    if previous is None:
        if settings:
            conn.execute(
                "INSERT INTO group_settings (folder, settings, updated_at) VALUES (?, ?, ?)",
                (folder, text, now_iso()),
            )
        return
    if not settings:
        done = conn.execute(
            "DELETE FROM group_settings WHERE folder = ? AND settings = ?", (folder, previous)
        )
    else:
        done = conn.execute(
            "UPDATE group_settings SET settings = ?, updated_at = ? "
            "WHERE folder = ? AND settings = ?",
            (text, now_iso(), folder, previous),
        )
    if done.rowcount != 1:
        raise StoreError(f"the settings of {folder} changed meanwhile; try again")


# -- the agent_config of earlier releases ----------------------------------------------------


def agent_config_changes(config: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """A registered_groups.agent_config (`command` text or list, `timeout_s` or `timeout`,
    `env` object, `secrets` list) as `--set` texts; and what it holds that has no setting."""
    changes: dict[str, str] = {}
    command = config.get("command")
    if isinstance(command, list) and command:
        command = shlex.join(str(v) for v in command)
    if isinstance(command, str) and command:
        changes["command"] = command
    # Earlier gated ran `timeout_s or timeout or --agent-timeout`.
    timeout = config.get("timeout_s") or config.get("timeout")
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        changes["timeout_s"] = f"{float(timeout):g}"
    env = config.get("env")
    if isinstance(env, dict):
        changes.update({f"{ENV_PREFIX}{k}": str(v) for k, v in env.items()})
    secrets = config.get("secrets")
    if isinstance(secrets, list) and secrets:
        changes["secrets"] = ",".join(str(v) for v in secrets)
    elif isinstance(secrets, str) and secrets:
        changes["secrets"] = secrets
    used = {"command": "command" in changes, "env": isinstance(env, dict)}
    used["secrets"] = "secrets" in changes
    used["timeout_s"] = used["timeout"] = "timeout_s" in changes
    ignored = sorted(
        k for k, v in config.items() if not used.get(k) and v not in (None, "", 0, {}, [])
    )
    return changes, ignored


def seed_folder_settings(
    conn: sqlite3.Connection, folder: str, set_: Mapping[str, str], *, strict: bool = True
) -> list[InvalidInput]:
    """Give a folder these settings if it has none yet (inside the caller's transaction).
    With `strict`, a bad value raises; without, it is left out and returned."""
    values: dict[str, Any] = {}
    problems: list[InvalidInput] = []
    for key, text in set_.items():
        try:
            changes, _ = validated_changes(conn, {key: text}, [], ())
        except InvalidInput as exc:
            if strict:
                raise
            problems.append(exc)
            continue
        values.update(changes)
    stored = _apply({}, values, [])
    if stored:
        conn.execute(
            "INSERT INTO group_settings (folder, settings, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (folder) DO NOTHING",
            (folder, json.dumps(stored, sort_keys=True), now_iso()),
        )
    return problems
