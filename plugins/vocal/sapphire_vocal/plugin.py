"""Registers the vocal modality's components with SAPPHIRE (entry point ``sapphire.plugins``)."""

from sapphire_core import hookimpl


@hookimpl
def register_extractors(register):
    from sapphire_vocal.extractors import EXTRACTORS

    for cls in EXTRACTORS:
        register(cls)


@hookimpl
def register_encoders(register):
    from sapphire_vocal.encoders import ENCODERS

    for cls in ENCODERS:
        register(cls)


@hookimpl
def register_query_modes(register):
    from sapphire_vocal.hum import HumMode

    register(HumMode)


@hookimpl
def register_index_extras(register):
    from sapphire_vocal.hum import MelodyExtra

    register(MelodyExtra)
