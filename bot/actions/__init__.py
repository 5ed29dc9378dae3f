"""One module per action kind, each implementing the engine's Action protocol; see registry.py."""
