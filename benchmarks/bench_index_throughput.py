"""Catalogue-scale indexing: x realtime per CPU core of the default modality set, per extractor, and peak RSS.

Input: realistic songs rendered with FluidSynth (the corpus renderer,
:func:`sapphire_core.corpus.render.synthesize_many`): verse / chorus / bridge form with a lead
melody (with rests), sustained chords and a bass line over a I-V-vi-IV style progression, 90-130
BPM, written as 44.1 kHz stereo FLAC like a ripped catalogue, each with a few hundred words of
English lyrics (the lyrics extractors of ``configs/default.yaml`` run too).

Every measurement runs in a fresh process capped to ONE thread (``OMP/MKL/OPENBLAS_NUM_THREADS=1``,
``torch.set_num_threads(1)``), so ``x_realtime_per_core`` is audio seconds over that process's CPU
seconds, robust to other work on the machine; wall seconds are reported beside it.

Figures
-------
* ``extract``: the default modality set over the 4-minute songs, in the order ``extract_track`` runs
  them (an intermediate shared through the track context is charged to the first extractor that
  needs it): whole-set and per-extractor x realtime per core, the share of each, and the reference
  measured in the same process, ``decode`` (reading the FLAC and resampling to every rate the
  extractors need, which the set also pays). One-time model loading is excluded (a warm-up track).
* ``growth``: the whole set on 30 s, 4 min and 20 min (a concatenation of the songs), each in its
  own process, with its peak RSS; also in ``scaling``.
* ``index``: ``build_index`` (``sapphire index``: features and embedding with an untrained default
  model) over the songs with 1 and 2 worker processes: wall seconds and speed-up (the ideal is
  ``min(2, cpus)``; a busy machine gets less). The index extras (track melodies for query by
  humming, built after the vectors in the main process) are timed apart (``extras``).
* ``library_10k``: what 10,000 songs of 4 minutes would take at the measured rate, per core and
  on this machine's cores.
* ``base_model``: what ``sapphire index`` does by default, with the shipped base model
  (``sapphire_core/models/base.ckpt``: the acoustic modality only) and the index extras of the shipped
  plugins (the version mode's ``chroma_sequence``, the vocal plugin's ``melody`` for humming; the
  example plugin is not loaded): per part (each extractor, the embedding, each extra, which decodes
  the file itself) x realtime per core with ``decode`` (once at 22.05 kHz) as the reference, measured
  in the same process, and the extras together as ``build_extras`` computes them (``extras``: one decode
  per track shared by the extras, against the sum of the extras alone); then ``build_index`` as the CLI
  runs it (features, embedding, extras) over the songs after a warm-up build, whole-run x realtime per
  core and peak RSS.
* ``two_hours`` (only with ``--two-hours`` or ``SAPPHIRE_BENCH_TWO_HOURS=1``): peak RSS (``VmHWM``)
  on a 2-hour FLAC (the songs looped), each in a fresh one-thread process: ``sapphire extract`` with the
  base model's extractors (``extract_peak_rss_mb``), and ``build_index`` with the base model and its
  extras (``index_peak_rss_mb``) with the peak of each stage (``index_stage_peak_rss_mb``: the
  extraction, the embedding, each extra; the high-water mark is reset between stages with
  ``/proc/self/clear_refs``, so each includes what the earlier stages still hold).
* ``workers``: ``sapphire index`` (base model, its extras) over four distinct 60 s excerpts of the songs
  with 1 and 2 worker processes (fresh process and cache each): wall seconds, speed-up, and whether the
  extras' stores are byte-identical.

Run ``python benchmarks/bench_index_throughput.py [--quick] [--two-hours] [--sections base,two_hours]``
(``--sections`` or ``SAPPHIRE_BENCH_SECTIONS`` picks among ``default,base,two_hours,workers``; default:
``default,base``, and ``--two-hours`` adds ``two_hours``); prints JSON.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FILE_SR = 44100
CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
#: One thread per process: the figure is per core, and N processes never oversubscribe.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
_WORDS = ("night light heart fire river road home rain dream sky morning gold silver stone wind song "
          "dance alone together forever remember falling rising shadow ocean city summer winter").split()


# --------------------------------------------------------------------------- inputs


def song_notes(seconds: float, seed: int):
    """Notes and GM programs of a pop-form song of at least ``seconds`` (lead, chords, bass)."""
    from sapphire_core.corpus.render import Note

    rng = random.Random(seed)
    bpm = rng.uniform(90, 130)
    beat = 60.0 / bpm
    tonic = rng.randint(55, 64)
    scale = [0, 2, 4, 5, 7, 9, 11]
    progressions = {"verse": [0, 5, 3, 4], "chorus": [3, 4, 0, 5], "bridge": [5, 3, 1, 4]}

    def degree(d: int, octave: int = 0) -> int:
        return tonic + scale[d % 7] + 12 * (d // 7 + octave)

    def phrase(bars: int) -> list[tuple[float, float, int]]:
        """(beat offset, beats, scale degree) of a melody over ``bars`` bars, with rests."""
        out, t, d = [], 0.0, rng.randint(0, 4)
        while t < 4 * bars - 0.5:
            dur = rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0])
            if rng.random() < 0.15:  # a rest: unvoiced frames, as in a sung line
                t += dur
                continue
            d = max(-2, min(9, d + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3])))
            out.append((t, min(dur, 4 * bars - t), d))
            t += dur
        return out

    melodies = {name: phrase(8) for name in progressions}
    form = ["verse", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "chorus"]
    notes: list[Note] = []
    t0, i = 2 * beat, 0
    while t0 < seconds:
        section = form[i % len(form)]
        i += 1
        for bar in range(8):
            root = progressions[section][bar % 4]
            start = t0 + 4 * bar * beat
            for k in (0, 2, 4):  # sustained triad
                notes.append(Note(start, 4 * beat * 0.95, degree(root + k, -1), part=1, velocity=55))
            for b in (0, 2):  # bass on beats 1 and 3
                notes.append(Note(start + b * beat, 1.8 * beat, degree(root, -2), part=2, velocity=75))
        for off, dur, d in melodies[section]:
            notes.append(Note(t0 + off * beat, dur * beat * 0.9, degree(d), part=0, velocity=90))
        t0 += 32 * beat
    programs = [rng.choice([52, 73, 40, 65, 56]), rng.choice([0, 48, 4, 24]), rng.choice([32, 43])]
    return [n for n in notes if n.onset < seconds], programs


def lyrics_text(seed: int, lines: int = 40) -> str:
    rng = random.Random(seed)
    return "\n".join(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 9))) for _ in range(lines))


def write_stereo(path: Path, mono: np.ndarray) -> Path:
    """16-bit stereo FLAC at 44.1 kHz (a slightly panned copy), as a ripped catalogue stores music."""
    from sapphire_core.corpus.render import normalize_peak, write_audio

    mono = normalize_peak(mono, -1.0)
    write_audio(path, np.stack([mono, 0.9 * mono], axis=1), sr=FILE_SR)
    return path


def render_songs(folder: Path, n: int, seconds: float) -> list[np.ndarray]:
    """``n`` rendered songs of ``seconds`` (mono float32 at 44.1 kHz), in one FluidSynth run."""
    from sapphire_core.corpus.render import synthesize_many

    songs = [song_notes(seconds, seed) for seed in range(n)]
    audio = synthesize_many(songs, sr=FILE_SR)
    return [a[: int(seconds * FILE_SR)] for a in audio]


def write_corpus(folder: Path, files: list[Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": f.stem, "audio": str(f), "lyrics": lyrics_text(i), "language": "en",
                         "work_id": f.stem}) for i, f in enumerate(files)]
    (folder / "tracks.jsonl").write_text("\n".join(lines) + "\n")
    return folder


# --------------------------------------------------------------------------- child processes


def _child(spec: dict) -> dict:
    """Runs in a fresh one-thread process (see :func:`_in_child`)."""
    import resource

    import torch

    torch.set_num_threads(1)
    kind = spec["kind"]
    if kind == "extract":
        out = _child_extract(spec)
    elif kind == "index":
        out = _child_index(spec)
    elif kind == "base":
        out = _child_base(spec)
    elif kind == "base_index":
        out = _child_base_index(spec)
    elif kind == "base_extract":
        out = _child_base_extract(spec)
    else:
        raise ValueError(kind)
    out["peak_rss_mb"] = _peak_rss_mb()
    out["children_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return out


def _peak_rss_mb() -> float:
    """This process's own peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux keeps the pre-exec
    high-water mark in it, so a child would report at least its parent's RSS at fork."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _extractors():
    from sapphire_core.config import load_config
    from sapphire_core.extraction import unique_extractors
    from sapphire_core.model import build_extractors
    from sapphire_core.plugins import default_registry

    registry = default_registry()
    cfg = load_config(CONFIG, registry)
    return unique_extractors([e for g in build_extractors(cfg, registry).values() for e in g])


def _time_track(extractors, path: str, lyrics: str) -> dict:
    """Decode (once per rate the extractors need: the reference) and each extractor's CPU and wall
    seconds on one track, as ``extract_track`` runs them (no cache); also returns the features."""
    from sapphire_core.context import TrackContext, track_context
    from sapphire_core.data import Track

    rates = sorted({e.sample_rate for e in extractors if e.needs_audio})
    track = Track(id=Path(path).stem, audio=Path(path), lyrics=lyrics, language="en")
    context = TrackContext(track)
    row: dict = {"decode": {"cpu_s": 0.0, "wall_s": 0.0}, "extractors": {}}
    for sr in rates:
        c, w = time.process_time(), time.perf_counter()
        context.audio(sr)
        row["decode"]["cpu_s"] += time.process_time() - c
        row["decode"]["wall_s"] += time.perf_counter() - w
    row["audio_s"] = len(context.audio(rates[0])) / rates[0]
    features = {}
    for ex in extractors:
        audio = context.audio(ex.sample_rate) if ex.needs_audio else None
        c, w = time.process_time(), time.perf_counter()
        with track_context(context):
            features[ex.name] = ex.run(audio, track, context)
        row["extractors"][ex.name] = {"cpu_s": time.process_time() - c, "wall_s": time.perf_counter() - w}
    return {"row": row, "track": track, "features": features}


def _child_extract(spec: dict) -> dict:
    """Per-extractor CPU and wall seconds of each track, as ``extract_track`` runs them (no cache)."""
    extractors = _extractors()
    c, w = time.process_time(), time.perf_counter()
    _time_track(extractors, spec["warmup"], lyrics_text(99, 4))  # model loading and JIT compilation, once
    warm = {"cpu_s": time.process_time() - c, "wall_s": time.perf_counter() - w}
    return {"warmup": warm, "tracks": [_time_track(extractors, p, lyr)["row"] for p, lyr in spec["tracks"]]}


def _child_base(spec: dict) -> dict:
    """The base model's parts on each track: decode, each extractor, the embedding, each index extra."""
    import torch

    from sapphire_core.base_model import base_checkpoint
    from sapphire_core.embedding import encode_features, track_features_from
    from sapphire_core.extraction import unique_extractors
    from sapphire_core.index.extras import build_extras, selected_extras
    from sapphire_core.model import build_extractors, load_model
    from sapphire_core.plugins import default_registry

    registry = default_registry()
    model, _ = load_model(base_checkpoint(), registry)
    by_modality = build_extractors(model.cfg, registry)
    extractors = unique_extractors([e for g in by_modality.values() for e in g])
    extras = selected_extras(registry, None)

    def one(path: str, lyrics: str, folder: Path) -> dict:
        timed = _time_track(extractors, path, lyrics)
        row = timed["row"]
        c, w = time.process_time(), time.perf_counter()
        with torch.no_grad():
            feats = track_features_from(timed["track"], by_modality, timed["features"])
            model.fuse(*encode_features(model, [feats]))
        row["extractors"]["embedding"] = {"cpu_s": time.process_time() - c, "wall_s": time.perf_counter() - w}
        for name, extra in extras.items():
            c, w = time.process_time(), time.perf_counter()
            extra.build([timed["track"]], folder / name)
            row["extractors"][f"extra:{name}"] = {"cpu_s": time.process_time() - c,
                                                  "wall_s": time.perf_counter() - w}
        # All extras as ``sapphire index`` builds them (one decode per track for those declaring a rate),
        # beside the parts above (each extra decoding alone), not added to them.
        c, w = time.process_time(), time.perf_counter()
        build_extras(extras, [timed["track"]], folder / "one_pass")
        row["extras_one_pass"] = {"cpu_s": time.process_time() - c, "wall_s": time.perf_counter() - w}
        return row

    work = Path(spec["out"])
    one(spec["warmup"], "", work / "warm")  # model loading, ONNX session, JIT compilation, once
    return {"extras": sorted(extras), "tracks": [one(p, lyr, work / f"t{i}") for i, (p, lyr)
                                                 in enumerate(spec["tracks"])]}


def _child_base_index(spec: dict) -> dict:
    """``build_index`` as ``sapphire index --corpus C --out I`` runs it (the base model, every extra),
    timed after a warm-up build of a one-track corpus (model loading and JIT compilation, once)."""
    from sapphire_core.base_model import base_checkpoint
    from sapphire_core.index.builder import build_index
    from sapphire_core.plugins import default_registry

    registry = default_registry()
    work = Path(spec["out"])
    if spec.get("warmup_corpus"):
        build_index(base_checkpoint(), spec["warmup_corpus"], work / "warm_index", cache_dir=work / "warm_cache",
                    device="cpu", registry=registry)
    peaks, undo = _stage_peaks() if spec.get("stages") else (None, None)
    c, w = time.process_time(), time.perf_counter()
    report = build_index(base_checkpoint(), spec["corpus"], work / "index", cache_dir=work / "cache", device="cpu",
                         registry=registry, workers=spec.get("workers", 1))
    out = {"cpu_s": time.process_time() - c, "wall_s": time.perf_counter() - w, "indexed": report.indexed,
           "failures": len(report.failures), "extras": report.extras}
    if peaks is not None:
        undo()
        out["stage_peak_rss_mb"] = peaks
    return out


def _reset_peak() -> bool:
    """Start a new ``VmHWM`` high-water mark for this process (Linux ``clear_refs`` 5); False where unavailable."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _stage_peaks() -> tuple[dict, object]:
    """Wrap ``build_index``'s stages (each track's feature extraction, the embedding, each index extra) so each
    records its own ``VmHWM`` peak: ``(peaks in MB, undo)``. A stage's peak includes what earlier stages still
    hold (the fixed cost of the libraries, the model)."""
    import sapphire_core.embedding as embedding
    import sapphire_core.index.builder as builder
    peaks: dict[str, float] = {}
    real_extract, real_embed, real_extras = embedding.extract_track, embedding.embed_tracks, builder.build_extras

    def record(name: str) -> None:
        peaks[name] = max(peaks.get(name, 0.0), _peak_rss_mb())

    def extract_track(*args, **kwargs):
        record("before_extraction")
        _reset_peak()
        try:
            return real_extract(*args, **kwargs)
        finally:
            record("extraction")
            _reset_peak()

    def embed_tracks(*args, **kwargs):
        try:
            return real_embed(*args, **kwargs)
        finally:
            record("embedding")  # since the last extraction ended

    def build_extras(extras, tracks, index_dir, **kwargs):
        out = {}
        for name, extra in extras.items():
            _reset_peak()
            out.update(real_extras({name: extra}, tracks, index_dir, **kwargs))
            record(f"extra:{name}")
        return out

    embedding.extract_track, embedding.embed_tracks, builder.build_extras = extract_track, embed_tracks, build_extras

    def undo():
        embedding.extract_track, embedding.embed_tracks, builder.build_extras = real_extract, real_embed, real_extras

    return peaks, undo


def _child_base_extract(spec: dict) -> dict:
    """``sapphire extract`` with the base model's extractors over a corpus (one process, features cached)."""
    from sapphire_core.base_model import base_checkpoint
    from sapphire_core.cache import FeatureCache
    from sapphire_core.data import Corpus
    from sapphire_core.extraction import extract_corpus
    from sapphire_core.model import build_extractors, load_model
    from sapphire_core.plugins import default_registry

    registry = default_registry()
    model, _ = load_model(base_checkpoint(), registry)
    extractors = [e for group in build_extractors(model.cfg, registry).values() for e in group]
    del model
    before = _peak_rss_mb()
    c, w = time.process_time(), time.perf_counter()
    report = extract_corpus(Corpus(spec["corpus"]).tracks, extractors, FeatureCache(spec["out"]))
    return {"cpu_s": time.process_time() - c, "wall_s": time.perf_counter() - w, "peak_before_mb": before,
            "failures": len(report.failures), "extractors": [e.name for e in extractors]}


def _child_index(spec: dict) -> dict:
    """``build_index`` over a corpus (features not cached yet), timed; an untrained default model."""
    from sapphire_core.checkpoint import save_checkpoint
    from sapphire_core.config import config_to_dict, load_config
    from sapphire_core.index.builder import build_index
    from sapphire_core.model import model_from_config
    from sapphire_core.plugins import default_registry

    registry = default_registry()
    cfg = load_config(CONFIG, registry)
    torch_seed = __import__("torch").manual_seed(0)
    del torch_seed
    model = model_from_config(cfg, registry)
    ckpt = save_checkpoint(Path(spec["out"]) / "model.pt", config=config_to_dict(cfg), state_dict=model.state_dict())
    kwargs = {"workers": spec["workers"]} if spec["workers"] > 1 else {}
    c, w = time.process_time(), time.perf_counter()
    # The extras (track melodies for humming) are built in this process after the vectors whatever
    # the workers: timed apart, once, so the 1-vs-2 comparison is the part the pool runs.
    report = build_index(ckpt, spec["corpus"], Path(spec["out"]) / "index", cache_dir=Path(spec["out"]) / "cache",
                         device="cpu", registry=registry, extras=False, **kwargs)
    out = {"wall_s": time.perf_counter() - w, "cpu_s_main": time.process_time() - c, "indexed": report.indexed,
           "failures": len(report.failures)}
    if spec.get("extras"):
        from sapphire_core.data import Corpus
        from sapphire_core.index.extras import build_extras, selected_extras

        c, w = time.process_time(), time.perf_counter()
        built = build_extras(selected_extras(registry, True), Corpus(spec["corpus"]).tracks,
                             Path(spec["out"]) / "index")
        out["extras"] = {"names": sorted(built), "wall_s": time.perf_counter() - w,
                         "cpu_s": time.process_time() - c}
    return out


def _in_child(spec: dict, timeout: float = 1800, env: dict | None = None) -> dict:
    """Run :func:`_child` in a fresh Python process capped to one thread; returns its JSON."""
    env = {**os.environ, **THREAD_ENV, **(env or {})}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if proc.returncode != 0 or "@@CHILD@@" not in proc.stdout:
        raise RuntimeError(f"child {spec['kind']} failed (exit {proc.returncode}): "
                           + " | ".join(proc.stderr.strip().splitlines()[-6:]))
    return json.loads(proc.stdout.rsplit("@@CHILD@@", 1)[1])


# --------------------------------------------------------------------------- report


def _summary(rows: list[dict]) -> dict:
    """Whole-set and per-extractor x realtime per core over ``rows`` (tracks)."""
    audio = sum(r["audio_s"] for r in rows)
    names = list(rows[0]["extractors"])
    per = {n: sum(r["extractors"][n]["cpu_s"] for r in rows) for n in names}
    decode = sum(r["decode"]["cpu_s"] for r in rows)
    total = decode + sum(per.values())
    wall = sum(r["decode"]["wall_s"] + sum(e["wall_s"] for e in r["extractors"].values()) for r in rows)
    return {
        "audio_s": audio, "cpu_s": total, "wall_s": wall,
        "x_realtime_per_core": audio / total,
        "reference_decode_x_realtime_per_core": audio / decode,
        "ratio_set_vs_decode_cost": total / decode,
        "per_extractor": {n: {"cpu_s": per[n], "share": per[n] / total,
                              "x_realtime_per_core": audio / per[n] if per[n] > 0 else None} for n in names},
    }


#: Plugins a user installs (``pip install sapphire-core`` and the four modality plugins): the example
#: plugin of the development install would add its own extra to what ``sapphire index`` builds.
SHIPPED_PLUGINS = {"SAPPHIRE_PLUGINS": "-dynamics"}
SECTIONS = ("default", "base", "two_hours", "workers")


def _sections(two_hours: bool | None) -> set[str]:
    chosen = os.environ.get("SAPPHIRE_BENCH_SECTIONS")
    if "--sections" in sys.argv:
        chosen = sys.argv[sys.argv.index("--sections") + 1]
    picked = set(chosen.split(",")) if chosen else {"default", "base"}
    unknown = picked - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}; choose among {', '.join(SECTIONS)}")
    if two_hours is None:
        two_hours = os.environ.get("SAPPHIRE_BENCH_TWO_HOURS") == "1" or "--two-hours" in sys.argv
    return picked | ({"two_hours"} if two_hours else set())


def run(quick: bool = False, two_hours: bool | None = None) -> dict:
    """Measure; returns a JSON-able dict (see the module docstring)."""
    from sapphire_core.corpus.render import fluidsynth_available

    if not fluidsynth_available():
        raise RuntimeError("fluidsynth and the FluidR3 soundfont are needed: apt-get install fluidsynth "
                           "fluid-soundfont-gm (or make install)")
    sections = _sections(two_hours)
    n_songs, song_s = (2, 60.0) if quick else (2, 240.0)
    short_s, long_s = (10.0, 180.0) if quick else (30.0, 1200.0)
    cpus = os.cpu_count() or 1
    out: dict = {"benchmark": "index_throughput", "quick": quick, "config": "configs/default.yaml",
                 "sections": sorted(sections), "songs": n_songs, "song_s": song_s, "threads_per_process": 1,
                 "cpus": cpus, "load_average_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="sapphire-bench-throughput-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        songs = render_songs(tmp, n_songs, song_s)
        files = [write_stereo(tmp / "audio" / f"song_{i:02d}.flac", s) for i, s in enumerate(songs)]
        lyrics = [lyrics_text(i) for i in range(n_songs)]
        warm = write_stereo(tmp / "audio" / "warmup.flac", songs[0][: 5 * FILE_SR])
        out["render_s"] = time.perf_counter() - t0
        corpus = write_corpus(tmp / "corpus", files)
        if "default" in sections:
            out.update(_default_set(tmp, songs, files, lyrics, warm, corpus, short_s, long_s, cpus))
        if "base" in sections:
            out["base_model"] = _base_model(tmp, files, lyrics, warm, cpus)
        if "two_hours" in sections:
            # SAPPHIRE_BENCH_LONG_SECONDS shortens the file for a dry run of the code (the figures need 7200).
            long_s = int(os.environ.get("SAPPHIRE_BENCH_LONG_SECONDS", 7200))
            n = int(np.ceil(long_s / (song_s * n_songs)))
            path = write_stereo(tmp / "audio" / "two_hours.flac", np.concatenate(songs * n)[: long_s * FILE_SR])
            work = tmp / "two_hours"
            corpus_2h = str(write_corpus(work / "corpus", [path]))
            ext = _in_child({"kind": "base_extract", "corpus": corpus_2h, "out": str(work / "extract_cache")},
                            timeout=7200, env=SHIPPED_PLUGINS)
            res = _in_child({"kind": "base_index", "corpus": corpus_2h, "out": str(work), "stages": True},
                            timeout=7200, env=SHIPPED_PLUGINS)
            stages = res.get("stage_peak_rss_mb") or {}
            # Each stage restarts the high-water mark: the run's peak is the highest stage's.
            res["peak_rss_mb"] = max([res["peak_rss_mb"], *stages.values()])
            out["two_hours"] = {"what": "base model and its extras, one 2-hour FLAC, fresh one-thread processes",
                                "extract_peak_rss_mb": ext["peak_rss_mb"], "extract_cpu_s": ext["cpu_s"],
                                "extract_wall_s": ext["wall_s"], "extract_failures": ext["failures"],
                                "extract_peak_before_mb": ext["peak_before_mb"],
                                "index_peak_rss_mb": res["peak_rss_mb"], "cpu_s": res["cpu_s"],
                                "wall_s": res["wall_s"], "x_realtime_per_core": long_s / res["cpu_s"],
                                "audio_s": long_s,
                                "index_stage_peak_rss_mb": res.get("stage_peak_rss_mb"),
                                "target_peak_mb": 1536,
                                "meets_target": bool(max(res["peak_rss_mb"], ext["peak_rss_mb"]) <= 1536)}
        if "workers" in sections:
            out["workers"] = _workers(tmp, songs, seconds=30.0 if quick else 60.0)
    out["load_average_end"] = os.getloadavg()[0]
    return out


def _workers(tmp: Path, songs: list[np.ndarray], n_tracks: int = 4, seconds: float = 60.0) -> dict:
    """``sapphire index`` (base model, its extras) over ``n_tracks`` distinct ``seconds``-long excerpts with 1
    and 2 workers, each in a fresh process with a fresh cache: wall seconds and the speed-up (pool start-up,
    model loading in every worker included, as a user pays them)."""
    work = tmp / "workers"
    n = int(seconds * FILE_SR)
    pieces = [s[i * n:(i + 1) * n] for s in songs for i in range(len(s) // n)][:n_tracks]
    files = [write_stereo(work / "audio" / f"piece_{i:02d}.flac", p) for i, p in enumerate(pieces)]
    corpus = str(write_corpus(work / "corpus", files))
    out: dict = {"tracks": len(files), "track_s": seconds, "cpus": os.cpu_count(),
                 "load_average_start": os.getloadavg()[0]}
    for workers in (1, 2):
        res = _in_child({"kind": "base_index", "corpus": corpus, "out": str(work / f"w{workers}"),
                         "workers": workers}, env=SHIPPED_PLUGINS)
        out[f"workers_{workers}"] = {k: res[k] for k in ("wall_s", "cpu_s", "indexed", "failures", "peak_rss_mb",
                                                         "children_peak_rss_mb")}
    a, b = (work / "w1" / "index" / "extras"), (work / "w2" / "index" / "extras")
    out["extras_identical"] = sorted((p.relative_to(a), p.read_bytes()) for p in a.rglob("*") if p.is_file()) == \
        sorted((p.relative_to(b), p.read_bytes()) for p in b.rglob("*") if p.is_file())
    out["speedup_2_vs_1"] = out["workers_1"]["wall_s"] / out["workers_2"]["wall_s"]
    out["load_average_end"] = os.getloadavg()[0]
    return out


def _base_model(tmp: Path, files: list[Path], lyrics: list[str], warm: Path, cpus: int) -> dict:
    """The ``base_model`` figures (see the module docstring)."""
    work = tmp / "base"
    work.mkdir()
    parts = _in_child({"kind": "base", "warmup": str(warm), "out": str(work / "parts"),
                       "tracks": [[str(f), lyr] for f, lyr in zip(files, lyrics)]}, env=SHIPPED_PLUGINS)
    summary = _summary(parts["tracks"])
    summary["per_part"] = summary.pop("per_extractor")
    alone = sum(v["cpu_s"] for r in parts["tracks"] for k, v in r["extractors"].items() if k.startswith("extra:"))
    together = sum(r["extras_one_pass"]["cpu_s"] for r in parts["tracks"])
    summary["extras"] = {"each_alone_cpu_s": alone, "one_pass_cpu_s": together, "ratio_alone_vs_one_pass":
                         alone / together if together > 0 else None}
    audio_total = summary["audio_s"]
    whole = _in_child({"kind": "base_index", "corpus": str(write_corpus(work / "corpus", files)),
                       "warmup_corpus": str(write_corpus(work / "warm_corpus", [warm])), "out": str(work / "run")},
                      env=SHIPPED_PLUGINS)
    rate = audio_total / whole["cpu_s"]
    library_s = 10_000 * 240.0
    return {
        "model": "sapphire_core/models/base.ckpt (configs/base.yaml)", "extras": parts["extras"],
        "parts": {**summary, "peak_rss_mb": parts["peak_rss_mb"]},
        "index": {**whole, "x_realtime_per_core": rate, "x_realtime_wall": audio_total / whole["wall_s"]},
        "target_x_realtime_per_core": 100.0, "meets_target": bool(rate >= 100.0),
        "library_10k_line": (f"10,000 songs of 4 min with `sapphire index` (base model, extras) at {rate:.0f}x "
                             f"realtime per core: {library_s / rate / 3600:.1f} h on one core, "
                             f"{library_s / rate / 3600 / cpus:.1f} h on {cpus} cores"),
    }


def _default_set(tmp: Path, songs: list[np.ndarray], files: list[Path], lyrics: list[str], warm: Path,
                 corpus: Path, short_s: float, long_s: float, cpus: int) -> dict:
    """The default modality set's figures: ``extract``, ``growth``, ``index``, ``library_10k``, ``scaling``."""
    out: dict = {}
    n_songs, song_s = len(songs), len(songs[0]) / FILE_SR
    short = write_stereo(tmp / "audio" / "short.flac", songs[-1][: int(short_s * FILE_SR)])
    reps = int(np.ceil(long_s / (song_s * n_songs)))
    long_audio = np.concatenate(songs * reps)[: int(long_s * FILE_SR)]
    long_file = write_stereo(tmp / "audio" / "long.flac", long_audio)
    del long_audio

    ex = _in_child({"kind": "extract", "warmup": str(warm),
                    "tracks": [[str(f), lyr] for f, lyr in zip(files, lyrics)]})
    out["extract"] = {**_summary(ex["tracks"]), "peak_rss_mb": ex["peak_rss_mb"],
                      "warmup_wall_s": ex["warmup"]["wall_s"]}

    growth = []
    for label, path, seconds in (("short", short, short_s), ("song", None, song_s), ("long", long_file, long_s)):
        if path is None:  # the 4-minute point is the first song of the run above
            row = {**_summary(ex["tracks"][:1]), "peak_rss_mb": ex["peak_rss_mb"]}
        else:
            res = _in_child({"kind": "extract", "warmup": str(warm), "tracks": [[str(path), lyrics[0]]]})
            row = {**_summary(res["tracks"]), "peak_rss_mb": res["peak_rss_mb"]}
        growth.append({"audio_s": seconds, "cpu_s": row["cpu_s"], "x_realtime_per_core": row["x_realtime_per_core"],
                       "peak_rss_mb": row["peak_rss_mb"]})
    out["growth"] = growth

    index: dict = {}
    for workers in (1, 2):
        work = tmp / f"index_w{workers}"
        work.mkdir()
        index[f"workers_{workers}"] = _in_child({"kind": "index", "corpus": str(corpus), "out": str(work),
                                                 "workers": workers, "extras": workers == 1})
    audio_total = n_songs * song_s
    for row in index.values():
        row["x_realtime_wall"] = audio_total / row["wall_s"]
    extras = index["workers_1"].get("extras")
    if extras:
        extras["x_realtime_per_core"] = audio_total / extras["cpu_s"]
    index["speedup_2_vs_1"] = index["workers_1"]["wall_s"] / index["workers_2"]["wall_s"]
    index["ideal_speedup"] = float(min(2, cpus, n_songs))
    out["index"] = index

    rate = out["extract"]["x_realtime_per_core"]
    library_s = 10_000 * 240.0
    out["library_10k"] = {
        "hours_one_core": library_s / rate / 3600,
        f"hours_{cpus}_cores": library_s / rate / 3600 / cpus,
        "line": (f"10,000 songs of 4 min at {rate:.0f}x realtime per core: {library_s / rate / 3600:.1f} h on one "
                 f"core, {library_s / rate / 3600 / cpus:.1f} h on this machine's {cpus} cores (extraction only)"),
    }
    out["target_x_realtime_per_core"] = 100.0
    out["meets_target"] = bool(rate >= 100.0)
    out["scaling"] = [
        {"what": "default modality set, extraction (cpu s, 1 thread)", "unit": "audio s",
         "sizes": [g["audio_s"] for g in growth], "seconds": [g["cpu_s"] for g in growth],
         "peak_mb": [g["peak_rss_mb"] for g in growth]},
    ]
    return out


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print("\n@@CHILD@@" + json.dumps(_child(json.loads(sys.argv[2]))))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
