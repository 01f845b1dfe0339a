"""A folder's settings (group_settings): every key's good and bad values, mounts that try to
escape (symlinks, `..`, the database, another group's folder), all-or-nothing updates,
defaults, and two processes changing one folder at once."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import store
from hypothesis import given
from hypothesis import strategies as st
from store.group_settings import ALLOW_HOST_RE, protected_paths

if TYPE_CHECKING:
    from conftest import Workers

DEFAULTS = store.FolderSettings("demo")


@pytest.fixture(autouse=True)
def groups_beside_the_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHBOARD_GROUPS_DIR", raising=False)


def stored_rows(db: sqlite3.Connection) -> list[tuple[str, str]]:
    return [tuple(r) for r in db.execute("SELECT folder, settings FROM group_settings")]


@pytest.mark.parametrize(
    ("key", "text", "field", "value"),
    [
        ("command", "my-agent --fast", "command", "my-agent --fast"),
        ("command", "python3 '/a b/agent.py'", "command", "python3 '/a b/agent.py'"),
        ("timeout_s", "30", "timeout_s", 30.0),
        ("timeout_s", "0.5", "timeout_s", 0.5),
        ("timeout_s", "86400", "timeout_s", 86400.0),
        ("sandbox", "bwrap", "sandbox", "bwrap"),
        ("sandbox", "none", "sandbox", "none"),
        ("network", "proxy", "network", "proxy"),
        ("network", "full", "network", "full"),
        ("allow_hosts", "api.anthropic.com", "allow_hosts", ("api.anthropic.com",)),
        (
            "allow_hosts",
            "*.github.com, Example.org:8443,localhost",
            "allow_hosts",
            ("*.github.com", "example.org:8443", "localhost"),
        ),
        ("allow_hosts", "", "allow_hosts", ()),
        ("memory_mb", "64", "memory_mb", 64),
        ("memory_mb", "65536", "memory_mb", 65536),
        ("pids", "8", "pids", 8),
        ("pids", "4096", "pids", 4096),
        ("cpu_s", "1", "cpu_s", 1),
        ("cpu_s", "86400", "cpu_s", 86400),
        ("disk_mb", "16", "disk_mb", 16),
        ("disk_mb", "1048576", "disk_mb", 1048576),
        ("env.MODE", "fast", "env", (("MODE", "fast"),)),
        ("env._X1", "a=b c", "env", (("_X1", "a=b c"),)),
        ("env.EMPTY", "", "env", (("EMPTY", ""),)),
        ("secrets", "anthropic,gh-token,anthropic", "secrets", ("anthropic", "gh-token")),
    ],
)
def test_a_good_value_is_stored_typed(
    db: sqlite3.Connection, key: str, text: str, field: str, value: object
) -> None:
    got = store.update_folder_settings(db, "demo", {key: text}, [])
    assert getattr(got, field) == value
    assert store.folder_settings(db, "demo") == got


@pytest.mark.parametrize(
    ("key", "text", "reason"),
    [
        ("colour", "blue", "unknown setting; the keys are command, timeout_s, stdin, sandbox"),
        ("env", "A=1", "env.NAME=VALUE"),
        ("command", "", "must not be empty"),
        ("command", "   ", "must not be empty"),
        ("command", "agent 'unclosed", "cannot be split"),
        ("command", "agent\nrm -rf /", "control characters"),
        ("timeout_s", "0", "more than 0"),
        ("timeout_s", "86401", "at most 86400"),
        ("timeout_s", "-1", "not a number"),
        ("timeout_s", "nan", "not a number"),
        ("timeout_s", "1e3", "not a number"),
        ("sandbox", "docker", "not one of auto, bwrap, none"),
        ("sandbox", "BWRAP", "not one of"),
        ("network", "open", "not one of none, proxy, full"),
        ("allow_hosts", "http://a.com", "not a host name"),
        ("allow_hosts", "a.com/path", "not a host name"),
        ("allow_hosts", "*", "not a host name"),
        ("allow_hosts", "a.*.com", "not a host name"),
        ("allow_hosts", "a.com:0", "port must be from 1 to 65535"),
        ("allow_hosts", "a.com:70000", "port must be from 1 to 65535"),
        ("allow_hosts", "a.com,,b.com", "empty item"),
        ("allow_hosts", "a.com b.org", "not a host name"),
        ("memory_mb", "63", "from 64 to 65536"),
        ("memory_mb", "65537", "from 64 to 65536"),
        ("memory_mb", "1.5", "not a whole number"),
        ("memory_mb", "+100", "not a whole number"),
        ("pids", "7", "from 8 to 4096"),
        ("pids", "4097", "from 8 to 4096"),
        ("cpu_s", "0", "from 1 to 86400"),
        ("disk_mb", "15", "from 16 to 1048576"),
        ("disk_mb", "1_000", "not a whole number"),
        ("env.mode", "x", "not a variable name"),
        ("env.1X", "x", "not a variable name"),
        ("env.", "x", "not a variable name"),
        ("env.PATH", "/evil", "set by gated"),
        ("env.HOME", "/", "set by gated"),
        ("env.LANG", "C", "set by gated"),
        ("env.SWITCHBOARD_DB", "/tmp/x.db", "set by gated"),
        ("env.SWITCHBOARD_CHAT_JID", "web:other", "set by gated"),
        ("env.MODE", "a\x00b", "control characters"),
        ("env.MODE", "a\nb", "control characters"),
        ("secrets", "Anthropic", "not a secret name"),
        ("secrets", "-x", "not a secret name"),
        ("secrets", "a" * 65, "not a secret name"),
        ("grants.send_to", "Web:x", "malformed jid"),
        ("grants.send_to", "../etc", "folder"),
        ("grants.send_to", "web:a,,web:b", "empty item"),
        ("grants.delegate_to", "web:a", "folder"),
        ("grants.operator", "yes", "not true or false"),
        ("budget_usd_day", "0", "more than 0"),
        ("budget_usd_day", "-5", "not an amount of US dollars"),
        ("budget_usd_month", "5$", "not an amount of US dollars"),
        ("budget_usd_month", "2000000", "at most 1,000,000"),
        ("mounts", "/srv/data:/data", "no mount roots are configured"),
    ],
)
def test_a_bad_value_names_the_key_and_writes_nothing(
    db: sqlite3.Connection, key: str, text: str, reason: str
) -> None:
    store.update_folder_settings(db, "demo", {"command": "kept"}, [])
    before = stored_rows(db)
    with pytest.raises(store.InvalidInput) as err:
        store.update_folder_settings(db, "demo", {"pids": "16", key: text}, [])
    assert err.value.field == key
    assert reason in err.value.reason
    assert stored_rows(db) == before


def test_unknown_keys_are_refused_when_unset_too(db: sqlite3.Connection) -> None:
    with pytest.raises(store.InvalidInput, match="colour: unknown setting") as err:
        store.update_folder_settings(db, "demo", {}, ["colour"])
    assert "env.NAME, secrets" in err.value.reason
    with pytest.raises(store.InvalidInput, match="pids: is both set and unset"):
        store.update_folder_settings(db, "demo", {"pids": "16"}, ["pids"])
    with pytest.raises(store.InvalidInput, match="folder"):
        store.update_folder_settings(db, "../etc", {"pids": "16"}, [])
    assert stored_rows(db) == []


def test_a_folder_without_a_row_has_the_defaults(db: sqlite3.Connection) -> None:
    got = store.folder_settings(db, "demo")
    assert got == DEFAULTS
    assert (got.command, got.timeout_s, got.sandbox, got.network) == (None, None, "auto", "none")
    assert (got.memory_mb, got.pids, got.cpu_s, got.disk_mb) == (1024, 256, 600, 1024)
    assert (got.allow_hosts, got.mounts, got.env, got.secrets) == ((), (), (), ())


def test_unset_returns_a_key_to_its_default_and_the_last_one_removes_the_row(
    db: sqlite3.Connection,
) -> None:
    store.update_folder_settings(
        db, "demo", {"command": "a", "env.B": "2", "env.A": "1", "pids": "64"}, []
    )
    got = store.update_folder_settings(db, "demo", {"memory_mb": "512"}, ["pids", "env.B"])
    assert (got.command, got.pids, got.memory_mb, got.env) == ("a", 256, 512, (("A", "1"),))
    got = store.update_folder_settings(db, "demo", {}, ["env", "memory_mb"])
    assert (got.env, got.memory_mb) == ((), 1024)
    store.update_folder_settings(db, "demo", {}, ["command", "secrets"])
    assert stored_rows(db) == []
    assert store.folder_settings(db, "demo") == DEFAULTS


def test_setting_lines_mark_the_defaults(db: sqlite3.Connection) -> None:
    store.update_folder_settings(
        db, "demo", {"sandbox": "bwrap", "env.MODE": "x", "allow_hosts": "a.com,*.b.org:443"}, []
    )
    lines = {line.key: line for line in store.setting_lines(db, "demo")}
    assert list(lines) == [
        "command", "timeout_s", "stdin", "sandbox", "network", "allow_hosts", "mounts", "memory_mb",
        "pids", "cpu_s", "disk_mb", "env.MODE", "secrets", "grants.send_to",
        "grants.delegate_to", "grants.operator", "budget_usd_day", "budget_usd_month",
    ]  # fmt: skip
    assert (lines["sandbox"].value, lines["sandbox"].default) == ("bwrap", False)
    assert (lines["allow_hosts"].value, lines["allow_hosts"].default) == (
        "a.com,*.b.org:443",
        False,
    )
    assert (lines["env.MODE"].value, lines["env.MODE"].default) == ("x", False)
    assert (lines["pids"].value, lines["pids"].default) == ("256", True)
    assert (lines["command"].value, lines["command"].default) == ("", True)
    assert [
        line.key for line in store.setting_lines(db, "other") if line.key.startswith("env")
    ] == ["env"]


def test_register_group_seeds_the_folder_settings_only_when_it_has_none(
    db: sqlite3.Connection,
) -> None:
    store.register_group(db, "web:a", "demo", agent_config={"command": "first", "env": {"K": "v"}})
    store.register_group(db, "web:b", "demo", agent_config={"command": "second"})
    got = store.folder_settings(db, "demo")
    assert (got.command, got.env) == ("first", (("K", "v"),))
    with pytest.raises(store.InvalidInput, match=r"env\.PATH"):
        store.register_group(db, "web:c", "other", agent_config={"env": {"PATH": "/x"}})
    with pytest.raises(store.InvalidInput, match="agent_config: has no setting 'image'"):
        store.register_group(db, "web:c", "other", agent_config={"image": "debian"})
    assert store.get_group(db, "web:c") is None
    assert [f for f, _ in stored_rows(db)] == ["demo"]


# -- mounts ----------------------------------------------------------------------------------


class Tree:
    """tmp_path laid out like an installation: state/ holds the database and groups/ (with the
    folder of group `other`), host/allowed/ is the mount root, and host/ holds paths an agent
    would like to reach."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "state"
        self.other = self.state / "groups" / "other"
        self.other.mkdir(parents=True)
        self.db = store.open(self.state / "messages.db")
        store.register_group(self.db, "web:other", "other")
        self.allowed = root / "host" / "allowed"
        self.data = self.allowed / "data"
        self.data.mkdir(parents=True)
        (self.data / "notes.txt").write_text("ok")
        self.secret = root / "host" / "secret"
        self.secret.mkdir()
        (self.allowed / "to-etc").symlink_to("/etc")
        (self.allowed / "to-other").symlink_to(self.other)
        (self.allowed / "to-secret").symlink_to("../secret")
        (self.allowed / "to-db").symlink_to(self.state / "messages.db")


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    t = Tree(tmp_path)
    yield t
    t.db.close()


def set_mounts(db: sqlite3.Connection, text: str, *roots: Path) -> store.FolderSettings:
    return store.update_folder_settings(db, "demo", {"mounts": text}, [], mount_roots=roots)


def test_mounts_under_a_root_are_stored_resolved(tree: Tree) -> None:
    db = tree.db
    got = set_mounts(
        db,
        f"{tree.data}:/data,{tree.allowed}/./data/notes.txt:/srv/notes.txt:rw,{tree.data}:/x:ro",
        tree.allowed,
    )
    assert got.mounts == (
        store.Mount(str(tree.data), "/data", False),
        store.Mount(str(tree.data / "notes.txt"), "/srv/notes.txt", True),
        store.Mount(str(tree.data), "/x", False),
    )
    lines = {line.key: line.value for line in store.setting_lines(db, "demo")}
    assert (
        lines["mounts"]
        == f"{tree.data}:/data,{tree.data}/notes.txt:/srv/notes.txt:rw,{tree.data}:/x"
    )


@pytest.mark.parametrize(
    ("mount", "reason"),
    [
        ("{allowed}/to-etc:/etc", "resolves to /etc, outside the mount roots"),
        ("{allowed}/to-secret:/s", "outside the mount roots"),
        ("{allowed}/../secret:/s", "outside the mount roots"),
        ("{allowed}/data/../../secret:/s", "outside the mount roots"),
        ("{allowed}/to-other:/o", "outside the mount roots"),
        ("/etc:/etc", "outside the mount roots"),
        ("data:/data", "is not absolute"),
        ("{allowed}/missing:/m", "does not exist"),
        ("{allowed}/data:data", "inside path 'data' is not absolute"),
        ("{allowed}/data:/proc", "is under /proc"),
        ("{allowed}/data:/proc/1/root", "is under /proc"),
        ("{allowed}/data:/dev/shm", "is under /dev"),
        ("{allowed}/data:/sys", "is under /sys"),
        ("{allowed}/data:/x/../proc/self", "is under /proc"),
        ("{allowed}/data:/", "cover the sandbox's root"),
        ("{allowed}/data", "is not HOST_PATH:INSIDE_PATH[:rw]"),
        ("{allowed}/data:/d:rx", "is not HOST_PATH:INSIDE_PATH[:rw]"),
        ("{allowed}/data:/d:rw:x", "is not HOST_PATH:INSIDE_PATH[:rw]"),
    ],
)
def test_a_mount_outside_the_roots_is_refused(tree: Tree, mount: str, reason: str) -> None:
    db = tree.db
    with pytest.raises(store.InvalidInput) as err:
        set_mounts(db, mount.format(allowed=tree.allowed), tree.allowed)
    assert err.value.field == "mounts"
    assert reason in err.value.reason
    assert stored_rows(db) == []


@pytest.mark.parametrize(
    "mount",
    [
        "{root}:/all",  # contains the database, its directory and groups/
        "{root}/state:/state",  # the database's directory
        "{root}/state/messages.db:/db",  # the database itself
        "{root}/state/messages.db-wal:/wal",  # what lies beside it
        "{root}/host/allowed/to-db:/db",  # a symlink inside the root to the database
        "{root}/state/groups:/groups",  # every group's folder
        "{root}/state/groups/other:/o",  # another group's folder
        "{root}/state/groups/not-made:/o",  # a group folder's place, even before it exists
        "{root}/host/allowed/to-other:/o",  # a symlink inside the root to another group
        "{root}/host/../state/groups/other/..:/g",  # `..` back to groups/
    ],
)
def test_a_mount_of_the_database_or_a_group_folder_is_refused_even_under_a_root(
    tree: Tree, mount: str
) -> None:
    db = tree.db
    store.register_group(db, "web:not-made", "not-made")
    with pytest.raises(store.InvalidInput) as err:
        set_mounts(db, mount.format(root=tree.root), tree.root)
    assert "overlaps" in err.value.reason, err.value.reason
    assert stored_rows(db) == []


def test_a_group_folder_kept_elsewhere_is_protected_where_it_really_is(
    tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tree.db
    elsewhere = tree.allowed / "real-home-of-other"
    elsewhere.mkdir()
    groups = tree.root / "host" / "groups2"
    groups.mkdir()
    (groups / "other").symlink_to(elsewhere)
    monkeypatch.setenv("SWITCHBOARD_GROUPS_DIR", str(groups))
    assert elsewhere in protected_paths(db)
    with pytest.raises(store.InvalidInput, match="overlaps"):
        set_mounts(db, f"{elsewhere}:/o", tree.allowed)
    assert set_mounts(db, f"{tree.data}:/d", tree.allowed).mounts[0].host_path == str(tree.data)


def test_stored_mounts_are_checked_again_before_a_run(tree: Tree) -> None:
    db = tree.db
    swap = tree.allowed / "swap"
    swap.mkdir()
    [mount] = set_mounts(db, f"{swap}:/s", tree.allowed).mounts
    assert store.check_mounts(db, [mount], [tree.allowed]) == (mount,)
    swap.rmdir()
    swap.symlink_to("/etc")
    with pytest.raises(store.InvalidInput, match="outside the mount roots"):
        store.check_mounts(db, [mount], [tree.allowed])


def test_mount_roots_come_from_an_os_pathsep_list() -> None:
    assert store.parse_mount_roots(None) == ()
    assert store.parse_mount_roots("") == ()
    assert store.parse_mount_roots(f"/srv/a{os.pathsep}{os.pathsep}/srv/b") == (
        Path("/srv/a"),
        Path("/srv/b"),
    )
    with pytest.raises(
        store.InvalidInput, match="SWITCHBOARD_MOUNT_ROOTS: 'rel' is not an absolute path"
    ):
        store.parse_mount_roots("rel")


# -- properties ------------------------------------------------------------------------------


def outcome(text_of: dict[str, str]) -> store.FolderSettings | store.InvalidInput:
    """What updating a fresh in-memory store's folder `p` gives: the settings or the error."""
    conn = store.open(":memory:")
    try:
        return store.update_folder_settings(conn, "p", text_of, [])
    except store.InvalidInput as err:
        assert store.folder_settings(conn, "p") == store.FolderSettings("p")
        return err
    finally:
        conn.close()


@given(st.text(max_size=60))
def test_allow_hosts_either_refuses_or_stores_only_valid_hosts(text: str) -> None:
    got = outcome({"allow_hosts": text})
    if isinstance(got, store.InvalidInput):
        assert got.field == "allow_hosts"
        return
    for host in got.allow_hosts:
        assert ALLOW_HOST_RE.fullmatch(host)
        assert host == host.lower().strip()


@given(st.text(max_size=40))
def test_an_env_value_is_kept_exactly_unless_it_has_a_control_character(text: str) -> None:
    got = outcome({"env.V": text})
    if store.validate.CONTROL_RE.search(text):
        assert isinstance(got, store.InvalidInput)
        assert got.field == "env.V"
    else:
        assert isinstance(got, store.FolderSettings)
        assert got.env == (("V", text),)


@given(st.text(max_size=12))
def test_a_limit_is_a_whole_number_in_its_range_or_refused(text: str) -> None:
    got = outcome({"pids": text})
    if text.isascii() and text.isdigit() and 8 <= int(text) <= 4096:
        assert isinstance(got, store.FolderSettings)
        assert got.pids == int(text)
    else:
        assert isinstance(got, store.InvalidInput)
        assert got.field == "pids"


# -- concurrency -----------------------------------------------------------------------------


def test_processes_changing_one_folder_at_once_lose_no_change(
    db_path: Path, db: sqlite3.Connection, workers: Workers
) -> None:
    procs = workers.start_together([["set-env", str(db_path), f"W{n}", "15"] for n in range(4)])
    assert [workers.finish(p).strip() for p in procs] == ["done"] * 4
    env: dict[str, Any] = dict(store.folder_settings(db, "race").env)
    assert env == {f"W{n}_{i}": str(i) for n in range(4) for i in range(15)}


def test_grants_are_stored_shown_and_typed(db: sqlite3.Connection) -> None:
    store.update_folder_settings(
        db,
        "demo",
        {
            "grants.send_to": "web:ops,family",
            "grants.delegate_to": "research",
            "grants.operator": "true",
        },
        [],
    )
    settings = store.folder_settings(db, "demo")
    assert settings.grants_send_to == ("web:ops", "family")
    assert settings.grants_delegate_to == ("research",)
    assert settings.grants_operator is True
    lines = {line.key: line for line in store.setting_lines(db, "demo")}
    assert lines["grants.send_to"].value == "web:ops,family"
    assert lines["grants.operator"].value == "true"
    assert store.settings_json(settings)["grants.delegate_to"] == ["research"]
    store.update_folder_settings(db, "demo", {}, ["grants.operator"])
    assert store.folder_settings(db, "demo").grants_operator is False
