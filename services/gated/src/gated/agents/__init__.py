"""Agents shipped with gated: `switchboard-echo` and `switchboard-agent-claude`."""
