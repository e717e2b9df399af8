"""SAPPHIRE: Semantic and Acoustic Perceptual Holistic Integration REtrieval."""

from sapphire_core.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
