"""The QueryMode interface: a way to query an index that a plugin adds to search.

The core's own modes embed the query into the model's space: ``audio`` (a recording), ``text``
(the text tower) and ``lyrics`` (the lyrics modality). A plugin mode instead scores indexed
tracks itself, against an index extra (e.g. the vocal plugin's ``hum``: melody matching of a
hummed query). ``SearchEngine.search(**{mode: query})`` takes any installed mode; combined with
other modes, its scores are rescaled to [0, 1] before the weighted mean. A mode may also say why
each result matched (:meth:`QueryMode.explain`); the engine shows it under the mode's name. A mode may
also *refine* a core mode (:attr:`QueryMode.refines`): an audio query is then ranked by the model's
cosine plus a bonus where this mode matches strongly (e.g. chroma alignment lifts other versions of
the query's work), with no flag to set.

A :class:`VectorQueryMode` scores with per-track vectors that need no training (e.g. descriptor
statistics): ``sapphire index --model none`` stores them as the index's vectors, so a catalogue is
searchable, and ``similar`` / ``playlist`` work, before any model exists.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Literal

import numpy as np

#: The modes every model answers (no plugin needed).
CORE_MODES = ("audio", "text", "lyrics")


class QueryMode(ABC):
    """Scores indexed tracks for one kind of query.

    Class attributes
    ----------------
    name : str
        The mode's name: the ``search()`` keyword, ``sapphire search --query NAME=...``, the web
        app's upload ``kind`` and the ``queries.jsonl`` ``kind`` its evaluation reads.
    input : {"audio", "text"}
        ``audio``: a file path or ``(samples, sample_rate)``; ``text``: a string.
    extra : str
        The :class:`~sapphire_core.index_extra.IndexExtra` it ranks against.
    evaluates : tuple of str
        Core evaluation tasks whose queries the mode also answers, beside its own ``queries.jsonl``
        kind: ``"audio->audio"`` (every held-out track, itself excluded), ``"excerpt->audio"`` and
        ``"copy->audio"`` (degraded excerpts; relevant = their source track).
    title, description : str
        Its row name and one-line description in evaluation tables.
    refines : tuple of str
        Core modes (``"audio"``) whose rankings this mode refines when its extra is in the index: a
        result's score there gains ``refine_weight * max(0, score here - refine_threshold)``
        (:func:`sapphire_core.retrieval.ranking.refine`), so a strong match of this mode (another
        version of the query's work) lifts a result, and a weak one leaves the model's ranking alone.
    refine_threshold, refine_weight : float
        Where this mode's scores start to mean "the same music", and how much a point above it adds to
        the model's cosine. A plugin chooses both on its training data, never on evaluation works.
    """

    name: ClassVar[str]
    input: ClassVar[Literal["audio", "text"]] = "audio"
    extra: ClassVar[str]
    evaluates: ClassVar[tuple[str, ...]] = ()
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    refines: ClassVar[tuple[str, ...]] = ()
    refine_threshold: ClassVar[float] = 0.0
    refine_weight: ClassVar[float] = 0.0

    @abstractmethod
    def rank(self, query: Any, data: Any, *, k: int) -> list[tuple[str, float]]:
        """The ``k`` best ``(track_id, score)`` for ``query``, best first (higher is closer).

        Parameters
        ----------
        query : path, (np.ndarray, int) or str
            As :attr:`input` says.
        data : object
            What the extra's :meth:`~sapphire_core.index_extra.IndexExtra.load` returned.
        k : int
        """

    def per_query(self, query: Any, compute: Callable[[Any], Any]) -> Any:
        """``compute(query)``, once per query object: kept until another query comes, so that
        :meth:`explain` reuses what :meth:`rank` extracted from the same query (a hum's melody)."""
        kept = self.__dict__.get("_per_query")
        if kept is None or kept[0] is not query:
            kept = self._per_query = (query, compute(query))  # holding the query keeps its id unique
        return kept[1]

    def explain(self, query: Any, data: Any, track_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Why each of ``track_ids`` (the results shown, best first) matched ``query``.

        Called once per search with explanations, after :meth:`rank` on the same instance (so a mode
        may keep what it computed from the query). The default says nothing; the engine then names
        the mode's match score.

        Returns
        -------
        dict
            ``{track_id: {"summary": "one line in words", ...}}``: JSON-safe values only; the result's
            ``explanation[<mode name>]`` holds the dict and its summary leads the result's summary.
            Tracks left out get no explanation from this mode.
        """
        return {}

    def pair_scores(self, data: Any, pairs: list[tuple[str, str]]) -> np.ndarray | None:
        """The mode's score of each ``(track_a, track_b)`` of indexed tracks (``a`` as the query; NaN where
        either is not indexed), or None when the mode cannot compare indexed tracks with each other (the
        default). Label-triplet evaluation uses it."""
        return None


def transposition_in_words(semitones: float) -> str:
    """How far a query lies above or below a result, for a mode's one-line explanation.

    Near-whole steps read as whole semitones (a sung query is rarely exactly in tune).

    Examples
    --------
    >>> transposition_in_words(-2.04), transposition_in_words(1), transposition_in_words(2.5)
    ('2 semitones lower', '1 semitone higher', '2.5 semitones higher')
    >>> transposition_in_words(0.1)
    'in its key'
    """
    step = round(semitones) if abs(semitones - round(semitones)) < 0.25 else round(semitones, 1)
    if step == 0:
        return "in its key"
    unit = "semitone" if abs(step) == 1 else "semitones"
    return f"{abs(step):g} {unit} {'higher' if step > 0 else 'lower'}"


class VectorQueryMode(QueryMode):
    """A training-free audio query mode that compares per-track unit vectors.

    :meth:`rank` and :meth:`pair_scores` default to the inner product of the vectors; a subclass may
    add to that score (the vectors then carry its linear part). ``sapphire index --model none`` builds
    an index whose vector store holds :meth:`track_vectors`, with :meth:`subspaces` as its named
    sub-spaces, and answers audio queries with :meth:`rank` and file seeds with :meth:`embed`.
    """

    @abstractmethod
    def track_vectors(self, data: Any) -> tuple[list[str], np.ndarray]:
        """``(track ids, (N, D) unit vectors)`` of every track the extra holds."""

    @abstractmethod
    def embed(self, query: Any, data: Any) -> np.ndarray:
        """The ``(D,)`` unit vector of a query recording (a path or ``(samples, sample_rate)``)."""

    def subspaces(self, data: Any) -> dict[str, slice]:
        """Named slices of the vectors (e.g. one per descriptor block) [default: none]."""
        return {}

    def rank(self, query: Any, data: Any, *, k: int) -> list[tuple[str, float]]:
        ids, X = self.track_vectors(data)
        scores = X @ self.embed(query, data)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(ids[i], float(scores[i])) for i in order]

    def pair_scores(self, data: Any, pairs: list[tuple[str, str]]) -> np.ndarray:
        ids, X = self.track_vectors(data)
        row = {t: i for i, t in enumerate(ids)}
        return np.array([float(X[row[a]] @ X[row[b]]) if a in row and b in row else np.nan for a, b in pairs])
