"""The bubblewrap command line and the agent's environment, built from paths alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gated.credproxy import RunProxy
from gated.egress import RunEgress
from gated.forwarding import forwarded_argv
from gated.sandbox.argv import (
    PROXY_DIR_INSIDE,
    SystemLayout,
    bwrap_argv,
    egress_templates,
    proxy_templates,
    sandbox_env,
    with_forwarder,
)
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


def test_the_proxy_dir_is_bound_before_the_root_is_read_only_and_the_forwarder_runs_first() -> None:
    plain = build(env={"HOME": "/h", "ODD": "--"})
    argv = with_forwarder(
        plain,
        run_dir="/run/gated/run-7",
        python="/opt/py/bin/python3",
        templates=proxy_templates({"ANTHROPIC_BASE_URL": "anthropic"}, {"ANTHROPIC_API_KEY": "x"}),
    )
    assert ("/run/gated/run-7", PROXY_DIR_INSIDE) in pairs(argv, "--bind")
    assert argv.index(PROXY_DIR_INSIDE) < argv.index("--remount-ro")
    # The env value "--" is not taken for the command's separator.
    assert pairs(argv, "--setenv") == [("HOME", "/h"), ("ODD", "--")]
    sep = argv.index("--setenv", argv.index("ODD") - 1) + 3
    assert argv[sep] == "--"
    forwarder = argv[sep + 1 : argv.index("--", sep + 1)]
    assert forwarder == [
        "/opt/py/bin/python3",
        "-I",
        "-m",
        "gated.sandbox.forwarder",
        "--socket",
        "/run/switchboard/proxy.sock",
        "--set-env",
        "ANTHROPIC_API_KEY=x",
        "--set-env",
        "ANTHROPIC_BASE_URL=http://127.0.0.1:{port}/anthropic",
        "--set-env",
        "SWITCHBOARD_PROXY_SOCKET=/run/switchboard/proxy.sock",
    ]
    assert argv[-2:] == ["/opt/py/bin/python3", "agent.py"]


def test_an_env_file_is_passed_by_its_inside_path_and_an_odd_argv_is_refused() -> None:
    argv = with_forwarder(
        build(), run_dir="/r", python="/p", templates={}, env_file="agent-env.json"
    )
    assert argv[argv.index("--env-file") + 1] == "/run/switchboard/agent-env.json"
    with pytest.raises(ValueError, match="not a bwrap_argv"):
        with_forwarder(
            ["bwrap", "--remount-ro", "/", "--", "x"], run_dir="/r", python="/p", templates={}
        )


def test_full_network_shares_the_hosts_namespace_and_name_resolution_only_then() -> None:
    layout = SystemLayout(LAYOUT.dirs, LAYOUT.links, LAYOUT.etc, ("/etc/resolv.conf",))
    full = build(layout=layout, share_net=True)
    assert full[full.index("--unshare-all") + 1] == "--share-net"
    assert ("/etc/resolv.conf", "/etc/resolv.conf") in pairs(full, "--ro-bind")
    confined = build(layout=layout)
    assert "--share-net" not in confined
    assert ("/etc/resolv.conf", "/etc/resolv.conf") not in pairs(confined, "--ro-bind")


def test_a_proxy_run_forwards_to_the_egress_socket_and_points_the_proxy_variables_there() -> None:
    argv = with_forwarder(
        build(),
        run_dir="/run/gated/run-8",
        python="/p",
        templates=egress_templates(),
        credentials=False,
        egress=True,
    )
    assert ("/run/gated/run-8", PROXY_DIR_INSIDE) in pairs(argv, "--bind")
    assert "--socket" not in argv
    assert argv[argv.index("--egress-socket") + 1] == "/run/switchboard/egress.sock"
    templates = [argv[i + 1] for i, a in enumerate(argv) if a == "--set-env"]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        assert f"{name}=http://127.0.0.1:{{egress_port}}" in templates
    assert "NO_PROXY=127.0.0.1,localhost" in templates


def test_a_run_with_secrets_and_egress_shares_one_directory_and_gets_both(
    tmp_path: Path,
) -> None:
    proxy = RunProxy("demo", tmp_path, tmp_path / "proxy.sock", 0, "t", {})
    proxy.bases = {"ANTHROPIC_BASE_URL": "anthropic"}
    proxy.exposed = {"GITHUB_TOKEN": "raw"}
    egress = RunEgress("demo", 9, tmp_path, tmp_path / "egress.sock", ())
    argv = forwarded_argv(build(), proxy, egress)
    assert (str(tmp_path), PROXY_DIR_INSIDE) in pairs(argv, "--bind")
    assert argv[argv.index("--socket") + 1] == "/run/switchboard/proxy.sock"
    assert argv[argv.index("--egress-socket") + 1] == "/run/switchboard/egress.sock"
    templates = [argv[i + 1] for i, a in enumerate(argv) if a == "--set-env"]
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:{port}/anthropic" in templates
    assert "HTTPS_PROXY=http://127.0.0.1:{egress_port}" in templates
    assert argv[argv.index("--env-file") + 1] == "/run/switchboard/agent-env.json"
    assert json.loads((tmp_path / "agent-env.json").read_text()) == {"GITHUB_TOKEN": "raw"}
