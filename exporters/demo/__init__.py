"""Demo traffic for the native and compose stacks: a local chain with the platform contract, and business events."""
