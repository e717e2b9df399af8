"""Registers the lyrics modality's components with SAPPHIRE (entry point ``sapphire.plugins``).

Imports stay inside the hook: listing plugins must not load transformers.
"""

from sapphire_core import hookimpl


@hookimpl
def register_components(registrar):
    from sapphire_lyrics.extractors import EXTRACTORS
    from sapphire_lyrics.lyrics_encoder import LyricsAttentionEncoder
    from sapphire_lyrics.text_tower import MiniLMTextTower

    registrar.add(*EXTRACTORS, LyricsAttentionEncoder, MiniLMTextTower)
