"""The native stack: the compose topology started from local binaries (no Docker)."""
