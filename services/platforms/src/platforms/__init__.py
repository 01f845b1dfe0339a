"""Switchboard's chat-platform adapters: one module per platform (telegram), each a console
script whose main() is adapterkit.run(ThatPlatform)."""
