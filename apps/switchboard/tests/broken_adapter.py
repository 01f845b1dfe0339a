"""A deliberately broken terminal adapter, for the checker's own test: the example adapter
(`gated.adapter_example`) with four bugs. /health answers without the send secret; /send does
not de-duplicate on idempotency_key, and cuts a text over max_text and answers 200; a typed
line is posted to gated once, and lost when gated is down. Same flags as the example."""

from __future__ import annotations

import sys
import uuid
from typing import Any

from gated import adapter_example as example


class BrokenHandler(example.AdapterHandler):
    def do_GET(self) -> None:
        self.answer(200, {"status": "ok"})  # bug: anyone may ask

    def send(self, chat: str, msg: dict[str, Any]) -> None:
        text = str(msg.get("text", ""))[: example.MAX_TEXT]  # bug: cut without a word
        print(f"[{chat}] {text}", flush=True)
        # bug: a repeated idempotency_key is posted again, under a new id
        self.answer(200, {"remote_id": f"term-{uuid.uuid4().hex[:12]}"})


def main() -> int:
    args, secret = example.parse_args(None)
    server, gated = example.start(args, secret, BrokenHandler)
    for line in sys.stdin:
        try:
            example.call_gated(
                f"{gated.url}/v1/messages", example.message(args.user, line), gated.token
            )
        except OSError as exc:  # bug: not tried again
            print(f"message lost: {exc}", file=sys.stderr)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
