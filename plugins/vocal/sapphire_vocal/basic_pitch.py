"""Polyphonic note transcription with Spotify's basic-pitch network, run by onnxruntime.

basic-pitch (Bittner, Bosch, Rubinstein, Meseguer-Brocal & Ewert, "A lightweight instrument-agnostic
model for polyphonic note transcription and multipitch estimation", ICASSP 2022; Apache-2.0) maps
2-second windows of 22.05 kHz audio to three posteriorgrams at 256-sample frames (86.1 fps):
``note`` and ``onset`` (88 piano keys, MIDI 21-108) and ``contour`` (264 bins, 1/3 semitone).

Its PyPI wheel carries the trained weights as ``saved_models/icassp_2022/nmp.onnx``. The wheel
declares TensorFlow on Linux, so it is installed with ``pip install --no-deps basic-pitch``
(``make install`` does) and never imported: :func:`model_path` finds the file with
:func:`importlib.util.find_spec` without executing the package, and :func:`posteriorgrams` runs it
with onnxruntime (``backend="onnx"``, the reference) or, by default, with the same network in torch
(:mod:`sapphire_vocal.basic_pitch_torch`, weights read from that file; posteriorgrams within 1e-4 of
onnxruntime's, about twice as cheap on one core and computing only the outputs and frames asked for).
:func:`notes_from_posteriorgrams` is a port of the reference note decoder
(``basic_pitch.note_creation.output_to_notes_polyphonic``, same thresholds and the "melodia trick").
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sapphire_core.errors import PluginError

#: The network's input rate (Hz), frame hop (samples) and window length (samples): 2 s less one hop.
SAMPLE_RATE = 22050
FFT_HOP = 256
WINDOW_SAMPLES = 2 * SAMPLE_RATE - FFT_HOP
#: Frames the network returns per window; the first and last ``OVERLAP_FRAMES // 2`` are dropped
#: (edge effects), as the reference ``run_inference`` does.
WINDOW_FRAMES = 172
OVERLAP_FRAMES = 30
#: Frames kept per window. Windows advance by exactly this many hops, so the output is on one
#: uniform grid (frame k centred at k * FFT_HOP samples). The reference advances 36164 samples
#: (141.3 hops) and corrects the drift with a fitted constant; the kept frames are the same.
KEPT_FRAMES = WINDOW_FRAMES - OVERLAP_FRAMES
FRAME_SECONDS = FFT_HOP / SAMPLE_RATE
#: MIDI pitch of note bin 0 (A0) and contour bins per semitone.
MIDI_OFFSET = 21
N_NOTES = 88
CONTOUR_BINS_PER_SEMITONE = 3
#: The reference decoder's defaults (``basic_pitch.inference.predict``): onset and frame thresholds
#: and the minimum note length of 127.7 ms in frames.
ONSET_THRESHOLD = 0.5
FRAME_THRESHOLD = 0.3
MIN_NOTE_FRAMES = int(np.round(127.70 / 1000 * (SAMPLE_RATE / FFT_HOP)))
ENERGY_TOLERANCE = 11
#: 2-second windows per network call: a quarter of onnxruntime's memory arena of 16 (+70 MB against
#: +330 MB, which set the peak of ``sapphire index``) for 0-15 % more CPU (benchmarks/RESULTS.md).
BATCH_WINDOWS = 4
#: Pinned release whose weights the tests were checked against (``make install`` installs it).
VERSION = "0.4.0"
#: What runs the network: ``torch`` (default: the port in :mod:`sapphire_vocal.basic_pitch_torch`) or
#: ``onnx`` (onnxruntime on ``nmp.onnx``, the reference the port is tested against).
BACKENDS = ("torch", "onnx")
DEFAULT_BACKEND = "torch"


@dataclass(frozen=True)
class NoteEvent:
    """One transcribed note: onset and offset in seconds, MIDI pitch, mean frame activation."""

    start: float
    end: float
    pitch: int
    amplitude: float


def model_path() -> Path:
    """The ``nmp.onnx`` file inside the installed basic-pitch wheel.

    Raises
    ------
    PluginError
        When basic-pitch is not installed or its wheel lacks the ONNX model.
    """
    spec = importlib.util.find_spec("basic_pitch")
    hint = f"pip install --no-deps basic-pitch=={VERSION} (its TensorFlow dependency is not needed)"
    if spec is None or not spec.submodule_search_locations:
        raise PluginError(f"basic-pitch is not installed; the vocal plugin reads its weights: {hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / "saved_models" / "icassp_2022" / "nmp.onnx"
    if not path.is_file():
        raise PluginError(f"{path}: basic-pitch's ONNX model is missing from its wheel; {hint}")
    return path


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _session(threads: int):
    try:
        import onnxruntime as ort
    except ImportError:
        raise PluginError("onnxruntime is not installed; pip install -e plugins/vocal") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"])


def session(threads: int = 0):
    """The onnxruntime session of the model (``threads=0``: onnxruntime's default), created once."""
    with _LOCK:
        return _session(int(threads))


@functools.lru_cache(maxsize=1)
def _torch_net():
    from sapphire_vocal.basic_pitch_torch import BasicPitchNet

    return BasicPitchNet(model_path())


def torch_network():
    """The torch port of the network (:class:`sapphire_vocal.basic_pitch_torch.BasicPitchNet`), built once."""
    with _LOCK:
        return _torch_net()


@contextlib.contextmanager
def _torch_threads(threads: int):
    """torch's intra-op threads set to ``threads`` for the block (0: left as they are)."""
    if threads <= 0:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


#: The network's output names for each posteriorgram.
OUTPUT_NAMES = {"note": "StatefulPartitionedCall:1", "onset": "StatefulPartitionedCall:2",
                "contour": "StatefulPartitionedCall:0"}


def posteriorgrams(audio: np.ndarray, sr: int, *, threads: int = 0, batch_windows: int = BATCH_WINDOWS,
                   outputs: tuple[str, ...] = ("note", "onset", "contour"),
                   backend: str = DEFAULT_BACKEND) -> dict[str, np.ndarray]:
    """Run basic-pitch over a whole recording.

    Parameters
    ----------
    audio, sr : np.ndarray, int
        Mono samples and their rate (soxr resamples them to basic-pitch's 22.05 kHz).
    threads : int
        Intra-op threads of onnxruntime or torch (0: the default, every core).
    batch_windows : int
        2-second windows per network call (bounds memory).
    outputs : tuple of str
        The posteriorgrams to return (the others are not kept: the three of a 2-hour file take 1.1 GB;
        with ``torch`` they are not computed either).
    backend : {"torch", "onnx"}
        What runs the network (:data:`BACKENDS`).

    Returns
    -------
    dict
        ``note`` ``(T, 88)``, ``onset`` ``(T, 88)``, ``contour`` ``(T, 264)`` float32 in [0, 1] (those
        asked for); frame ``k`` is centred at ``k * FRAME_SECONDS``; ``T = floor(duration * 86)`` as in
        the reference (the last partial hop is dropped).

    Examples
    --------
    >>> from sapphire_core.testing.signals import sine
    >>> post = posteriorgrams(sine(440.0, sr=22050, seconds=1.0), 22050)
    >>> int(post["note"][40:60].mean(axis=0).argmax()) + MIDI_OFFSET
    69
    """
    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sr != SAMPLE_RATE:
        import soxr

        y = soxr.resample(y, sr, SAMPLE_RATE).astype(np.float32)
    n_out = int(np.floor(len(y) * (SAMPLE_RATE // FFT_HOP) / SAMPLE_RATE))
    out = {k: np.zeros((n_out, OUTPUT_WIDTHS[k]), np.float32) for k in _checked(outputs)}
    for row, part in stream_posteriorgrams([y], threads=threads, batch_windows=batch_windows, outputs=outputs,
                                           backend=backend):
        for k, v in part.items():
            out[k][row : row + len(v)] = v
    return out


#: Bins of each posteriorgram.
OUTPUT_WIDTHS = {"note": N_NOTES, "onset": N_NOTES, "contour": N_NOTES * CONTOUR_BINS_PER_SEMITONE}


def _checked(outputs: tuple[str, ...]) -> tuple[str, ...]:
    unknown = set(outputs) - set(OUTPUT_NAMES)
    if unknown:
        raise ValueError(f"unknown basic-pitch outputs {sorted(unknown)}; choose among {', '.join(OUTPUT_NAMES)}")
    return tuple(outputs)


def stream_posteriorgrams(blocks: Iterable[np.ndarray], *, threads: int = 0, batch_windows: int = BATCH_WINDOWS,
                          outputs: tuple[str, ...] = ("note",), backend: str = DEFAULT_BACKEND
                          ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """:func:`posteriorgrams` of 22.05 kHz samples that arrive in blocks (e.g.
    :func:`sapphire_core.audio.audio_blocks`), holding one block and one batch of windows, not the track.

    Yields
    ------
    (int, dict)
        ``(first frame, {name: (n, bins)})`` in frame order; joined, the parts are what
        :func:`posteriorgrams` returns for the joined samples (frames past the final length are only
        known at the end, so the last window's frames come last).
    """
    outputs = _checked(outputs)
    if backend not in BACKENDS:
        raise ValueError(f"unknown basic-pitch backend {backend!r}; choose among {', '.join(BACKENDS)}")
    pad = OVERLAP_FRAMES // 2 * FFT_HOP
    hop = KEPT_FRAMES * FFT_HOP
    lo, hi = OVERLAP_FRAMES // 2, WINDOW_FRAMES - OVERLAP_FRAMES // 2
    per_second = SAMPLE_RATE // FFT_HOP  # the reference's frame count: floor(samples * 86 / sr)
    buf = np.zeros(pad, np.float32)  # samples from the next window's start (the first starts ``pad`` early)
    total = 0
    windows: list[np.ndarray] = []
    held: dict[str, list[np.ndarray]] = {k: [] for k in outputs}  # computed frames not yet yielded
    emitted = 0

    if backend == "onnx":
        sess, names = session(threads), [OUTPUT_NAMES[k] for k in outputs]

        def network(batch: np.ndarray) -> dict[str, np.ndarray]:
            vals = sess.run(names, {"serving_default_input_2:0": batch[:, :, None]})
            return {k: v[:, lo:hi] for k, v in zip(outputs, vals)}
    else:
        net = torch_network()

        def network(batch: np.ndarray) -> dict[str, np.ndarray]:
            with _torch_threads(threads):
                return net(batch, outputs, frames=(lo, hi))  # only the kept frames go through the CNN

    def run() -> None:
        for key, val in network(np.stack(windows)).items():
            held[key].append(val.reshape(-1, val.shape[-1]))
        windows.clear()

    def release(upto: int):
        nonlocal emitted
        joined = {k: np.concatenate(v) if len(v) > 1 else v[0] for k, v in held.items() if v}
        if not joined or upto <= emitted:
            return None
        n = min(upto - emitted, len(next(iter(joined.values()))))
        part = {k: v[:n] for k, v in joined.items()}
        for k, v in joined.items():
            held[k] = [v[n:]] if len(v) > n else []
        row, emitted = emitted, emitted + n
        return row, part

    for block in blocks:
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        total += block.size
        buf = np.concatenate([buf, block])
        while len(buf) >= WINDOW_SAMPLES:
            windows.append(buf[:WINDOW_SAMPLES])
            buf = buf[hop:]
            if len(windows) == batch_windows:
                run()
                ready = release(int(np.floor(total * per_second / SAMPLE_RATE)))  # the final count is no less
                if ready:
                    yield ready
    n_out = int(np.floor(total * per_second / SAMPLE_RATE))
    have = emitted + sum(len(v) for v in next(iter(held.values()))) + len(windows) * KEPT_FRAMES
    while have < n_out:  # the last windows run past the samples: zero-padded, as the reference pads
        windows.append(_window(buf, 0, WINDOW_SAMPLES))
        buf = buf[hop:]
        have += KEPT_FRAMES
        if len(windows) == batch_windows:
            run()
    if windows:
        run()
    while (ready := release(n_out)) is not None:
        yield ready


def _window(y: np.ndarray, start: int, length: int) -> np.ndarray:
    """``y[start:start + length]`` with zeros where that runs past either end."""
    if start >= 0 and start + length <= len(y):
        return y[start : start + length]
    w = np.zeros(length, np.float32)
    a, b = max(start, 0), min(start + length, len(y))
    if b > a:
        w[a - start : b - start] = y[a:b]
    return w


def _inferred_onsets(onsets: np.ndarray, frames: np.ndarray, n_diff: int = 2) -> np.ndarray:
    """Onsets where frame activations jump, merged with the predicted onsets (reference
    ``get_infered_onsets``)."""
    diffs = []
    for n in range(1, n_diff + 1):
        shifted = np.concatenate([np.zeros((n, frames.shape[1])), frames])
        diffs.append(shifted[n:] - shifted[:-n])
    frame_diff = np.min(diffs, axis=0)
    frame_diff[frame_diff < 0] = 0
    frame_diff[:n_diff] = 0
    top = np.max(frame_diff)
    if top > 0:
        frame_diff = np.max(onsets) * frame_diff / top
    return np.maximum(onsets, frame_diff)


def notes_from_posteriorgrams(post: dict[str, np.ndarray], *, onset_threshold: float = ONSET_THRESHOLD,
                              frame_threshold: float = FRAME_THRESHOLD, min_note_frames: int = MIN_NOTE_FRAMES,
                              melodia_trick: bool = True) -> list[NoteEvent]:
    """Note events from :func:`posteriorgrams`, decoded as the reference does.

    Onset peaks above ``onset_threshold`` (plus onsets inferred from jumps in the frame activation)
    start notes, latest first; a note lasts while its frame activation stays above
    ``frame_threshold`` (gaps of up to 11 frames bridged) and is kept if longer than
    ``min_note_frames``; its energy (and its neighbours') is then removed. The "melodia trick"
    finally turns the remaining strongest activations into notes without onsets (tied or legato notes).

    Returns
    -------
    list of NoteEvent
        Sorted by start time, then pitch.
    """
    from scipy.signal import argrelmax

    frames = np.asarray(post["note"], dtype=np.float64)
    onsets = _inferred_onsets(np.asarray(post["onset"], dtype=np.float64), frames)
    n_frames = frames.shape[0]
    if n_frames == 0:
        return []
    peaks = np.zeros_like(onsets)
    where = argrelmax(onsets, axis=0)
    peaks[where] = onsets[where]
    t_idx, f_idx = np.where(peaks >= onset_threshold)
    remaining = frames.copy()
    events: list[tuple[int, int, int, float]] = []

    def clear(t0: int, t1: int, f: int) -> None:
        remaining[t0:t1, max(0, f - 1) : f + 2] = 0

    for start, f in zip(t_idx[::-1], f_idx[::-1]):
        if start >= n_frames - 1:
            continue
        i, k = start + 1, 0
        while i < n_frames - 1 and k < ENERGY_TOLERANCE:
            k = k + 1 if remaining[i, f] < frame_threshold else 0
            i += 1
        i -= k
        if i - start <= min_note_frames:
            continue
        clear(start, i, f)
        events.append((int(start), int(i), int(f), float(np.mean(frames[start:i, f]))))
    if melodia_trick:
        while remaining.max() > frame_threshold:
            mid, f = np.unravel_index(np.argmax(remaining), remaining.shape)
            remaining[mid, f] = 0
            i, k = mid + 1, 0
            while i < n_frames - 1 and k < ENERGY_TOLERANCE:
                k = k + 1 if remaining[i, f] < frame_threshold else 0
                clear(i, i + 1, f)
                i += 1
            end = i - 1 - k
            i, k = mid - 1, 0
            while i > 0 and k < ENERGY_TOLERANCE:
                k = k + 1 if remaining[i, f] < frame_threshold else 0
                clear(i, i + 1, f)
                i -= 1
            start = i + 1 + k
            if end - start <= min_note_frames:
                continue
            events.append((int(start), int(end), int(f), float(np.mean(frames[start:end, f]))))
    out = [NoteEvent(s * FRAME_SECONDS, e * FRAME_SECONDS, f + MIDI_OFFSET, a) for s, e, f, a in events]
    return sorted(out, key=lambda n: (n.start, n.pitch))


def transcribe(audio: np.ndarray, sr: int, **settings) -> list[NoteEvent]:
    """Note events of a recording: :func:`posteriorgrams` then :func:`notes_from_posteriorgrams`.

    Examples
    --------
    >>> from sapphire_core.testing.signals import melody
    >>> [n.pitch for n in transcribe(melody([60, 64, 67], durations=0.5, sr=22050), 22050)]
    [60, 64, 67]
    """
    return notes_from_posteriorgrams(posteriorgrams(audio, sr, **settings))
