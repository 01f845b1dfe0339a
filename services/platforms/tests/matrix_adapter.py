"""`MatrixAdapterProcess`: `switchboard-matrix` as a real process pointed at the session's
Synapse and a gated; `MatrixWorld`: a fresh bot account and a fresh human (`MatrixHuman`) on
that Synapse for one test, so tests share the homeserver and nothing else."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from adapter_process import PlatformAdapterProcess
from matrix_human import MatrixHuman
from testkit.synapse import MatrixUser, Synapse


class MatrixAdapterProcess(PlatformAdapterProcess):
    """`switchboard-matrix` for one bot account."""

    program = "switchboard-matrix"
    files = "matrix"
    wait_s = 30.0

    def __init__(
        self,
        root: Path,
        homeserver: str,
        bot: MatrixUser,
        gated_url: str,
        extra: tuple[str, ...] = (),
    ) -> None:
        super().__init__(root, gated_url, bot.access_token)
        self.homeserver = homeserver
        self.bot = bot
        self.extra = extra

    def environment(self) -> dict[str, str]:
        return {
            "MATRIX_ACCESS_TOKEN": self.token,
            "SWITCHBOARD_MATRIX_HOMESERVER": self.homeserver,
            "SWITCHBOARD_MATRIX_USER": self.bot.user_id,
        }

    def options(self) -> list[str]:
        return ["--sync-timeout", "500", *self.extra]


@dataclass
class MatrixWorld:
    """One test's accounts on the shared Synapse."""

    synapse: Synapse
    root: Path
    bot: MatrixUser
    person: MatrixUser

    @classmethod
    def fresh(cls, synapse: Synapse, root: Path) -> MatrixWorld:
        tag = secrets.token_hex(4)
        bot = synapse.register(f"bot-{tag}", secrets.token_urlsafe(12))
        person = synapse.register(f"alice-{tag}", secrets.token_urlsafe(12))
        return cls(synapse, root, bot, person)

    def human(self) -> MatrixHuman:
        return MatrixHuman(self.synapse.url, self.person.user_id, self.person.access_token)

    def adapter(self, gated_url: str, *extra: str) -> MatrixAdapterProcess:
        return MatrixAdapterProcess(self.root, self.synapse.url, self.bot, gated_url, extra)
