"""Registers the lyrics modality's components with SAPPHIRE (entry point ``sapphire.plugins``).

Imports stay inside the hooks: listing plugins must not load transformers.
"""

from sapphire_core import hookimpl


@hookimpl
def register_extractors(register):
    from sapphire_lyrics.extractors import EXTRACTORS

    for cls in EXTRACTORS:
        register(cls)


@hookimpl
def register_encoders(register):
    from sapphire_lyrics.lyrics_encoder import LyricsAttentionEncoder
    from sapphire_lyrics.text_tower import MiniLMTextTower

    register(LyricsAttentionEncoder)
    register(MiniLMTextTower)
