"""Audio input: decode wav/flac/ogg/mp3 to mono float32 at a target rate, in bounded memory.

Files are read in blocks and resampled with a streaming resampler (soxr) into one array sized
from the header, and the sample checks run block by block, so peak memory is the mono output plus
one block: a 60-minute stereo 44.1 kHz file decodes to 22.05 kHz mono in about 330 MB rather
than the ~2.5 GB a whole-file float64 read needs (or the 2x of joining blocks at the end).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import struct
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from sapphire_core.errors import AudioDecodeError, EmptyAudioError, SampleRateError, SapphireError, SilentAudioError

MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 384_000
BLOCK_SECONDS = 30.0
#: Peak below this counts as digital silence (-120 dBFS).
SILENCE_PEAK = 1e-6
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")

# Input checks of a corpus track (``check_audio_file`` before decoding, ``sample_warnings`` after);
# documented in docs/architecture.md, "Input checks".
#: Longer files fail before decoding: 3 hours of audio is already ~1 GB of mono float32 at 22.05 kHz.
MAX_AUDIO_SECONDS = 3 * 3600.0
#: Shorter files fail: below one analysis frame (2048 samples at 22.05 kHz is 93 ms) nothing can be measured.
MIN_AUDIO_SECONDS = 0.05
#: Shorter files get a warning: tempo, key and structure need a few seconds to mean anything.
SHORT_AUDIO_SECONDS = 0.5
#: A file that decodes to less than this share of the duration its header declares gets a "truncated" warning.
TRUNCATED_RATIO = 0.99
#: Samples at or above this magnitude count as clipped ...
CLIP_LEVEL = 0.999
#: ... and more than this share of them gets a "clipped" warning (0.1 %: a mastered track has a few).
CLIP_FRACTION = 0.001
#: A peak below this (-60 dBFS) gets a "near silent" warning (digital silence, below -120 dBFS, fails).
QUIET_PEAK = 1e-3

log = logging.getLogger(__name__)


def _sniff(path: Path) -> str:
    """Why a file that libsndfile cannot open is not audio, from its first bytes (libsndfile's own
    message for this is misleading, e.g. "does not exist ... (possibly a pipe?)")."""
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not head:
        return "is empty (0 bytes)"
    known = {b"OggS": "Ogg", b"fLaC": "FLAC", b"ID3": "MP3", b"FORM": "AIFF", b"RIFF": "WAV"}
    name = next((n for magic, n in known.items() if head.startswith(magic)), None)
    if name is None and len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        name = "MP3"  # an MPEG frame sync without an ID3 tag
    if name is not None:
        return f"a damaged or truncated {name} file"
    try:
        head.decode("utf-8")
        return "it holds text, not audio"
    except UnicodeDecodeError:
        return "unrecognised format"


def check_audio_file(path: str | Path) -> Path:
    """Check that ``path`` names a regular, non-empty file, without opening it as audio.

    Returns
    -------
    Path

    Raises
    ------
    AudioDecodeError
        One clear reason naming the file: not found, a folder, a symbolic link loop or a link to a
        missing file, a pipe or device, or empty.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AudioDecodeError(path, "is a symbolic link loop; point the track's 'audio' at a real file") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise AudioDecodeError(path, "the path is too long for the file system; check the track's 'audio'") \
                from None
        if path.is_symlink():
            raise AudioDecodeError(path, "is a symbolic link to a missing file; fix the link or the track's 'audio'") \
                from None
        raise AudioDecodeError(path, "file not found; check the path in tracks.jsonl") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioDecodeError(path, "is a folder, not an audio file; point the track's 'audio' at a file")
    if not stat.S_ISREG(st.st_mode):
        raise AudioDecodeError(path, "is not a regular file (a pipe, socket or device); give an audio file")
    if st.st_size == 0:
        raise EmptyAudioError(path, "is empty (0 bytes)")
    return path


class _DecoderStderr:
    """Process-wide redirection of file descriptor 2 while C decoders run, shared by concurrent decodes.

    libsndfile's MP3 decoder (mpg123) prints its own notes straight to file descriptor 2 ("Warning:
    Xing stream size off by more than 1%...", "[src/libmpg123/id3.c...] warning: ..."), where Python
    cannot catch them and they land in the user's terminal next to SAPPHIRE's one-line reason; neither
    library has a switch for them. The first decode in progress points fd 2 at a temporary file, the
    last one restores it and passes what was written to the debug log. Anything another thread prints
    to stderr meanwhile goes there too (``SAPPHIRE`` debug logging shows it), so only files mpg123 may
    decode are quieted (:func:`_decoder_may_print`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: int | None = None
        self._sink = None

    @contextlib.contextmanager
    def quiet(self, path: Path) -> Iterator[None]:
        if not _decoder_may_print(Path(path)):  # other threads' stderr stays theirs while a WAV/FLAC/OGG decodes
            yield
            return
        self._enter()
        try:
            yield
        finally:
            said = self._exit()
            if said:
                log.debug("%s: the decoder printed: %s", path, " | ".join(said.splitlines()))

    def _enter(self) -> None:
        with self._lock:
            if self._depth == 0:
                with contextlib.suppress(OSError, ValueError, AttributeError):  # sys.stderr closed or None
                    sys.stderr.flush()  # Python's own pending text goes out first
                try:
                    self._sink = tempfile.TemporaryFile()
                    self._saved = os.dup(2)
                    os.dup2(self._sink.fileno(), 2)
                except OSError:  # no fd 2, or no temp space: leave stderr as it is
                    if self._saved is not None:
                        os.close(self._saved)
                    self._saved = None
                    if self._sink is not None:
                        self._sink.close()
                    self._sink = None
            self._depth += 1

    def _exit(self) -> str:
        with self._lock:
            self._depth -= 1
            if self._depth or self._saved is None:
                return ""
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = None
            sink, self._sink = self._sink, None
            sink.seek(0)
            said = sink.read(64 * 1024).decode("utf-8", "replace").strip()
            sink.close()
            return said


_decoder_stderr = _DecoderStderr()


def _decoder_may_print(path: Path) -> bool:
    """Whether libsndfile may hand ``path`` to mpg123, the one decoder here that prints to fd 2: an ``.mp3``
    name, or content that starts like MPEG audio (an ID3 tag or a frame sync), whatever the name."""
    if path.suffix.lower() == ".mp3":
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(3)
    except OSError:
        return False
    return head == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def audio_info(path: str | Path) -> tuple[int, float]:
    """Return ``(native_sample_rate, duration_seconds)`` without decoding.

    Raises
    ------
    AudioDecodeError
        When the file is missing or not a readable audio file (see :func:`check_audio_file`).
    """
    import soundfile as sf

    path = check_audio_file(path)
    try:
        with _decoder_stderr.quiet(path):
            info = sf.info(str(path))
    except Exception:
        raise AudioDecodeError(path, f"not a readable audio file ({_sniff(path)}); supported: wav, flac, ogg, mp3, "
                               "aiff") from None
    return int(info.samplerate), float(info.frames) / max(int(info.samplerate), 1)


def wav_declared_seconds(path: str | Path) -> float | None:
    """The duration a RIFF/WAVE header declares (its ``data`` chunk size), or ``None`` when the file
    is not a plain WAV. libsndfile silently shortens a cut-off WAV to what is there; this is how a
    truncated body is noticed."""
    try:
        with Path(path).open("rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = rate = None
            while True:
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(size + (size & 1))
                    if len(fmt) < 14:
                        return None
                    rate, block_align = struct.unpack("<I", fmt[4:8])[0], struct.unpack("<H", fmt[12:14])[0]
                elif cid == b"data":
                    if not rate or not block_align or size == 0xFFFFFFFF:
                        return None
                    return size / block_align / rate
                else:
                    fh.seek(size + (size & 1), 1)
    except OSError:
        return None


def file_warnings(path: str | Path) -> tuple[float, list[str]]:
    """Check a track's audio file before decoding: ``(duration_seconds, warnings)``.

    Raises
    ------
    AudioDecodeError
        The file is unusable (:func:`audio_info`), shorter than :data:`MIN_AUDIO_SECONDS` or longer
        than :data:`MAX_AUDIO_SECONDS`.
    """
    _, seconds = audio_info(path)
    if seconds == 0:
        raise EmptyAudioError(path, "holds no audio samples (zero length)")
    if seconds > MAX_AUDIO_SECONDS:
        raise AudioDecodeError(path, f"lasts {seconds / 3600:.2f} h, over the {MAX_AUDIO_SECONDS / 3600:g} h limit "
                               "per track; split it into tracks")
    if seconds < MIN_AUDIO_SECONDS:
        raise AudioDecodeError(path, f"lasts {seconds * 1000:.1f} ms, under the {MIN_AUDIO_SECONDS * 1000:g} ms "
                               "needed to analyse anything")
    warnings = []
    declared = wav_declared_seconds(path)
    if declared is not None and seconds < TRUNCATED_RATIO * declared:
        warnings.append(f"truncated: the header declares {declared:.2f} s but the file holds {seconds:.2f} s")
    if seconds < SHORT_AUDIO_SECONDS:
        warnings.append(f"short: lasts {seconds:.2f} s (under {SHORT_AUDIO_SECONDS:g} s); features are unreliable")
    return seconds, warnings


def sample_warnings(y: np.ndarray, *, sr: int, declared_seconds: float | None = None) -> list[str]:
    """Warnings about decoded samples: cut short of the declared duration, clipped, near silent.

    Parameters
    ----------
    y : np.ndarray
        Mono samples.
    sr : int
        Their rate.
    declared_seconds : float, optional
        The duration the file's header declares (:func:`audio_info`).

    Examples
    --------
    >>> sample_warnings(np.ones(8000, np.float32), sr=8000)[0][:7]
    'clipped'
    """
    stats = SampleStats()
    for block in _blocks(y):
        stats.add(block)
    return stats.warnings(sr=sr, declared_seconds=declared_seconds)


class SampleStats:
    """What :func:`sample_warnings` needs (length, peak, clipped samples), gathered block by block, so a
    track decoded in blocks (:func:`audio_blocks`) is checked without ever being held whole."""

    def __init__(self) -> None:
        self.size = 0
        self.peak = 0.0
        self.clipped = 0

    def add(self, block: np.ndarray) -> None:
        """Count one block of mono samples in."""
        if block.size:
            self.size += block.size
            self.peak = max(self.peak, _peak(block))
            self.clipped += int(np.count_nonzero(np.abs(block) >= CLIP_LEVEL))

    def warnings(self, *, sr: int, declared_seconds: float | None = None) -> list[str]:
        """:func:`sample_warnings` of the samples added so far (the same numbers, block by block)."""
        out = []
        seconds = self.size / sr
        if declared_seconds and seconds < TRUNCATED_RATIO * declared_seconds - 0.05:
            out.append(f"truncated: decodes to {seconds:.2f} s of the {declared_seconds:.2f} s its header declares")
        if self.size:
            clipped = self.clipped / self.size
            if clipped > CLIP_FRACTION:
                out.append(f"clipped: {clipped:.1%} of samples at full scale (over {CLIP_FRACTION:.1%})")
            if SILENCE_PEAK <= self.peak < QUIET_PEAK:
                out.append(f"near silent: peak {20 * np.log10(self.peak):.0f} dBFS "
                           f"(under {20 * np.log10(QUIET_PEAK):.0f} dBFS)")
        return out


def load_audio(
    path: str | Path,
    *,
    sr: int,
    offset: float = 0.0,
    duration: float | None = None,
    allow_silent: bool = False,
) -> np.ndarray:
    """Decode an audio file to mono float32 at ``sr``.

    Parameters
    ----------
    path : path
        A wav, flac, ogg or mp3 file.
    sr : int
        Target sample rate in Hz.
    offset, duration : float
        Read only ``duration`` seconds starting at ``offset`` (an excerpt).
    allow_silent : bool
        Return digital silence instead of raising :class:`SilentAudioError`.

    Returns
    -------
    np.ndarray
        1-D float32 samples.

    Raises
    ------
    AudioDecodeError
        Missing, truncated or non-audio file, or samples that are NaN/inf.
    EmptyAudioError
        A file with no samples.
    SampleRateError
        A declared rate outside 4 kHz-384 kHz.
    SilentAudioError
        All samples below -120 dBFS (unless ``allow_silent``).

    Examples
    --------
    >>> y = load_audio("song.flac", sr=22050)  # doctest: +SKIP
    """
    path = Path(path)
    seconds = audio_info(path)[1]
    expected = max(0.0, seconds - offset) if duration is None else min(duration, max(0.0, seconds - offset))
    samples = _Samples(int(np.ceil(expected * sr)) + 64)
    for block in _decoded_blocks(path, sr=sr, offset=offset, duration=duration):
        samples.append(block)
    y = samples.result()
    validate_samples(y, path=path, allow_silent=allow_silent)
    return y.astype(np.float32, copy=False)


def audio_blocks(path: str | Path, *, sr: int, allow_silent: bool = False) -> Iterator[np.ndarray]:
    """Decode an audio file to mono float32 at ``sr`` one block (about :data:`BLOCK_SECONDS`) at a time.

    For whole-track analyses that work on a stream (e.g. windowed networks): memory is one block
    whatever the file's length, where :func:`load_audio` holds the whole track. The blocks joined are
    exactly what :func:`load_audio` returns, and the same checks run (block by block; silence once the
    stream ends).

    Raises
    ------
    AudioDecodeError, EmptyAudioError, SampleRateError, SilentAudioError
        As :func:`load_audio` (silence and emptiness are known, and raised, after the last block).
    """
    path = Path(path)
    peak, size = 0.0, 0
    for block in _decoded_blocks(path, sr=sr):
        if block.size:
            validate_samples(block, path=path, allow_silent=True)
            peak, size = max(peak, _peak(block)), size + block.size
            yield block
    if size == 0:
        raise EmptyAudioError(path, "holds no audio samples (zero length)")
    if not allow_silent and peak < SILENCE_PEAK:
        raise SilentAudioError(path, "is digital silence (peak below -120 dBFS); nothing to analyse")


def _decoded_blocks(path: Path, *, sr: int, offset: float = 0.0, duration: float | None = None
                    ) -> Iterator[np.ndarray]:
    """Mono float32 blocks at ``sr`` of ``path`` (no sample checks); raises AudioDecodeError when nothing decodes."""
    import soundfile as sf
    import soxr

    native_sr, _ = audio_info(path)
    if not MIN_SAMPLE_RATE <= native_sr <= MAX_SAMPLE_RATE:
        raise SampleRateError(
            path, f"declares a sample rate of {native_sr} Hz; expected {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
        )
    resampler = None if native_sr == sr else soxr.ResampleStream(native_sr, sr, 1, dtype="float32")
    block = int(BLOCK_SECONDS * native_sr)
    start = int(round(offset * native_sr))
    frames = -1 if duration is None else int(round(duration * native_sr))
    failed: Exception | None = None
    produced = 0
    try:
        # stderr is quieted only while the decoder runs, never across a ``yield`` (the consumer's own output).
        with _decoder_stderr.quiet(path):
            fh = sf.SoundFile(str(path))
            if start:
                fh.seek(min(start, fh.frames))
        with fh:
            remaining = frames
            while remaining != 0 and failed is None:
                n = block if remaining < 0 else min(block, remaining)
                with _decoder_stderr.quiet(path):
                    at = fh.tell()
                    try:
                        data = fh.read(n, dtype="float32", always_2d=True)
                    except (RuntimeError, sf.LibsndfileError) as exc:
                        # A cut-off or damaged body: keep what decodes before the damage (the caller's
                        # length check then reports it as truncated) instead of losing the whole file.
                        failed, data = exc, _read_until_error(fh, at, n)
                if data.shape[0] == 0:
                    break
                mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0].copy()
                if resampler is not None:
                    mono = resampler.resample_chunk(mono, last=False)
                produced += mono.size
                yield mono
                if remaining > 0:
                    remaining -= data.shape[0]
            if resampler is not None:
                tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
                produced += tail.size
                yield tail
    except (RuntimeError, sf.LibsndfileError) as exc:  # the file could not be opened or read at all
        failed, produced = exc, 0
    if failed is not None and produced == 0:
        detail = str(failed).replace("Error : ", "").strip() or type(failed).__name__
        raise AudioDecodeError(path, f"decoding failed, the file may be truncated or corrupt ({detail})")


def query_audio(query, *, sr: int) -> tuple[np.ndarray, int]:
    """A query mode's audio input as ``(float32 mono samples, rate)``.

    ``query`` is a ``(samples, rate)`` pair, taken as given, or a file path, decoded at ``sr``.
    """
    if isinstance(query, tuple):
        samples, rate = query
        return np.asarray(samples, np.float32), int(rate)
    return load_audio(query, sr=sr), sr


#: Samples per block of the whole-signal checks (4 MB of float32): a check's temporaries stay that small.
CHECK_BLOCK = 2**20


def _blocks(y: np.ndarray):
    for i in range(0, y.size, CHECK_BLOCK):
        yield y[i:i + CHECK_BLOCK]


def _peak(y: np.ndarray) -> float:
    """``max(|y|)`` without a full-size temporary."""
    return max(float(y.max()), -float(y.min())) if y.size else 0.0


class _Samples:
    """A growable float32 buffer, allocated once from the expected length (decoding never holds two copies)."""

    def __init__(self, expected: int) -> None:
        self.data = np.empty(max(0, expected), dtype=np.float32)
        self.size = 0

    def append(self, block: np.ndarray) -> None:
        end = self.size + block.size
        if end > self.data.size:  # the header under-declared (rare): grow geometrically
            grown = np.empty(max(end, int(self.data.size * 1.25) + 1), dtype=np.float32)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size:end] = block
        self.size = end

    def result(self) -> np.ndarray:
        out = self.data
        if out.size != self.size:
            out.resize(self.size, refcheck=False)  # shrinks in place (no copy)
        return out


def _read_until_error(fh, at: int, n: int) -> np.ndarray:
    """Frames from ``at`` up to ``n``, read in 0.1 s steps until the decoder fails (empty when none)."""
    import soundfile as sf

    step = max(1, fh.samplerate // 10)
    parts = []
    try:
        fh.seek(at)
        while n > 0:
            data = fh.read(min(step, n), dtype="float32", always_2d=True)
            if data.shape[0] == 0:
                break
            parts.append(data)
            n -= data.shape[0]
    except (RuntimeError, sf.LibsndfileError):
        pass
    return np.concatenate(parts) if parts else np.zeros((0, fh.channels), dtype=np.float32)


def validate_samples(y: np.ndarray, *, path: str | Path | None = None, allow_silent: bool = False) -> None:
    """Check decoded samples: non-empty, finite, not digital silence.

    Raises
    ------
    EmptyAudioError, AudioDecodeError, SilentAudioError
        Naming ``path``.
    """
    if y.size == 0:
        raise EmptyAudioError(path, "holds no audio samples (zero length)")
    if not all(np.isfinite(b).all() for b in _blocks(y)):
        raise AudioDecodeError(path, "decodes to NaN or infinite samples; re-export the file")
    if not allow_silent and _peak(y) < SILENCE_PEAK:
        raise SilentAudioError(path, "is digital silence (peak below -120 dBFS); nothing to analyse")


#: Tracks up to this long (s, as the header declares) are decoded once for all the extras reading one rate
#: (10 min of mono float32 at 22.05 kHz is ~53 MB); longer ones are decoded again by each extra, block by
#: block, so memory stays a few blocks whatever the length (as the extraction's ``BLOCK_FED_SECONDS``).
HOLD_SECONDS = 600.0


class TrackAudio:
    """A track's decoded samples for the index extras computed from it: decoded once per rate when the
    track is short enough to hold, streamed again for each extra otherwise.

    Parameters
    ----------
    path : path
        The track's audio file.
    rates : iterable of int
        The :attr:`PerTrackExtra.sample_rate` of each extra that will read the samples, once per extra: a
        rate read by two or more extras is held (up to ``hold_seconds``) until the last of them has read it.
    hold_seconds : float
        Longest track (header duration) whose blocks are held; longer ones are decoded block by block for
        every reader, so memory never holds the whole of a long track.

    Notes
    -----
    :meth:`blocks` replays exactly the blocks :func:`audio_blocks` yields for the file
    (same boundaries, same values) and raises what it raises after them, so an entry computed from the
    held blocks is the entry computed from the file, bit for bit. The held blocks are read-only: an extra
    must not change the samples the next one reads.

    Examples
    --------
    >>> audio = TrackAudio("song.flac", rates=[22050, 22050])  # doctest: +SKIP
    >>> first = list(audio.blocks(22050))  # decodes  # doctest: +SKIP
    >>> second = list(audio.blocks(22050))  # the same blocks, not decoded again  # doctest: +SKIP
    """

    def __init__(self, path: str | Path | None, *, rates: Iterable[int] = (), hold_seconds: float = HOLD_SECONDS
                 ) -> None:
        self.path = path
        self.hold_seconds = hold_seconds
        self._readers = Counter(int(sr) for sr in rates)  # extras still to read each rate
        self._held: dict[int, tuple[list[np.ndarray], SapphireError | None]] = {}

    def blocks(self, sr: int) -> Iterator[np.ndarray]:
        """Mono float32 blocks of the track at ``sr``, as :func:`audio_blocks` yields them.

        Raises
        ------
        AudioDecodeError, EmptyAudioError, SampleRateError, SilentAudioError
            As :func:`audio_blocks` does, after the blocks it yields first.
        """
        sr = int(sr)
        self._readers[sr] -= 1
        later = self._readers[sr] > 0  # another extra reads this rate after this one
        if sr not in self._held and not (later and self._holdable()):
            return audio_blocks(self.path, sr=sr)
        if sr not in self._held:
            blocks, error = [], None
            try:
                for block in audio_blocks(self.path, sr=sr):
                    block.flags.writeable = False
                    blocks.append(block)
            except SapphireError as exc:  # replayed to every reader, after the blocks before it
                error = exc
            self._held[sr] = blocks, error
        held = self._held[sr] if later else self._held.pop(sr)  # the last reader lets the samples go
        return _replay(*held)

    def _holdable(self) -> bool:
        """Whether the file is short enough to hold (a file whose header cannot be read is not: each
        reader then gets the decoder's own error)."""
        if self.path is None:
            return False
        try:
            return audio_info(self.path)[1] <= self.hold_seconds
        except SapphireError:
            return False


def _replay(blocks: list[np.ndarray], error: SapphireError | None) -> Iterator[np.ndarray]:
    yield from blocks
    if error is not None:
        raise error
