"""The one search-result type every engine returns (the index's and the web app's in-memory baseline)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SearchResult:
    """One hit.

    Attributes
    ----------
    track_id : str
    score : float
        Higher is closer (cosine for embedding modes, a weighted mean when modes combine).
    rank : int
        1 for the best hit.
    metadata : dict
        The track's ``tracks.jsonl`` record.
    audio_path : str or Path or None
    explanation : dict
        ``"modes"`` (each mode's score), ``"subspaces"``, ``"modalities"``, one entry per installed
        explanation (e.g. ``"midlevel"``: ``{"query", "result"}``) and a one-line ``"summary"``.
    """

    track_id: str
    score: float
    rank: int
    metadata: dict[str, Any]
    audio_path: str | Path | None
    explanation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
