"""Egress of `network=proxy` agent runs: the allowlisting proxy gated runs for them
(`proxy`), its pure decisions (`rules`) and the counts of what was allowed and denied
(`counts`)."""

from gated.egress.counts import EgressCount, EgressCounter, egress_counts
from gated.egress.proxy import SOCKET_NAME, EgressProxy, RunEgress

__all__ = [
    "SOCKET_NAME",
    "EgressCount",
    "EgressCounter",
    "EgressProxy",
    "RunEgress",
    "egress_counts",
]
