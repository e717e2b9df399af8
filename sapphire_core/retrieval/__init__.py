"""Search over an index folder: :class:`SearchEngine` and its :class:`SearchResult`."""

from sapphire_core.retrieval.engine import (
    SearchEngine,
    SearchError,
    SearchResult,
    UnknownTrackError,
    parse_weights,
)

__all__ = ["SearchEngine", "SearchResult", "SearchError", "UnknownTrackError", "parse_weights"]
