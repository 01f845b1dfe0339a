"""Runs inside a sandbox in front of the agent: 127.0.0.1 TCP listeners whose connections are
copied byte for byte to the run's unix sockets (the credential proxy's, the egress proxy's), the
agent's variables pointing at them. Standard library only;
`python -I -m gated.sandbox.forwarder [--socket S] [--egress-socket E] --set-env N=T -- ARGV`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType

PORT_FIELD = "{port}"  # the credential proxy's listener
EGRESS_PORT_FIELD = "{egress_port}"  # the egress proxy's listener
CHUNK = 65536
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def agent_env(
    base: Mapping[str, str],
    templates: Sequence[str],
    port: int,
    extra: Mapping[str, str],
    egress_port: int = 0,
) -> dict[str, str]:
    """The agent's environment: `base`, then each `NAME=TEMPLATE` with `{port}` and
    `{egress_port}` filled in, then `extra` (the values gated handed over in the env file)."""
    env = dict(base)
    for item in templates:
        name, sep, template = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set-env: expected NAME=TEMPLATE, got {item!r}")
        value = template.replace(PORT_FIELD, str(port))
        env[name] = value.replace(EGRESS_PORT_FIELD, str(egress_port))
    env.update(extra)
    return env


def exit_status(returncode: int) -> int:
    """A shell's exit status of a child: its code, or 128 + the signal that killed it."""
    return 128 - returncode if returncode < 0 else returncode


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _forward(client: socket.socket, path: str) -> None:
    with client:
        try:
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(path)
        except OSError:
            return
        with upstream:
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            back.start()
            _pump(client, upstream)
            back.join()


def _serve(listener: socket.socket, path: str) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=_forward, args=(client, path), daemon=True).start()


def listen() -> tuple[socket.socket, int]:
    """A listening socket on 127.0.0.1 (an ephemeral port) and its port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port: int = listener.getsockname()[1]
    return listener, port


def _forward_to(path: str | None) -> int:
    """A listener whose connections go to the unix socket `path`, served on a thread; its
    port (0: no path, no listener)."""
    if path is None:
        return 0
    listener, port = listen()
    threading.Thread(target=_serve, args=(listener, path), daemon=True).start()
    return port


def read_env_file(path: str | None) -> dict[str, str]:
    """The JSON object of `--env-file` (removed once read), or nothing."""
    if path is None:
        return {}
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    os.unlink(path)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"--env-file {path}: expected an object of strings")
    return data


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gated.sandbox.forwarder", description=__doc__)
    parser.add_argument("--socket", help="the credential proxy's unix socket ({port})")
    parser.add_argument("--egress-socket", help="the egress proxy's unix socket ({egress_port})")
    parser.add_argument(
        "--set-env",
        action="append",
        default=[],
        metavar="NAME=TEMPLATE",
        help="{port}, {egress_port}: our listeners' ports",
    )
    parser.add_argument("--env-file", help="JSON object of more variables; removed once read")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the agent's argv")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("the agent's command is missing (after --)")
    if args.socket is None and args.egress_socket is None:
        parser.error("nothing to forward: give --socket, --egress-socket or both")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        extra = read_env_file(args.env_file)
        port = _forward_to(args.socket)
        egress_port = _forward_to(args.egress_socket)
        env = agent_env(os.environ, args.set_env, port, extra, egress_port)
    except (OSError, ValueError) as exc:
        print(f"forwarder: {exc}", file=sys.stderr)
        return 2
    child: subprocess.Popen[bytes] | None = None
    pending: list[int] = []

    def relay(signum: int, _frame: FrameType | None) -> None:
        if child is None:
            pending.append(signum)
        else:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, relay)
    try:
        child = subprocess.Popen(args.command, env=env)
    except OSError as exc:
        print(f"forwarder: cannot start {args.command[0]!r}: {exc}", file=sys.stderr)
        return 127
    for signum in pending:
        child.send_signal(signum)
    return exit_status(child.wait())


if __name__ == "__main__":
    sys.exit(main())
