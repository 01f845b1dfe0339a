"""adapterkit: what every Switchboard platform adapter shares. A platform implements `Platform`
(start/send/typing/health/stop); `run(factory, argv, ...)` does the rest: flags, the /send
server, registration with gated (protocol v1.1), inbound delivery, state, SIGTERM."""

from adapterkit.config import AdapterConfig
from adapterkit.errors import (
    PermanentFailure,
    RegistrationRefused,
    Stopping,
    TemporaryFailure,
    TokenRejected,
)
from adapterkit.model import Capabilities, Format, Inbound, InFile, Outbound, OutFile, Verb
from adapterkit.platform import Platform, Sink, State
from adapterkit.run import run

__all__ = [
    "AdapterConfig",
    "Capabilities",
    "Format",
    "InFile",
    "Inbound",
    "OutFile",
    "Outbound",
    "PermanentFailure",
    "Platform",
    "RegistrationRefused",
    "Sink",
    "State",
    "Stopping",
    "TemporaryFailure",
    "TokenRejected",
    "Verb",
    "run",
]
