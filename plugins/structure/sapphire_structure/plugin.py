"""Registers the structure modality's components with SAPPHIRE (entry point ``sapphire.plugins``)."""

from sapphire_core import hookimpl


@hookimpl
def register_components(registrar):
    from sapphire_structure.encoder import StructureCNN
    from sapphire_structure.extractors import EXTRACTORS

    registrar.add(*EXTRACTORS, StructureCNN)
