"""Registers the structure modality's components with SAPPHIRE (entry point ``sapphire.plugins``)."""

from sapphire_core import hookimpl


@hookimpl
def register_extractors(register):
    from sapphire_structure.extractors import EXTRACTORS

    for cls in EXTRACTORS:
        register(cls)


@hookimpl
def register_encoders(register):
    from sapphire_structure.encoder import StructureCNN

    register(StructureCNN)
