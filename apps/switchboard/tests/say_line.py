"""A person typing into a terminal adapter, for the checker's `--say`: TEXT is written as one
line to FIFO, which the adapter under test (the example adapter, the broken one) reads as its
stdin. `python say_line.py FIFO TEXT`; no `--file`: these adapters take no files."""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("fifo", type=Path)
    parser.add_argument("text")
    args = parser.parse_args()
    with args.fifo.open("w", encoding="utf-8") as pipe:
        pipe.write(args.text.replace("\n", " ") + "\n")


if __name__ == "__main__":
    main()
