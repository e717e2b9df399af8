"""Render a score excerpt to audio: notes -> Standard MIDI File -> FluidSynth -> effects -> FLAC.

The pure parts (note lists, General MIDI instrumentation plans, the SMF writer, effects chains)
are plain functions that tests call directly; :func:`render_notes` is the one that shells out to
the ``fluidsynth`` command line (Debian packages ``fluidsynth`` + ``fluid-soundfont-gm``).

Timing is baked into the MIDI file in seconds (a fixed 120 BPM tempo map, 960 ticks per second),
so the rendered tempo is exactly what the metadata says, whatever tempo marks the score carries.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sapphire_core.errors import SapphireError

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
#: Debian's General MIDI soundfonts by short name: four sample sets by four authors, so a renderer
#: can train on some and evaluate on another. ``make install`` installs their packages.
SOUNDFONTS = {
    "fluidr3": (SOUNDFONT, "fluid-soundfont-gm"),
    "timgm6mb": (Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), "timgm6mb-soundfont"),
    "gmbank": (Path("/usr/share/sounds/sf2/sf_GMbank.sf2"), "csound-soundfont"),
    "musescore": (Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"), "musescore-general-soundfont-small"),
}
SAMPLE_RATE = 22050
#: Seconds of release/reverb tail kept after the last note ends.
TAIL_SECONDS = 1.0
#: Silence between renderings that share one FluidSynth run (release tails die out within it).
GAP_SECONDS = 2.0
_TICKS_PER_QUARTER = 480
#: 120 BPM tempo map: 500000 us per quarter, so 1 s = 960 ticks.
_TICKS_PER_SECOND = 960

#: General MIDI Level 1 program names (0-based), the subset the plans use.
GM_NAMES = {
    0: "Acoustic Grand Piano", 6: "Harpsichord", 19: "Church Organ", 21: "Accordion",
    24: "Acoustic Guitar (nylon)", 25: "Acoustic Guitar (steel)", 40: "Violin", 41: "Viola", 42: "Cello",
    43: "Contrabass", 46: "Orchestral Harp", 48: "String Ensemble 1", 52: "Choir Aahs", 53: "Voice Oohs",
    56: "Trumpet", 57: "Trombone", 58: "Tuba", 60: "French Horn", 68: "Oboe", 70: "Bassoon", 71: "Clarinet",
    73: "Flute", 78: "Whistle", 105: "Banjo", 110: "Fiddle",
    1: "Bright Acoustic Piano", 3: "Honky-tonk Piano", 4: "Electric Piano 1", 5: "Electric Piano 2", 7: "Clavinet",
    8: "Celesta", 9: "Glockenspiel", 10: "Music Box", 11: "Vibraphone", 12: "Marimba", 16: "Drawbar Organ",
    18: "Rock Organ", 22: "Harmonica", 23: "Bandoneon", 26: "Electric Guitar (jazz)", 27: "Electric Guitar (clean)",
    32: "Acoustic Bass", 38: "Synth Bass 1", 44: "Tremolo Strings", 45: "Pizzicato Strings", 49: "String Ensemble 2",
    50: "Synth Strings 1", 54: "Synth Voice", 59: "Muted Trumpet", 61: "Brass Section", 64: "Soprano Sax",
    65: "Alto Sax", 66: "Tenor Sax", 67: "Baritone Sax", 72: "Piccolo", 74: "Recorder", 75: "Pan Flute",
    79: "Ocarina", 80: "Lead 1 (square)", 81: "Lead 2 (sawtooth)", 104: "Sitar", 107: "Koto", 108: "Kalimba",
}


class RenderError(SapphireError):
    """FluidSynth is missing or failed on a MIDI file."""


@dataclass(frozen=True)
class Note:
    """One note as rendered: onset and duration in seconds, MIDI pitch, part index."""

    onset: float
    duration: float
    pitch: int
    part: int = 0
    velocity: int = 80


@dataclass
class Instrumentation:
    """A General MIDI plan for a score: one program per part (top part first).

    Attributes
    ----------
    name : str
        The plan's name (``"string_quartet"``, ``"choir"``, ...).
    family : str
        keyboard | strings | organ | voice | woodwind | brass | guitar | mixed.
    programs : list of int
        GM program (0-based) per part.
    """

    name: str
    family: str
    programs: list[int] = field(default_factory=list)

    @property
    def program_names(self) -> list[str]:
        """Distinct GM names in part order (what ``instrumentation`` in tracks.jsonl lists)."""
        out: list[str] = []
        for p in self.programs:
            name = GM_NAMES.get(p, f"GM {p}")
            if name not in out:
                out.append(name)
        return out


def _by_rank(top: int, middle: list[int], bottom: int):
    """A plan builder: top part ``top``, bottom part ``bottom``, inner parts cycle ``middle``."""

    def build(n_parts: int) -> list[int]:
        if n_parts == 1:
            return [top]
        inner = [middle[i % len(middle)] for i in range(n_parts - 2)]
        return [top, *inner, bottom]

    return build


def _all(program: int):
    return lambda n_parts: [program] * n_parts


#: plan name -> (family, builder(n_parts) -> programs). Families follow the corpus contract.
PLANS = {
    "piano": ("keyboard", _all(0)),
    "harpsichord": ("keyboard", _all(6)),
    "organ": ("organ", _all(19)),
    "string_ensemble": ("strings", _all(48)),
    "string_quartet": ("strings", _by_rank(40, [40, 41], 42)),
    "choir": ("voice", _all(52)),
    "voices": ("voice", _all(53)),
    "voice_and_piano": ("voice", _by_rank(53, [0], 0)),
    "woodwinds": ("woodwind", _by_rank(73, [68, 71], 70)),
    "brass": ("brass", _by_rank(56, [60, 57], 58)),
    "guitar": ("guitar", _all(24)),
    "fiddle": ("strings", _by_rank(110, [48], 42)),
    "flute": ("woodwind", _by_rank(73, [71], 70)),
    "whistle": ("woodwind", _by_rank(78, [73], 70)),
    "banjo": ("guitar", _by_rank(105, [25], 25)),
    "flute_and_harp": ("mixed", _by_rank(73, [46], 46)),
    # More timbres for training corpora (render profile "train").
    "bright_piano": ("keyboard", _all(1)),
    "honky_tonk": ("keyboard", _all(3)),
    "clavinet": ("keyboard", _all(7)),
    "mallets": ("mallets", _by_rank(11, [12], 12)),
    "celesta": ("mallets", _by_rank(8, [9, 10], 10)),
    "drawbar_organ": ("organ", _all(16)),
    "rock_organ": ("organ", _all(18)),
    "steel_guitar": ("guitar", _all(25)),
    "jazz_guitar": ("guitar", _all(26)),
    "flute_piano_bass": ("mixed", _by_rank(73, [0], 32)),
    "cello_section": ("strings", _by_rank(42, [42], 43)),
    "tremolo_strings": ("strings", _all(44)),
    "strings_2": ("strings", _all(49)),
    "synth_lead": ("synth", _by_rank(80, [81], 38)),
    "reeds": ("woodwind", _by_rank(68, [71], 70)),
    "clarinets": ("woodwind", _all(71)),
    "piccolo_band": ("woodwind", _by_rank(72, [73], 70)),
    "trombones": ("brass", _by_rank(57, [57], 58)),
    "horns": ("brass", _all(60)),
    "plucked_east": ("plucked", _by_rank(104, [107], 108)),
    # Programs never used by the plans above: the render profile "unseen" evaluates on these alone.
    "electric_piano": ("keyboard", _by_rank(4, [4], 5)),
    "accordion": ("organ", _by_rank(21, [23], 21)),
    "harmonica_band": ("organ", _by_rank(22, [21], 23)),
    "clean_guitar": ("guitar", _all(27)),
    "pizzicato": ("strings", _all(45)),
    "synth_strings": ("strings", _all(50)),
    "synth_voices": ("voice", _all(54)),
    "saxophones": ("woodwind", _by_rank(64, [65, 66], 67)),
    "recorders": ("woodwind", _by_rank(74, [79], 75)),
    "brass_section": ("brass", _by_rank(59, [61], 61)),
}


def make_instrumentation(name: str, n_parts: int) -> Instrumentation:
    """Build the plan ``name`` for a score of ``n_parts`` parts.

    Raises
    ------
    RenderError
        For an unknown plan name (the message lists the valid ones).
    """
    if name not in PLANS:
        raise RenderError(f"unknown instrumentation {name!r}; choose one of {', '.join(sorted(PLANS))}")
    family, build = PLANS[name]
    return Instrumentation(name=name, family=family, programs=build(max(1, n_parts)))


# --------------------------------------------------------------------------- MIDI file


def _varlen(value: int) -> bytes:
    """MIDI variable-length quantity (SMF 1.0 spec, section 'Conventions')."""
    value = max(0, int(value))
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def midi_bytes(notes: list[Note], programs: list[int]) -> bytes:
    """A type-0 Standard MIDI File playing ``notes``; part ``i`` on its own channel with ``programs[i]``.

    Channel 10 (index 9, GM percussion) is skipped; parts beyond 15 share channels round-robin.
    """
    return _smf(_segment_events(notes, programs, start=0.0))


def _segment_events(notes: list[Note], programs: list[int], *, start: float) -> list[tuple[int, int, bytes]]:
    """MIDI events (tick, order, bytes) of one rendering placed at ``start`` seconds."""
    channels = [c for c in range(16) if c != 9]
    n_parts = max([n.part for n in notes] + [len(programs) - 1, 0]) + 1
    chan_of = {p: channels[p % len(channels)] for p in range(n_parts)}
    t0 = int(round(start * _TICKS_PER_SECOND))
    events: list[tuple[int, int, bytes]] = []  # order: program (-1), note-off (0), note-on (1) at one tick
    for part in range(min(n_parts, len(channels))):
        program = programs[part] if part < len(programs) else (programs[-1] if programs else 0)
        events.append((t0, -1, bytes([0xC0 | chan_of[part], program & 0x7F])))
    for n in notes:
        if not 0 <= n.pitch <= 127 or n.duration <= 0:
            continue
        ch = chan_of[n.part]
        on = t0 + int(round(n.onset * _TICKS_PER_SECOND))
        off = max(on + 1, t0 + int(round((n.onset + n.duration) * _TICKS_PER_SECOND)))
        events.append((on, 1, bytes([0x90 | ch, n.pitch, max(1, min(127, n.velocity))])))
        events.append((off, 0, bytes([0x80 | ch, n.pitch, 0])))
    return events


def _smf(events: list[tuple[int, int, bytes]]) -> bytes:
    events = sorted(events, key=lambda e: (e[0], e[1], e[2]))
    track = bytearray(b"\x00\xff\x51\x03" + (500000).to_bytes(3, "big"))  # 120 BPM
    last = 0
    for tick, _, data in events:
        track += _varlen(tick - last) + data
        last = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, _TICKS_PER_QUARTER)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


# --------------------------------------------------------------------------- FluidSynth


def soundfont_path(name: str) -> Path:
    """The file of the soundfont ``name`` (a key of :data:`SOUNDFONTS`).

    Raises
    ------
    RenderError
        For an unknown name (listing the valid ones) or a soundfont whose package is missing.
    """
    if name not in SOUNDFONTS:
        raise RenderError(f"unknown soundfont {name!r}; choose one of {', '.join(SOUNDFONTS)}")
    path, package = SOUNDFONTS[name]
    if not path.is_file():
        raise RenderError(f"soundfont {name!r} ({path}) is missing; install it with 'apt-get install {package}' "
                          "(or run 'make install')")
    return path


def fluidsynth_available(soundfonts: tuple[str, ...] = ("fluidr3",)) -> bool:
    """Whether the ``fluidsynth`` command and the named soundfonts are installed."""
    return shutil.which("fluidsynth") is not None and all(SOUNDFONTS[n][0].is_file() for n in soundfonts)


def synthesize(notes: list[Note], programs: list[int], *, sr: int = SAMPLE_RATE, gain: float = 0.6,
               soundfont: str = "fluidr3") -> np.ndarray:
    """Render ``notes`` with FluidSynth and a GM soundfont (default FluidR3); returns mono float32 at ``sr``.

    The audio ends ``TAIL_SECONDS`` after the last note-off.

    Raises
    ------
    RenderError
        When fluidsynth or the soundfont is missing, or the command fails.
    """
    return synthesize_many([(notes, programs)], sr=sr, gain=gain, soundfont=soundfont)[0]


def synthesize_many(renderings: list[tuple[list[Note], list[int]]], *, sr: int = SAMPLE_RATE,
                    gain: float = 0.6, soundfont: str = "fluidr3") -> list[np.ndarray]:
    """Render several ``(notes, programs)`` in ONE FluidSynth run, back to back with silent gaps.

    Starting FluidSynth and loading the 148 MB soundfont costs more than rendering 20 s of music,
    so the variants of a work share one run. FluidSynth's own reverb and chorus are off (effects
    are applied afterwards, per variant), so the only state crossing a gap is voice release,
    which the ``GAP_SECONDS`` of silence outlasts; each rendering is cut out at its known start.
    """
    import soundfile as sf

    if shutil.which("fluidsynth") is None:
        raise RenderError("the fluidsynth command is missing; install it with 'apt-get install fluidsynth' "
                          "(or run 'make install')")
    font = soundfont_path(soundfont)
    starts, ends, events = [], [], []
    t = 0.0
    for notes, programs in renderings:
        end = max((n.onset + n.duration for n in notes), default=0.0)
        starts.append(t)
        ends.append(end)
        events.extend(_segment_events(notes, programs, start=t))
        t += end + TAIL_SECONDS + GAP_SECONDS
    with tempfile.TemporaryDirectory(prefix="sapphire-render-") as tmp:
        mid, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        mid.write_bytes(_smf(events))
        # Dynamic sample loading: an sf3 font decodes only the samples the file plays (4x faster start).
        cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-o", "synth.dynamic-sample-loading=1", "-F", str(wav),
               "-r", str(sr), "-g", str(gain), str(font), str(mid)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "LANG": "C"})
        if proc.returncode != 0 or not wav.is_file():
            raise RenderError(f"fluidsynth failed on {mid} (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
        audio, file_sr = sf.read(str(wav), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    out = []
    for start, end in zip(starts, ends):
        a = int(round(start * file_sr))
        b = int(round((start + end + TAIL_SECONDS) * file_sr))
        seg = audio[a:b]
        if len(seg) < b - a:
            seg = np.concatenate([seg, np.zeros(b - a - len(seg), dtype=np.float32)])
        out.append(_fade_out(seg, int(0.3 * file_sr)))
    return out


def _fade_out(audio: np.ndarray, n: int) -> np.ndarray:
    n = min(n, len(audio))
    if n > 0:
        audio = audio.copy()
        audio[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return audio


# --------------------------------------------------------------------------- effects


def choose_effects(rng: random.Random, *, light: bool = False) -> list[str]:
    """Pick an effects chain, as strings like ``"reverb:0.35"`` (name:parameter).

    ``light`` gives only a small room reverb (the reference rendering); otherwise 1-3 of
    reverb, EQ shelves, a low-pass (a dull recording), compression and background noise.
    """
    if light:
        return [f"reverb:{rng.uniform(0.1, 0.3):.2f}"]
    pool = [
        lambda: f"reverb:{rng.uniform(0.2, 0.7):.2f}",
        lambda: f"highshelf:{rng.choice([-6, -4, 3, 5])}",
        lambda: f"lowshelf:{rng.choice([-5, -3, 3, 6])}",
        lambda: f"lowpass:{rng.choice([3000, 4500, 6000])}",
        lambda: "compressor:-18",
        lambda: f"noise:{rng.choice([-45, -40, -35])}",
    ]
    picks = sorted(rng.sample(range(len(pool)), rng.randint(1, 3)))
    return [pool[i]() for i in picks]


def apply_effects(audio: np.ndarray, effects: list[str], *, sr: int, seed: int = 0) -> np.ndarray:
    """Apply an effects chain from :func:`choose_effects` with pedalboard; peak-normalise to -1 dBFS.

    ``noise:<dB>`` adds white noise at that level relative to the signal's RMS (seeded).
    """
    import pedalboard as pb

    board = []
    noise_db = None
    for spec in effects:
        name, _, arg = spec.partition(":")
        value = float(arg) if arg else 0.0
        if name == "reverb":
            board.append(pb.Reverb(room_size=value, wet_level=0.25, dry_level=0.8))
        elif name == "highshelf":
            board.append(pb.HighShelfFilter(cutoff_frequency_hz=3000, gain_db=value))
        elif name == "lowshelf":
            board.append(pb.LowShelfFilter(cutoff_frequency_hz=250, gain_db=value))
        elif name == "lowpass":
            board.append(pb.LowpassFilter(cutoff_frequency_hz=value))
        elif name == "compressor":
            board.append(pb.Compressor(threshold_db=value, ratio=3.0))
        elif name == "noise":
            noise_db = value
        else:
            raise RenderError(f"unknown effect {spec!r}; choose reverb, highshelf, lowshelf, lowpass, compressor, noise")
    out = np.asarray(audio, dtype=np.float32)
    if board:
        out = pb.Pedalboard(board)(out[None, :], sr)[0].astype(np.float32)
    if noise_db is not None:
        rms = float(np.sqrt(np.mean(out**2))) or 1e-4
        rng = np.random.default_rng(seed)
        out = out + (rms * 10 ** (noise_db / 20) * rng.standard_normal(len(out))).astype(np.float32)
    return normalize_peak(out)


def normalize_peak(audio: np.ndarray, peak_db: float = -1.0) -> np.ndarray:
    """Scale so the absolute peak sits at ``peak_db`` dBFS (silence is returned unchanged)."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak <= 1e-9:
        return audio.astype(np.float32)
    return (audio * (10 ** (peak_db / 20) / peak)).astype(np.float32)


def write_audio(path: Path, audio: np.ndarray, *, sr: int) -> None:
    """Write 16-bit FLAC (or WAV by suffix) atomically: temp file in the same folder, then rename."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        fmt = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
        sf.write(tmp, np.clip(audio, -1.0, 1.0), sr, format=fmt, subtype="PCM_16")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
