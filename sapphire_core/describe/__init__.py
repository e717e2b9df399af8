"""Description backends shipped with the core (registered by :mod:`sapphire_core.builtin`)."""

BACKENDS: list[type] = []
