"""Switchboard's chat-platform adapters: one module per platform (telegram, slack,
discord_adapter, matrix), each a console script whose main() is adapterkit.run(ThatPlatform)."""
