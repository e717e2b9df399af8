"""Reuse of intermediate results between the acoustic extractors of one track.

The extraction loop (:func:`sapphire_core.extraction.extract_track`) runs the extractors of a
track one after another on the same decoded array. ``tonal``, ``rhythm`` and ``midlevel`` need
the same tuning estimate, chroma and beat analysis, and on the torch path every extractor needs
the same STFT. :func:`memoize` keeps results for the most recent audio only (keyed by a hash of
its samples, so a different array can never be served stale results), so memory stays bounded
by one track's intermediates; a new array clears it.
"""

from __future__ import annotations

import weakref
import zlib
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

#: One slot per granularity: "track" (whole-audio results) and "segment" (the STFT of the chunk
#: being processed), so caching a chunk's STFT never evicts the track's results.
_slots: dict[str, dict[str, Any]] = {}


def fingerprint(audio: np.ndarray) -> tuple:
    """Identity of an array's content: shape, dtype, CRC-32 and Adler-32 of its bytes (~0.5 GB/s;
    not cryptographic, but the arrays are our own decoded audio, not adversarial input)."""
    a = np.ascontiguousarray(audio)
    buf = memoryview(a).cast("B")
    return a.shape, a.dtype.str, zlib.crc32(buf), zlib.adler32(buf)


def memoize(audio: np.ndarray, key: Hashable, compute: Callable[[], Any], *, slot: str = "track") -> Any:
    """``compute()`` once per (content of ``audio``, ``key``); results of an older array are dropped.

    The very same array object (checked through a weak reference, so a recycled ``id`` cannot match)
    skips hashing. Callers must treat the returned object as read-only: it may be shared with other
    extractors.
    """
    state = _slots.setdefault(slot, {"fingerprint": None, "ref": None, "values": {}})
    ref = state["ref"]
    if ref is None or ref() is not audio:
        fp = fingerprint(audio)
        if state["fingerprint"] != fp:
            state["fingerprint"], state["values"] = fp, {}
        try:
            state["ref"] = weakref.ref(audio)
        except TypeError:  # not weak-referenceable: hash every time
            state["ref"] = None
    values = state["values"]
    if key not in values:
        values[key] = compute()
    return values[key]


def clear() -> None:
    """Forget everything (tests, benchmarks timing a cold start)."""
    _slots.clear()
