"""Search over an index folder: :class:`SearchEngine` and its :class:`SearchResult`."""

from sapphire_core.retrieval.engine import SearchEngine, UnknownTrackError
from sapphire_core.retrieval.ranking import SearchError, parse_weights
from sapphire_core.retrieval.result import SearchResult

__all__ = ["SearchEngine", "SearchResult", "SearchError", "UnknownTrackError", "parse_weights"]
