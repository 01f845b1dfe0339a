"""Say something to the bot as the human, for the conformance kit's `--say`: one m.text (and
optionally one m.file) into a room, sent with a real matrix-nio client.

    python services/platforms/tests/matrix_say.py --homeserver URL --token T --room ROOM TEXT
        [--file PATH] [--after-member @bot:server]

With --after-member the human first waits (up to 30 s) until that user has joined the room:
an adapter skips what was said before its bot joined.

Prints the event ids sent, one a line; exit 1 with one line when the homeserver refuses."""

from __future__ import annotations

import argparse
import asyncio
import mimetypes
import sys
from pathlib import Path

from nio import AsyncClient, WhoamiResponse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from matrix_human import MatrixHuman

MEMBER_TIMEOUT_S = 30.0


async def say(
    homeserver: str,
    token: str,
    room: str,
    text: str,
    file: Path | None,
    after_member: str | None = None,
) -> list[str]:
    probe = AsyncClient(homeserver, "")
    probe.access_token = token
    try:
        me = await probe.whoami()
    finally:
        await probe.close()
    if not isinstance(me, WhoamiResponse):
        raise AssertionError(f"the homeserver refused the token: {me}")
    sent: list[str] = []
    async with MatrixHuman(homeserver, str(me.user_id), token) as human:
        if after_member:
            await human.wait_for_member(room, after_member, timeout=MEMBER_TIMEOUT_S)
        if text:
            sent.append(await human.send_text(room, text))
        if file is not None:
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            sent.append(await human.send_file(room, file.name, file.read_bytes(), kind))
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homeserver", required=True, metavar="URL")
    parser.add_argument("--token", required=True, help="the human's access token")
    parser.add_argument("--room", required=True, metavar="ROOM_ID")
    parser.add_argument("--file", type=Path, default=None, metavar="PATH")
    parser.add_argument("--after-member", metavar="USER_ID", help="wait until USER_ID joined")
    parser.add_argument("text")
    args = parser.parse_args(argv)
    try:
        sent = asyncio.run(
            say(args.homeserver, args.token, args.room, args.text, args.file, args.after_member)
        )
    except (AssertionError, OSError) as exc:
        print(f"matrix_say: {exc}", file=sys.stderr)
        return 1
    for event_id in sent:
        print(event_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
