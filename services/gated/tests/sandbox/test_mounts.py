"""Declared mounts, checked when a run starts: resolved, under a mount root, never the database,
its directory, the groups directory or another group's folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from gated.sandbox.errors import MountRefused
from gated.sandbox.mounts import check_mount
from gated.sandbox.spec import HostPaths, Mount


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, HostPaths]:
    data = tmp_path / "data"
    for d in ("groups/demo/sub", "groups/other", "shared/ref", "backups"):
        (data / d).mkdir(parents=True)
    (data / "messages.db").write_text("")
    host = HostPaths(
        folder=str(data / "groups/demo"),
        groups_dir=str(data / "groups"),
        db_path=str(data / "messages.db"),
        mount_roots=(str(tmp_path),),
    )
    return data, host


def refused(mount: Mount, host: HostPaths) -> str:
    with pytest.raises(MountRefused) as err:
        check_mount(mount, host)
    return str(err.value)


def test_a_path_under_a_mount_root_is_resolved_and_kept(layout: tuple[Path, HostPaths]) -> None:
    data, host = layout
    m = check_mount(Mount(str(data / "shared/ref/../ref"), "/ref/", True), host)
    assert m == Mount(str((data / "shared/ref").resolve()), "/ref", True)


def test_no_mount_root_means_no_mount(layout: tuple[Path, HostPaths]) -> None:
    data, host = layout
    bare = HostPaths(host.folder, host.groups_dir, host.db_path)
    assert "not under a mount root" in refused(Mount(str(data / "shared"), "/s"), bare)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("messages.db", "the database"),
        (".", "the database"),
        ("..", "the database"),
        ("groups", "the groups directory"),
        ("groups/other", "another group's folder"),
    ],
)
def test_forbidden_paths_are_refused(
    layout: tuple[Path, HostPaths], path: str, reason: str
) -> None:
    data, host = layout
    assert reason in refused(Mount(str(data / path), "/x"), host)


def test_a_symlink_to_a_forbidden_path_is_refused(layout: tuple[Path, HostPaths]) -> None:
    data, host = layout
    (data / "shared/link").symlink_to(data / "groups/other")
    assert "another group's folder" in refused(Mount(str(data / "shared/link"), "/x"), host)
    (data / "shared/dblink").symlink_to(data)
    assert "the database" in refused(Mount(str(data / "shared/dblink"), "/x"), host)


def test_own_folder_and_a_sibling_of_the_db_are_allowed(layout: tuple[Path, HostPaths]) -> None:
    data, host = layout
    assert check_mount(Mount(str(data / "groups/demo/sub"), "/sub"), host).inside_path == "/sub"
    assert check_mount(Mount(str(data / "backups"), "/b"), host).inside_path == "/b"


@pytest.mark.parametrize("inside", ["relative", "/", "/proc/x", "/dev", "/a/../b"])
def test_bad_inside_paths_are_refused(layout: tuple[Path, HostPaths], inside: str) -> None:
    data, host = layout
    assert "inside path" in refused(Mount(str(data / "shared"), inside), host)


def test_a_missing_host_path_is_refused(layout: tuple[Path, HostPaths]) -> None:
    data, host = layout
    assert "cannot be resolved" in refused(Mount(str(data / "nope"), "/x"), host)
