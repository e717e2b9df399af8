"""The per-track context: intermediates the extractors of one track share, for as long as that track is extracted.

:func:`sapphire_core.extraction.extract_track` opens one :class:`TrackContext` per track, makes it
current while the track's extractors run, and passes it to every extractor whose ``extract``
takes a ``context`` argument. The audio is decoded once per sample rate (``context.audio(sr)``);
anything else several extractors compute from the same samples (an STFT, a tuning estimate, a
pitch track) goes through :func:`shared`, which computes it once per track and content::

    power = shared(segment, ("stft_power", n_fft, hop), lambda: stft_power(segment))

Outside an extraction (an extractor called directly) :func:`shared` simply computes, so results
never depend on what ran before, and nothing outlives the track: no module-global memo caches.
"""

from __future__ import annotations

import contextvars
import weakref
import zlib
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from sapphire_core.data import Track

T = TypeVar("T")
_CURRENT: contextvars.ContextVar[TrackContext | None] = contextvars.ContextVar("sapphire_track_context", default=None)


def fingerprint(audio: np.ndarray) -> tuple:
    """Identity of an array's content: shape, dtype, CRC-32 and Adler-32 of its bytes (~0.5 GB/s; not
    cryptographic, but the arrays are our own decoded audio, not adversarial input)."""
    a = np.ascontiguousarray(audio)
    buf = memoryview(a).cast("B")
    return a.shape, a.dtype.str, zlib.crc32(buf), zlib.adler32(buf)


class TrackContext:
    """Shared intermediates of one track.

    Parameters
    ----------
    track : Track or None
        The track being extracted (``None`` for a bare array, e.g. in tests).

    Notes
    -----
    Results are kept per *slot*, each for the most recent content only: ``"track"`` for
    whole-audio results, ``"segment"`` for the chunk being processed (a chunk's STFT never evicts
    the track's results, and memory stays bounded by one chunk's intermediates).
    """

    def __init__(self, track: Track | None = None) -> None:
        self.track = track
        self._decoded: dict[int, np.ndarray] = {}
        self._slots: dict[str, dict[str, Any]] = {}

    def audio(self, sr: int) -> np.ndarray:
        """The track's mono samples at ``sr``, decoded once per rate.

        Raises
        ------
        AudioError
            When the file cannot be used (naming it).
        """
        if sr not in self._decoded:
            from sapphire_core.audio import load_audio

            self._decoded[sr] = load_audio(self.track.audio, sr=sr)
        return self._decoded[sr]

    def release(self, sr: int) -> None:
        """Forget the samples decoded at ``sr`` and the intermediates last computed from them.

        The extraction loop calls this once no extractor left needs the rate, so a long track holds one
        rate's samples at a time (a 2-hour file is ~640 MB at 22.05 kHz and ~460 MB at 16 kHz).
        """
        audio = self._decoded.pop(sr, None)
        if audio is None:
            return
        for state in self._slots.values():
            ref = state["ref"]
            if ref is not None and ref() is audio:
                state.update(fingerprint=None, ref=None, values={})

    def shared(self, audio: np.ndarray, key: Hashable, compute: Callable[[], T], *, slot: str = "track") -> T:
        """``compute()`` once per (content of ``audio``, ``key``); results of older content in ``slot`` are dropped.

        The very same array object (checked through a weak reference, so a recycled ``id`` cannot
        match) skips hashing. Treat the result as read-only: other extractors get the same object.
        """
        state = self._slots.setdefault(slot, {"fingerprint": None, "ref": None, "values": {}})
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


def current_context() -> TrackContext | None:
    """The context of the track being extracted, or None outside an extraction."""
    return _CURRENT.get()


@contextmanager
def track_context(context: TrackContext) -> Iterator[TrackContext]:
    """Make ``context`` current while the block runs."""
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


def shared(audio: np.ndarray, key: Hashable, compute: Callable[[], T], *, slot: str = "track") -> T:
    """:meth:`TrackContext.shared` of the current context; outside an extraction, just ``compute()``."""
    context = _CURRENT.get()
    return compute() if context is None else context.shared(audio, key, compute, slot=slot)
