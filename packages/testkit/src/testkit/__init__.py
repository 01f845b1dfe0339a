"""What every test tree shares (imported as `testkit`; no daemon uses it): `wait_for`, the one
poll-until-deadline helper (`waiter` gives it another default deadline), and `StandinAdapter`,
the stand-in chat-platform adapter process (`testkit.adapter_server`), `GatedStandin`,
gated's channel API as protocol v1.1 describes it (`testkit.gated_standin`). A real Matrix
homeserver is `testkit.synapse` (its pytest fixture: `testkit.synapse_fixture`);
`switchboard-adapter-check` run by a test is `testkit.adapter_check`."""

from testkit.adapters import StandinAdapter
from testkit.gated_standin import GatedStandin
from testkit.polling import DEFAULT_TIMEOUT_S, Waiter, wait_for, waiter

__all__ = ["DEFAULT_TIMEOUT_S", "GatedStandin", "StandinAdapter", "Waiter", "wait_for", "waiter"]
