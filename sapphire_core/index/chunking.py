"""Content-defined chunks of a corpus: where a chunk of tracks ends follows from the tracks, not their positions.

A chunk ends after a track whose id hashes under ``1 / chunk_size`` of the hash range (so chunks hold
``chunk_size`` tracks on average), or once it holds ``MAX_CHUNK_FACTOR * chunk_size`` tracks, so that no
chunk grows without bound. Inserting or removing a track therefore moves only the boundaries of the chunk
around it (rsync's and restic's rolling boundaries, with the track as the unit), where fixed runs of
``chunk_size`` by position would shift every later chunk and re-embed the rest of the corpus.

The hash is of the track id alone: a re-recorded or edited file keeps its track's boundaries and changes
only its own chunk's content key (:func:`sapphire_core.index.builder.build_index`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

#: A chunk never holds more than this many times ``chunk_size`` tracks (a run of ids none of which
#: ends a chunk is cut by position; the next id that ends a chunk resynchronises the boundaries).
MAX_CHUNK_FACTOR = 4

_HASH_RANGE = 1 << 64
T = TypeVar("T")


def ends_chunk(track_id: str, chunk_size: int) -> bool:
    """Whether a chunk ends after the track ``track_id``: true for about one id in ``chunk_size``,
    the same on every run and machine (SHA-256, not Python's salted ``hash``)."""
    digest = hashlib.sha256(f"sapphire-chunk:{track_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < _HASH_RANGE // chunk_size


def content_chunks(tracks: Sequence[T], chunk_size: int) -> list[list[T]]:
    """Cut ``tracks`` (anything with an ``id``), in their order, into content-defined chunks.

    Parameters
    ----------
    tracks : sequence
        The corpus's tracks in index order; each has a string ``id``.
    chunk_size : int
        The mean number of tracks per chunk (``1``: one track per chunk).

    Returns
    -------
    list of list
        Consecutive, non-empty chunks that together hold every track once, in order; none longer
        than ``MAX_CHUNK_FACTOR * chunk_size``.

    Raises
    ------
    ValueError
        When ``chunk_size`` is below 1.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    longest = MAX_CHUNK_FACTOR * chunk_size
    chunks: list[list[T]] = []
    current: list[T] = []
    for track in tracks:
        current.append(track)
        if ends_chunk(track.id, chunk_size) or len(current) >= longest:
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks
