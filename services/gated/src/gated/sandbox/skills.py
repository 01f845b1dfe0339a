"""The shared skills directory (`--skills-dir`): read-only in every confined run at SKILLS_INSIDE,
named by SWITCHBOARD_SKILLS; checked at every run by the store's mount rule, so it can never
be, contain or lie in the database's directory or the groups directory."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from store.group_settings import check_mount
from store.models import Mount

from gated.sandbox.errors import SandboxError

SKILLS_INSIDE: Final = "/skills"
SKILLS_ENV: Final = "SWITCHBOARD_SKILLS"
SKILLS_KEY: Final = "skills_dir"


def skills_mount(skills_dir: str, forbidden: Sequence[str]) -> Mount:
    """The skills directory as a read-only mount at SKILLS_INSIDE (its host path resolved), or
    InvalidInput (`skills_dir: ...`) when it overlaps a `forbidden` path or is gone, or
    SandboxError when it is not a directory."""
    mount = check_mount(
        skills_dir,
        SKILLS_INSIDE,
        False,
        mount_roots=[Path(os.path.realpath(skills_dir))],
        protected=[Path(p) for p in forbidden],
        key=SKILLS_KEY,
    )
    if not os.path.isdir(mount.host_path):
        raise SandboxError(SKILLS_KEY, f"{skills_dir[:80]} is not a directory")
    return mount
