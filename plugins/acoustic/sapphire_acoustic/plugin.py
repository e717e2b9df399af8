"""Registers the acoustic modality's components with SAPPHIRE (entry point ``sapphire.plugins``)."""

from sapphire_core import hookimpl


@hookimpl
def register_extractors(register):
    pass


@hookimpl
def register_encoders(register):
    pass
