"""Fixtures of the structure plugin's tests: short phrases written with music21 and rendered by
the FluidSynth CLI with the General MIDI soundfont (real instrument sounds, known structure)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

SR = 22050
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

# Phrase A: C major, piano, a moving melody over C - Am - F - G - C (4 bars of 4/4).
A_MELODY = [(72, 1), (74, 0.5), (76, 0.5), (79, 1), (76, 1), (77, 1), (76, 0.5), (74, 0.5), (72, 2),
            (69, 1), (72, 1), (77, 1), (76, 1), (74, 1), (71, 1), (72, 2)]
A_CHORDS = [([48, 52, 55], 4), ([45, 48, 52], 4), ([41, 45, 48], 4), ([43, 47, 50], 2), ([48, 52, 55], 2)]
# Phrase B: contrasting: A-flat major, string ensemble, long high notes over Ab - Db - Eb - Ab.
B_MELODY = [(80, 2), (82, 2), (84, 4), (85, 2), (84, 2), (80, 4)]
B_CHORDS = [([56, 60, 63], 4), ([49, 53, 56], 4), ([51, 55, 58], 4), ([56, 60, 63], 4)]


def render_phrase(out_dir: Path, name: str, melody, chords, *, program: str = "Piano", bpm: float = 120.0,
                  seconds: float | None = None) -> np.ndarray:
    """Write melody + chords with music21, render with FluidSynth, return mono float32 at 22.05 kHz
    (cut to ``seconds`` so phrases concatenate on known boundaries)."""
    import soundfile as sf
    from music21 import chord, instrument, note, stream, tempo

    if shutil.which("fluidsynth") is None or not SOUNDFONT.exists():
        pytest.fail("these tests render real music: install the Debian packages fluidsynth and "
                    "fluid-soundfont-gm (make system-deps)")
    score = stream.Score()
    for events, make in ((melody, lambda p, d: note.Note(p, quarterLength=d)),
                         (chords, lambda p, d: chord.Chord(p, quarterLength=d))):
        part = stream.Part()
        part.insert(0, getattr(instrument, program)())
        part.insert(0, tempo.MetronomeMark(number=bpm))
        for pitches, dur in events:
            part.append(make(pitches, dur))
        score.insert(0, part)
    mid, wav = out_dir / f"{name}.mid", out_dir / f"{name}.wav"
    score.write("midi", fp=str(mid))
    subprocess.run(["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", str(SR), str(SOUNDFONT), str(mid)],
                   check=True, capture_output=True)
    y, sr = sf.read(str(wav), dtype="float32")
    assert sr == SR
    y = y.mean(axis=1) if y.ndim == 2 else y
    if seconds is not None:
        n = int(round(seconds * SR))
        y = np.pad(y, (0, max(0, n - y.size)))[:n]
    return y.astype(np.float32)


@pytest.fixture(scope="session", params=[120.0, 140.0], ids=["120bpm", "140bpm"])
def aaba_piece(request, tmp_path_factory):
    """``(audio, reference_intervals, reference_labels)`` of A A B A, four 4/4 bars per phrase
    (8 s at 120 BPM, 6.9 s at 140 BPM)."""
    bpm = request.param
    out = tmp_path_factory.mktemp(f"aaba{int(bpm)}")
    phrase = 16 * 60.0 / bpm
    a = render_phrase(out, "A", A_MELODY, A_CHORDS, program="Piano", bpm=bpm, seconds=phrase)
    b = render_phrase(out, "B", B_MELODY, B_CHORDS, program="StringInstrument", bpm=bpm, seconds=phrase)
    y = np.concatenate([a, a, b, a])
    y = 0.8 * y / np.max(np.abs(y))
    intervals = np.array([[i * phrase, (i + 1) * phrase] for i in range(4)])
    return y, intervals, ["A", "A", "B", "A"]


def cadence(tonic: int) -> tuple[list, list]:
    """I - IV - V - I in the major key on MIDI pitch ``tonic`` (block chords, one bar each)."""
    melody = [(tonic + 12, 4), (tonic + 17, 4), (tonic + 19, 4), (tonic + 12, 4)]
    chords = [([tonic + i + r for i in (0, 4, 7, 12)], 4) for r in (0, 5, 7, 0)]
    chords = [([p - 12 if j == 0 else p for j, p in enumerate(ps)], d) for ps, d in chords]  # bass an octave down
    return melody, chords


@pytest.fixture(scope="session")
def cadence_in(tmp_path_factory):
    """``cadence_in(tonic)`` -> rendered I-IV-V-I (piano, 120 BPM, 2 s per chord), 8 s long."""
    out = tmp_path_factory.mktemp("cadence")
    cache: dict[int, np.ndarray] = {}

    def _render(tonic: int) -> np.ndarray:
        if tonic not in cache:
            melody, chords = cadence(tonic)
            cache[tonic] = render_phrase(out, f"cadence{tonic}", melody, chords, program="Piano", seconds=8.0)
        return cache[tonic]

    return _render
