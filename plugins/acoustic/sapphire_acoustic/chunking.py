"""Frame-wise features of long audio in bounded memory.

A 60-minute file at 22.05 kHz has ~155 000 frames at hop 512; its full STFT (1025 bins, complex64)
alone would take 1.3 GB. :func:`chunked_frames` runs a frame-wise function over overlapping
segments and stitches the frames, so peak memory is the output plus one segment's intermediates.

The stitching is exact for any function whose frame ``k`` depends only on samples within
``margin`` of ``k * hop`` (the STFT with ``center=True``, a CQT, a smoothing window...): each
segment starts on a hop boundary, is computed with ``margin`` extra samples on both sides, and
only its interior frames are kept. At the true start and end of the file the segment is the
file's own edge, so edge frames equal the whole-file result too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

#: Seconds of audio per segment: large enough that the margins cost little, small enough that a
#: segment's STFT stays ~30 MB.
DEFAULT_CHUNK_SECONDS = 60.0


def n_frames(n_samples: int, hop: int) -> int:
    """Frames of a ``center=True`` frame-wise transform of ``n_samples`` samples (librosa's count)."""
    return 1 + n_samples // hop


def chunked_frames(audio: np.ndarray, fn: Callable[[np.ndarray], np.ndarray | tuple[np.ndarray, ...]], *,
                   hop: int, margin: int, sr: int = 22050,
                   chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> np.ndarray | tuple[np.ndarray, ...]:
    """Apply ``fn`` (samples -> ``(..., frames)`` arrays, ``center=True`` framing at ``hop``) in segments.

    Parameters
    ----------
    audio : np.ndarray
        Mono samples.
    fn : callable
        Maps a segment to one array or a tuple of arrays whose last axis is frames.
    hop : int
        Hop length (samples) of ``fn``'s framing.
    margin : int
        Samples of context ``fn`` needs on each side of a frame centre (rounded up to whole hops).
    sr : int
        Sample rate, only to turn ``chunk_seconds`` into samples.
    chunk_seconds : float
        Segment length; audio no longer than this (plus margins) is processed in one call.

    Returns
    -------
    np.ndarray or tuple of np.ndarray
        What ``fn`` returns for the whole ``audio``, with ``n_frames(len(audio), hop)`` frames.
    """
    total = n_frames(len(audio), hop)
    margin_hops = -(-int(margin) // hop)
    chunk_hops = max(1, int(chunk_seconds * sr) // hop)
    if total <= chunk_hops + 2 * margin_hops:
        return fn(audio)
    joined: tuple[np.ndarray, ...] = ()
    single = False
    for lo, start, stop, hi in frame_chunks(total, chunk=chunk_hops, margin=margin_hops):
        # Past the file's end the slice stops at the real end, so its edge frames match the full run.
        out = fn(audio[lo * hop : (hi - 1) * hop + 1])
        if not isinstance(out, tuple):
            single, out = True, (out,)
        if not joined:
            # The whole outputs, allocated once: keeping each chunk's frames as a separate small array
            # between the chunks' large transient buffers fragments the heap, which then grows by about a
            # buffer per chunk (~0.5 GB over an hour of audio) instead of reusing it.
            joined = tuple(np.empty((*o.shape[:-1], total), dtype=o.dtype) for o in out)
        for whole, o in zip(joined, out):
            whole[..., start:stop] = o[..., start - lo : stop - lo]
    return joined[0] if single else joined


def streamed_frames(blocks: Iterable[np.ndarray], make_fn: Callable[[np.ndarray], Callable], *, hop: int,
                    margin: int, sr: int = 22050, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                    expected_samples: int | None = None) -> np.ndarray | tuple[np.ndarray, ...]:
    """:func:`chunked_frames` over a stream of sample blocks (e.g. :func:`sapphire_core.audio.audio_blocks`).

    Memory is about two segments whatever the stream's length, where :func:`chunked_frames` needs the
    whole track. ``make_fn(head)`` builds the frame function once, from the samples buffered when the
    first segment is due (the track's first ``2 * chunk_seconds`` or more, or the whole of a shorter
    track): room for per-track settings taken from its start, such as the tuning.

    A stream no longer than two segments is passed to the frame function in one call, as
    :func:`chunked_frames` does with audio of up to one segment, so the two agree bit for bit up to
    one segment. Longer streams are cut into segments of exactly ``chunk_seconds`` (and a last one of one to
    two segments) instead of equal ones, as the length is not known in advance: exact at the edges for
    the functions :func:`chunked_frames` is exact for, up to floating-point rounding. ``expected_samples``
    (the length the file's header announces) lets the outputs be allocated once at their final size.

    Returns
    -------
    np.ndarray or tuple of np.ndarray
        As :func:`chunked_frames` for the blocks joined.
    """
    stream = FrameStream(make_fn, hop=hop, margin=margin, sr=sr, chunk_seconds=chunk_seconds,
                         expected_samples=expected_samples)
    for block in blocks:
        stream.feed(block)
    return stream.finish()


class FrameStream:
    """:func:`streamed_frames` fed one block at a time: ``feed(block)`` for each, then ``finish()``.

    Streams with the same ``hop``, ``margin``, ``sr`` and ``chunk_seconds`` fed the same blocks cut the same
    segments at the same block, so a segment's STFT shared through the track's context
    (:func:`sapphire_acoustic.common.shared_stft_power`) is computed once for all of them, as on the
    whole-track path.
    """

    def __init__(self, make_fn: Callable[[np.ndarray], Callable], *, hop: int, margin: int, sr: int = 22050,
                 chunk_seconds: float = DEFAULT_CHUNK_SECONDS, expected_samples: int | None = None) -> None:
        self.make_fn, self.hop = make_fn, hop
        self.margin_hops = -(-int(margin) // hop)
        self.chunk_hops = max(1, int(chunk_seconds * sr) // hop)
        self.expected_frames = None if expected_samples is None else n_frames(int(expected_samples), hop)
        self.buffer = np.zeros(0, np.float32)
        self.offset = 0  # stream index of buffer[0]
        self.start = 0  # next frame to compute
        self.fn: Callable | None = None
        self.outputs: list[_Frames] = []
        self.single = False
        self.samples = 0  # fed so far

    def feed(self, block: np.ndarray) -> None:
        """Take the next block of samples; computes every segment that is now complete."""
        hop, margin_hops, chunk_hops = self.hop, self.margin_hops, self.chunk_hops
        self.buffer = np.concatenate([self.buffer, np.asarray(block, np.float32)])
        self.samples += len(block)
        # A segment is cut only once a whole one follows it, so the last segment is never a short sliver.
        while self.offset + len(self.buffer) > (self.start + 2 * chunk_hops + margin_hops) * hop:
            self.fn = self.fn or self.make_fn(self.buffer)
            lo, hi = max(0, self.start - margin_hops), self.start + chunk_hops + margin_hops
            self._keep(self.fn(self.buffer[lo * hop - self.offset: (hi - 1) * hop + 1 - self.offset]), lo,
                       self.start + chunk_hops)
            self.start += chunk_hops
            drop = max(0, self.start - margin_hops) * hop - self.offset
            self.buffer, self.offset = self.buffer[drop:], self.offset + drop

    def finish(self) -> np.ndarray | tuple[np.ndarray, ...]:
        """The frames of the whole stream (the last segment is computed now)."""
        self.fn = self.fn or self.make_fn(self.buffer)
        if self.start == 0:
            return self.fn(self.buffer)
        lo = max(0, self.start - self.margin_hops)
        self._keep(self.fn(self.buffer[lo * self.hop - self.offset:]), lo, n_frames(self.offset + len(self.buffer),
                                                                                 self.hop))
        self.buffer = np.zeros(0, np.float32)
        joined = tuple(frames.result() for frames in self.outputs)
        self.outputs = []
        return joined[0] if self.single else joined

    def _keep(self, out, lo: int, stop: int) -> None:
        if not isinstance(out, tuple):
            self.single, out = True, (out,)
        if not self.outputs:
            self.outputs = [_Frames(o, self.expected_frames) for o in out]
        for frames, o in zip(self.outputs, out):
            frames.append(o[..., self.start - lo: stop - lo])


class _Frames:
    """One output's frames, appended along the last axis into an array allocated once when the final length
    is announced (growing geometrically otherwise): joining per-segment pieces at the end would hold every
    output twice, and the small pieces between large transient buffers fragment the heap."""

    def __init__(self, like: np.ndarray, expected: int | None) -> None:
        capacity = expected if expected else 4 * like.shape[-1]
        self.data = np.empty((*like.shape[:-1], max(1, capacity)), dtype=like.dtype)
        self.size = 0

    def append(self, piece: np.ndarray) -> None:
        end = self.size + piece.shape[-1]
        if end > self.data.shape[-1]:
            grown = np.empty((*self.data.shape[:-1], max(end, int(self.data.shape[-1] * 1.5) + 1)),
                             dtype=self.data.dtype)
            grown[..., : self.size] = self.data[..., : self.size]
            self.data = grown
        self.data[..., self.size:end] = piece
        self.size = end

    def result(self) -> np.ndarray:
        if self.size == self.data.shape[-1]:
            return self.data
        return np.ascontiguousarray(self.data[..., : self.size])  # the header was off: one copy, then freed


def frame_chunks(total: int, *, chunk: int, margin: int):
    """Yield ``(lo, start, stop, hi)``: keep frames ``[start, stop)``, computed from frames ``[lo, hi)``
    (``hi`` may pass ``total``; callers clip to their data)."""
    # Equal-sized chunks, so the last one is never a sliver too short for an FFT.
    count = max(1, -(-total // chunk))
    bounds = np.linspace(0, total, count + 1).round().astype(int)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        yield max(0, int(start) - margin), int(start), int(stop), int(stop) + margin
