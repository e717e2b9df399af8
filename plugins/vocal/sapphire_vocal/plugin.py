"""Registers the vocal modality's components with SAPPHIRE (entry point ``sapphire.plugins``): its
extractors and encoders, and query by humming (the ``hum`` query mode over the ``melody`` index extra)."""

from sapphire_core import hookimpl


@hookimpl
def register_components(registrar):
    from sapphire_vocal.encoders import ENCODERS
    from sapphire_vocal.extractors import EXTRACTORS
    from sapphire_vocal.hum import HumMode, MelodyExtra

    registrar.add(*EXTRACTORS, *ENCODERS)
    registrar.add(HumMode, MelodyExtra)  # query by humming, against the indexed track melodies
