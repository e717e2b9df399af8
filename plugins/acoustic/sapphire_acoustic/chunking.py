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
                    margin: int, sr: int = 22050,
                    chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> np.ndarray | tuple[np.ndarray, ...]:
    """:func:`chunked_frames` over a stream of sample blocks (e.g. :func:`sapphire_core.audio.audio_blocks`).

    Memory is about two segments whatever the stream's length, where :func:`chunked_frames` needs the
    whole track. ``make_fn(head)`` builds the frame function once, from the samples buffered when the
    first segment is due (the track's first ``2 * chunk_seconds`` or more, or the whole of a shorter
    track): room for per-track settings taken from its start, such as the tuning.

    A stream no longer than two segments is passed to the frame function in one call, as
    :func:`chunked_frames` does with audio of up to one segment, so the two agree bit for bit up to
    one segment. Longer streams are cut into segments of exactly ``chunk_seconds`` (and a last one of one to
    two segments) instead of equal ones, as the length is not known in advance: exact at the edges for
    the functions :func:`chunked_frames` is exact for, up to floating-point rounding.

    Returns
    -------
    np.ndarray or tuple of np.ndarray
        As :func:`chunked_frames` for the blocks joined.
    """
    margin_hops = -(-int(margin) // hop)
    chunk_hops = max(1, int(chunk_seconds * sr) // hop)
    buffer, offset, start = np.zeros(0, np.float32), 0, 0  # offset: stream index of buffer[0]; start: next frame
    fn = None
    pieces: list[tuple[np.ndarray, ...]] = []
    single = False

    def keep(out, lo, stop):
        nonlocal single
        if not isinstance(out, tuple):
            single, out = True, (out,)
        pieces.append(tuple(np.array(o[..., start - lo: stop - lo]) for o in out))

    for block in blocks:
        buffer = np.concatenate([buffer, np.asarray(block, np.float32)])
        # A segment is cut only once a whole one follows it, so the last segment is never a short sliver.
        while offset + len(buffer) > (start + 2 * chunk_hops + margin_hops) * hop:
            fn = fn or make_fn(buffer)
            lo, hi = max(0, start - margin_hops), start + chunk_hops + margin_hops
            keep(fn(buffer[lo * hop - offset: (hi - 1) * hop + 1 - offset]), lo, start + chunk_hops)
            start += chunk_hops
            drop = max(0, start - margin_hops) * hop - offset
            buffer, offset = buffer[drop:], offset + drop
    fn = fn or make_fn(buffer)
    if start == 0:
        return fn(buffer)
    lo = max(0, start - margin_hops)
    keep(fn(buffer[lo * hop - offset:]), lo, n_frames(offset + len(buffer), hop))
    joined = tuple(np.concatenate(parts, axis=-1) for parts in zip(*pieces))
    return joined[0] if single else joined


def frame_chunks(total: int, *, chunk: int, margin: int):
    """Yield ``(lo, start, stop, hi)``: keep frames ``[start, stop)``, computed from frames ``[lo, hi)``
    (``hi`` may pass ``total``; callers clip to their data)."""
    # Equal-sized chunks, so the last one is never a sliver too short for an FFT.
    count = max(1, -(-total // chunk))
    bounds = np.linspace(0, total, count + 1).round().astype(int)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        yield max(0, int(start) - margin), int(start), int(stop), int(stop) + margin
