"""Per-run private directories (0700) holding a run's unix sockets (`proxy.sock` of the
credential proxy, `egress.sock` of the egress proxy), which a confined run gets bound in at
/run/switchboard. They live under --runtime-dir, else a private temporary directory made on
first use and removed at stop."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Final

MAX_SOCKET_PATH: Final = 100  # sun_path holds 108 bytes
LONGEST_SOCKET_NAME: Final = len("egress.sock")


class RunDirs:
    """Where runs' directories are made; shared by the credential and the egress proxy."""

    def __init__(self, root: Path | None) -> None:
        self._root = root
        self._own: Path | None = None
        self._lock = threading.Lock()

    def root(self) -> Path:
        with self._lock:
            if self._root is None:
                self._root = self._own = Path(tempfile.mkdtemp(prefix="switchboard-gated-"))
            return self._root

    def path(self, run_id: int) -> Path:
        """The directory of a run (not made)."""
        return self.root() / f"run-{run_id}"

    def create(self, run_id: int) -> Path:
        """A fresh, empty directory for a run (what a dead run left there is removed); OSError
        when a socket in it would have too long a path."""
        run_dir = self.path(run_id)
        if len(str(run_dir)) + 1 + LONGEST_SOCKET_NAME > MAX_SOCKET_PATH:
            raise OSError(f"runtime dir {run_dir.parent} is too long for a unix socket path")
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(mode=0o700, parents=True)
        return run_dir

    @staticmethod
    def remove(run_dir: Path) -> None:
        shutil.rmtree(run_dir, ignore_errors=True)

    def stop(self) -> None:
        """Remove the temporary root, when this made one."""
        with self._lock:
            own, self._own = self._own, None
            if own is not None:
                self._root = None
        if own is not None:
            shutil.rmtree(own, ignore_errors=True)
