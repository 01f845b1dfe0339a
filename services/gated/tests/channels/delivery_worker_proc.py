"""Runs one DeliveryWorker in its own process until SIGTERM (for the exactly-once race test).

Run: python delivery_worker_proc.py DB_PATH
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from gated.delivery import DeliveryWorker
from gated_channels_support import make_config


def main() -> None:
    stop = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    worker = DeliveryWorker(make_config(sys.argv[1]))
    print("READY", flush=True)
    worker.run(stop)


if __name__ == "__main__":
    main()
