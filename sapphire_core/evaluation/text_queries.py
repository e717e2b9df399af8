"""Hand-written text queries with relevance from metadata (``text_queries.yaml`` beside this module).

Generated descriptions share their phrasing with the training captions, so text->audio measured on
them flatters a model. These queries are written by hand in other words; a track is relevant when
its metadata matches every condition of the query. Many tracks match a broad query, so the figures
are precision at 10 and the share of queries with a relevant track in the top 10, beside chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sapphire_core.errors import ConfigError

QUERIES_FILE = Path(__file__).with_name("text_queries.yaml")


@dataclass(frozen=True)
class TextQuery:
    """One query and the metadata a relevant track has (``field -> allowed values``)."""

    text: str
    match: dict[str, tuple[str, ...]]

    def relevant(self, metadata: dict[str, Any]) -> bool:
        """Whether a track with this metadata answers the query (``composer_has`` matches a substring)."""
        for name, allowed in self.match.items():
            if name == "composer_has":
                composer = str(metadata.get("composer") or "").lower()
                if not any(a.lower() in composer for a in allowed):
                    return False
            elif str(metadata.get(name)) not in allowed:
                return False
        return True


def load_text_queries(path: str | Path = QUERIES_FILE) -> list[TextQuery]:
    """Read the queries file (a YAML list of ``{text, match}``).

    Raises
    ------
    ConfigError
        Naming the file and the entry when one is malformed.
    """
    path = Path(path)
    items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    out = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not isinstance(item.get("match"), dict):
            raise ConfigError(f"{path}: entry {n} needs 'text' (a string) and 'match' (a mapping of field to values)")
        out.append(TextQuery(item["text"], {k: tuple(str(v) for v in (vals if isinstance(vals, list) else [vals]))
                                            for k, vals in item["match"].items()}))
    return out


def relevance_matrix(queries: list[TextQuery], metadata: list[dict[str, Any]]) -> np.ndarray:
    """``(Q, N)`` bool: which of ``N`` tracks (by metadata) answer each query."""
    return np.array([[q.relevant(m) for m in metadata] for q in queries], dtype=bool).reshape(len(queries),
                                                                                             len(metadata))


def precision_at_k(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> np.ndarray:
    """Per query: the share of the ``k`` best-scored items that are relevant.

    Examples
    --------
    >>> precision_at_k(np.array([[0.9, 0.1, 0.5]]), np.array([[True, False, False]]), k=2)
    array([0.5])
    """
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(relevant, top, axis=1).mean(axis=1)


__all__ = ["QUERIES_FILE", "TextQuery", "load_text_queries", "precision_at_k", "relevance_matrix"]
