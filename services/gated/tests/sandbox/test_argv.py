"""The bubblewrap command line and the agent's environment, built from paths alone."""

from __future__ import annotations

from gated.sandbox.argv import SystemLayout, bwrap_argv, sandbox_env
from gated.sandbox.spec import Mount

LAYOUT = SystemLayout(("/usr",), (("/bin", "usr/bin"), ("/lib", "usr/lib")), ("/etc/ld.so.cache",))


def build(**kw: object) -> list[str]:
    args: dict[str, object] = {
        "folder": "/srv/sb/groups/demo",
        "python_paths": ("/opt/py",),
        "mounts": (),
        "env": {"HOME": "/srv/sb/groups/demo"},
        "tmp_mb": 16,
        "layout": LAYOUT,
        **kw,
    }
    return bwrap_argv("/usr/bin/bwrap", ["/opt/py/bin/python3", "agent.py"], **args)  # type: ignore[arg-type]


def pairs(argv: list[str], flag: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == flag]


def test_every_namespace_is_unshared_and_the_sandbox_cannot_outlive_gated() -> None:
    argv = build()
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert "--share-net" not in argv


def test_system_and_python_are_read_only_at_their_host_paths_and_the_folder_writable() -> None:
    argv = build()
    assert ("/usr", "/usr") in pairs(argv, "--ro-bind")
    assert ("/opt/py", "/opt/py") in pairs(argv, "--ro-bind")
    assert ("/etc/ld.so.cache", "/etc/ld.so.cache") in pairs(argv, "--ro-bind")
    assert ("usr/bin", "/bin") in pairs(argv, "--symlink")
    assert pairs(argv, "--bind") == [("/srv/sb/groups/demo", "/srv/sb/groups/demo")]
    assert argv[argv.index("--chdir") + 1] == "/srv/sb/groups/demo"
    assert not [p for p in pairs(argv, "--ro-bind") if p[0] in ("/etc", "/", "/srv")]


def test_tmp_is_a_size_capped_tmpfs_mounted_before_the_folder_and_the_root_is_read_only() -> None:
    argv = build()
    size = argv.index("--size")
    assert argv[size + 1] == str(16 * 1024 * 1024)
    assert argv[size + 4 : size + 6] == ["--tmpfs", "/tmp"]
    assert argv.index("--tmpfs") < argv.index("--bind")
    assert argv.index("--bind") < argv.index("--remount-ro")


def test_declared_mounts_are_read_only_unless_writable() -> None:
    argv = build(mounts=(Mount("/data/ref", "/ref"), Mount("/data/out", "/out", writable=True)))
    assert ("/data/ref", "/ref") in pairs(argv, "--ro-bind")
    assert ("/data/out", "/out") in pairs(argv, "--bind")


def test_the_command_comes_last_after_the_environment() -> None:
    argv = build(env={"HOME": "/h", "PATH": "/p"})
    assert argv[-3:] == ["--", "/opt/py/bin/python3", "agent.py"]
    assert argv[argv.index("HOME") - 1 : argv.index("HOME") + 2] == ["--setenv", "HOME", "/h"]


def test_the_environment_is_only_home_path_lang_protocol_and_declared() -> None:
    env = sandbox_env(
        home="/g",
        path="/p",
        lang="C.UTF-8",
        protocol={"SWITCHBOARD_GROUP_FOLDER": "demo"},
        declared=(("KEY", "v"), ("SWITCHBOARD_GROUP_FOLDER", "spoofed")),
    )
    assert env == {
        "HOME": "/g",
        "PATH": "/p",
        "LANG": "C.UTF-8",
        "KEY": "v",
        "SWITCHBOARD_GROUP_FOLDER": "demo",
    }
