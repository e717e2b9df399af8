"""Build a rendered corpus from music21's scores: resumable, deterministic for a seed, parallel.

Layout of the output folder (the contract in the corpus spec)::

    audio/<work_id>__v<k>.flac    rendered variants
    hums/<work_id>__hum.wav       query-by-humming recordings
    excerpts/<work_id>__x<N>.flac excerpts of N = 5, 10, 20 s of one variant
    tracks.jsonl queries.jsonl relations.jsonl build_report.json
    .build/works/<work_id>.json   per-work records (written last for each work: the resume points)
    .complete                     written after everything else

Resuming: a work whose record exists is not rebuilt; audio files are written atomically, so a
killed build leaves either a whole file or none. Determinism: every random choice is seeded from
``(seed, work_id, variant)``, FluidSynth renders deterministically, and the output lists are
assembled in candidate order, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import os
import random
import time
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sapphire_core.corpus.profiles import RenderProfile, profile
from sapphire_core.errors import CorpusError

COMPLETE_MARKER = ".complete"
#: Bumped when the output changes for the same parameters; older demo corpora are rebuilt.
FORMAT_VERSION = 4
#: Lengths of the excerpt queries cut from one variant of each work (seconds).
EXCERPT_SECONDS = (5, 10, 20)
_PC_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]

#: Alternative instrumentations by kind of work (v1, v2, ... draw from these, seeded).
VARIANT_POOLS = {
    "vocal": ["organ", "string_ensemble", "piano", "woodwinds", "brass", "voices", "choir"],
    "quartet": ["string_ensemble", "piano", "woodwinds", "organ", "brass", "guitar"],
    "keyboard": ["harpsichord", "string_ensemble", "guitar", "woodwinds", "organ", "piano"],
    "tune": ["flute", "whistle", "piano", "banjo", "guitar", "fiddle", "flute_and_harp", "organ"],
    "other": ["piano", "string_ensemble", "woodwinds", "organ", "guitar", "brass"],
}


@dataclass
class BuildOptions:
    """Parameters of one build (stored in the completion marker)."""

    size: str = "small"
    variants: int = 2
    seed: int = 0
    include_heldout: bool = False
    workers: int = 2
    target_s: float = 20.0
    max_s: float = 25.0
    only: list[str] | None = None
    render: RenderProfile = field(default_factory=lambda: profile("demo"))

    def key(self) -> dict:
        """What makes two builds produce the same corpus (workers do not)."""
        key = {"format": FORMAT_VERSION, "size": self.size, "variants": self.variants, "seed": self.seed,
               "include_heldout": self.include_heldout, "target_s": self.target_s, "max_s": self.max_s}
        if self.only is not None:
            key["only"] = self.only
        if self.render.name != "demo" or self.render != profile("demo"):
            key["render"] = self.render.key()  # demo corpora keep the key they always had
        return key


@dataclass
class BuildReport:
    """What a build did."""

    out: Path
    works: int = 0
    tracks: int = 0
    queries: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    reused: bool = False

    def summary(self) -> str:
        return (f"{self.works} works, {self.tracks} tracks, {self.queries} queries, {len(self.skipped)} skipped "
                f"in {self.seconds:.1f} s -> {self.out}")


def key_name(tonic_pc: int, mode: str) -> tuple[str, str]:
    """``(tonic, "Bb minor")`` in mir_eval's key format."""
    tonic = _PC_NAMES[tonic_pc % 12]
    return tonic, f"{tonic} {mode}"


def tempo_class(bpm: float, meter: str) -> str:
    """slow / medium / fast from the felt beat rate (compound meters beat in dotted quarters)."""
    num, _, den = meter.partition("/")
    beat = bpm
    if den == "8" and num in ("6", "9", "12"):
        beat = bpm * 2 / 3
    elif den == "2" or meter in ("2/2",):
        beat = bpm / 2
    return "slow" if beat < 76 else ("fast" if beat > 132 else "medium")


def _pool_kind(labels: dict, n_parts: int) -> str:
    if labels.get("vocal"):
        return "vocal"
    if labels["form"] == "string quartet":
        return "quartet"
    if labels["era"] == "folk" or n_parts == 1:
        return "tune"
    if labels["natural"] in ("piano", "harpsichord"):
        return "keyboard"
    return "other"


def _seed_int(*parts) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little")


def build_work(ref_path: str, ref_number: int | None, out: str, opts: dict) -> dict:
    """Parse, render and describe one work; write its audio and its record. Runs in a worker process.

    Returns the record: ``{"status": "ok", "tracks": [...], "queries": [...], "relation": {...}}``
    or ``{"status": "skipped", "reason": ...}``.
    """
    from sapphire_core.cache import atomic_write_bytes
    from sapphire_core.corpus import hums, render
    from sapphire_core.corpus.works import WorkRef, parse_work, score_info

    ref = WorkRef(ref_path, ref_number)
    out_dir = Path(out)
    record_path = out_dir / ".build" / "works" / f"{ref.work_id}.json"
    if record_path.is_file():
        return json.loads(record_path.read_text(encoding="utf-8"))
    seed = opts["seed"]

    def finish(rec: dict) -> dict:
        rec = {"work_id": ref.work_id, "source_path": ref.path, "number": ref.number, **rec}
        text = json.dumps(rec, ensure_ascii=False)
        atomic_write_bytes(record_path, text.encode("utf-8"))
        return json.loads(text)  # exactly what a resumed build reads back (same key order and floats)

    try:
        with warnings.catch_warnings():
            # music21 warns about every overfull measure of old editions; skipped works are reported.
            warnings.simplefilter("ignore")
            info = score_info(parse_work(ref), ref, target_s=opts["target_s"], max_s=opts["max_s"])
    except Exception as exc:  # noqa: BLE001 - music21 raises many kinds; a bad score is skipped, not fatal
        return finish({"status": "skipped", "reason": f"parse: {type(exc).__name__}: {str(exc)[:200]}"})
    labels = info.labels
    if labels.get("vocal") and not info.lyrics:
        if opts["size"] != "full":
            return finish({"status": "skipped", "reason": "vocal work without lyrics in the score"})
        labels = {**labels, "vocal": False}
    duration_s = info.end_q * 60.0 / info.bpm
    if duration_s < 6.0:
        return finish({"status": "skipped", "reason": f"too short ({duration_s:.1f} s)"})

    tracks, rendered = [], {}
    prof = RenderProfile(**{k: tuple(v) if isinstance(v, list) else v for k, v in opts["render"].items()})
    pool = list(prof.plans) if prof.plans is not None else VARIANT_POOLS[_pool_kind(labels, info.n_parts)]
    used_plans: list[str] = []
    plans = []
    for v in range(opts["variants"]):
        vid = f"v{v}"
        rng = random.Random(f"{seed}:{ref.work_id}:{vid}")
        if v == 0 and prof.reference_v0:
            plan_name, transpose, scale = labels["natural"], 0, 1.0
            effects = render.choose_effects(rng, light=True)
        else:
            choices = [p for p in pool if p not in used_plans] or pool
            plan_name = rng.choice(choices)
            transpose, scale = (rng.choice(prof.transpose), prof.draw_tempo(rng)) if v else (0, 1.0)
            effects = render.choose_effects(rng)
        # Drawn last, and only when there is a choice, so single-font profiles keep their old draws.
        font = rng.choice(prof.soundfonts) if len(prof.soundfonts) > 1 else prof.soundfonts[0]
        used_plans.append(plan_name)
        plan = render.make_instrumentation(plan_name, info.n_parts)
        sec = 60.0 / (info.bpm * scale)
        notes = []
        for o, d, p, k in info.notes:
            p += transpose
            # Keep pitches in the soundfont's playable range (octave-fold the rare outlier).
            p = p + 12 if p < 21 else (p - 12 if p > 108 else p)
            notes.append(render.Note(o * sec, d * sec, p, part=k))
        plans.append((vid, plan, transpose, scale, effects, notes, font))
    audios: dict[str, np.ndarray] = {}
    try:
        # One FluidSynth run per soundfont: loading a font costs more than rendering 20 s with it.
        for font in dict.fromkeys(p[-1] for p in plans):
            group = [p for p in plans if p[-1] == font]
            out_audio = render.synthesize_many([(p[5], p[1].programs) for p in group], sr=render.SAMPLE_RATE,
                                               soundfont=font)
            audios.update({p[0]: a for p, a in zip(group, out_audio)})
    except render.RenderError as exc:
        # Not recorded: a FluidSynth failure may be transient (killed, disk full); a resume retries it.
        return {"work_id": ref.work_id, "source_path": ref.path, "number": ref.number, "status": "skipped",
                "reason": f"render: {exc}"}
    for vid, plan, transpose, scale, effects, notes, font in plans:
        audio = audios[vid]
        bpm = info.bpm * scale
        audio = render.apply_effects(audio, effects, sr=render.SAMPLE_RATE, seed=_seed_int(seed, ref.work_id, vid))
        track_id = f"{ref.work_id}__{vid}"
        rel = f"audio/{track_id}.flac"
        render.write_audio(out_dir / rel, audio, sr=render.SAMPLE_RATE)
        rendered[vid] = (rel, audio)
        tonic, key = key_name(info.tonic_pc + transpose, info.mode)
        melody = sorted(
            [round(n.onset, 4), round(n.duration, 4), n.pitch] for n in notes if n.part == info.melody_part
        )
        track = {
            "id": track_id, "audio": rel, "work_id": ref.work_id, "variant_id": vid,
            "title": info.title or ref.work_id, "collection": labels["collection"], "source_path": ref.path,
            "tune_number": ref.number, "composer": labels["composer"], "era": labels["era"],
            "form": labels["form"], "key": key, "tonic": tonic, "mode": info.mode, "meter": info.meter,
            "tempo_bpm": round(bpm, 3), "tempo_class": tempo_class(bpm, info.meter), "transpose": transpose,
            "tempo_scale": scale, "instrumentation": plan.program_names, "instrument_plan": plan.name,
            "instrument_family": plan.family, "effects": effects, "vocal": bool(labels.get("vocal")),
            "soundfont": font, "render_profile": prof.name,
            "duration": round(len(audio) / render.SAMPLE_RATE, 4), "n_parts": info.n_parts, "melody": melody,
        }
        if labels.get("vocal") and info.lyrics:
            track.update(lyrics=info.lyrics, language=info.language, lyrics_source=info.lyrics_source)
        tracks.append(track)

    queries = []
    hum_rng_seed = _seed_int(seed, ref.work_id, "hum")
    try:
        hum = hums.synthesize_hum(tracks[0]["melody"], seed=hum_rng_seed, sr=render.SAMPLE_RATE)
        rel = f"hums/{ref.work_id}__hum.wav"
        render.write_audio(out_dir / rel, hum.audio, sr=hum.sr)
        queries.append({"id": f"{ref.work_id}__hum", "kind": "hum", "audio": rel, "work_id": ref.work_id,
                        "source_track": None, "offset": round(hum.offset, 4), "duration": round(hum.duration, 4),
                        "transpose": hum.transpose, "tempo_scale": hum.tempo_scale})
    except ValueError:
        pass
    if len(tracks) > 1:
        rng = random.Random(f"{seed}:{ref.work_id}:excerpt")
        src = tracks[rng.randrange(len(tracks))]
        rel_src, audio = rendered[src["variant_id"]]
        total = len(audio) / render.SAMPLE_RATE
        for seconds in EXCERPT_SECONDS:
            if total < seconds + 0.5:
                continue
            offset = rng.uniform(0.0, total - seconds)
            a, b = int(offset * render.SAMPLE_RATE), int((offset + seconds) * render.SAMPLE_RATE)
            clip = render.normalize_peak(render._fade_out(audio[a:b], int(0.05 * render.SAMPLE_RATE)))
            qid = f"{ref.work_id}__x{seconds:g}"
            rel = f"excerpts/{qid}.flac"
            render.write_audio(out_dir / rel, clip, sr=render.SAMPLE_RATE)
            queries.append({"id": qid, "kind": "excerpt", "audio": rel, "work_id": ref.work_id,
                            "source_track": src["id"], "seconds": seconds, "offset": round(a / render.SAMPLE_RATE, 4),
                            "duration": round((b - a) / render.SAMPLE_RATE, 4), "transpose": 0, "tempo_scale": 1.0})
    t0 = tracks[0]
    relation = {"work_id": ref.work_id, "tracks": [t["id"] for t in tracks], "labels": {
        "era": labels["era"], "composer": labels["composer"], "form": labels["form"], "mode": info.mode,
        "key": t0["key"], "meter": info.meter, "instrument_family": t0["instrument_family"],
        "tempo_class": t0["tempo_class"], "collection": labels["collection"]}}
    return finish({"status": "ok", "tracks": tracks, "queries": queries, "relation": relation})


def _init_worker() -> None:
    # Keep numeric libraries single-threaded: the pool already uses every core it is given.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def build_corpus(
    out: str | Path,
    *,
    size: str = "small",
    variants: int = 2,
    seed: int = 0,
    workers: int = 2,
    include_heldout: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    only: list[str] | None = None,
    max_works: int | None = None,
    render: RenderProfile | None = None,
) -> BuildReport:
    """Build (or finish building) a rendered corpus in ``out``.

    Parameters
    ----------
    out : path
        Output folder; created when missing. A folder holding a finished build with the same
        parameters is reused as is.
    size : {"small", "medium", "full"}
        ~80, ~600 or all works.
    variants : int
        Renderings per work (v0 is the reference rendering: natural instruments, score tempo and key).
    seed : int
        Seeds the work selection and every random choice.
    workers : int
        Worker processes (spawned, so a script calling this with ``workers > 1`` needs the usual
        ``if __name__ == "__main__":`` guard).
    include_heldout : bool
        Build ONLY the held-out works (an evaluation corpus).
    on_progress : callable, optional
        ``on_progress(done, total)`` after each work.
    only : list of str, optional
        Build just these works (corpus paths like ``"bach/bwv10.7.mxl"`` or work ids), still never a
        held-out one unless ``include_heldout``; quotas do not apply. For tests and spot rebuilds.
    max_works : int, optional
        Stop after this many candidates (tests use it to interrupt a build).
    render : RenderProfile, optional
        Soundfonts, instrument plans, tempo and key offsets of the variants
        (:mod:`sapphire_core.corpus.profiles`) [default: the ``demo`` profile].

    Returns
    -------
    BuildReport

    Raises
    ------
    CorpusError
        When ``out`` holds a finished build made with other parameters.
    RenderError
        When FluidSynth or the soundfont is missing, or some works failed to render (the build
        stays unfinished and resumable).
    """
    from sapphire_core.corpus.works import QUOTAS, WorkRef, candidate_works

    t_start = time.perf_counter()
    out = Path(out)
    opts = BuildOptions(size=size, variants=variants, seed=seed, include_heldout=include_heldout, workers=workers,
                        only=sorted(only) if only is not None else None, render=render or profile("demo"))
    if variants < 1:
        raise CorpusError(f"variants must be >= 1, got {variants}")
    marker = out / COMPLETE_MARKER
    if marker.is_file():
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done.get("params") == opts.key():
            return BuildReport(out=out, works=done.get("works", 0), tracks=done.get("tracks", 0),
                               queries=done.get("queries", 0), reused=True)
        raise CorpusError(
            f"{out} holds a finished corpus built with {done.get('params')}; build into a new folder "
            f"or delete {out} to rebuild with {opts.key()}"
        )
    from sapphire_core.corpus import render

    if not render.fluidsynth_available(opts.render.soundfonts):
        packages = " ".join(render.SOUNDFONTS[n][1] for n in opts.render.soundfonts)
        raise render.RenderError(
            "cannot render the corpus: the fluidsynth command or a soundfont is missing; install the Debian "
            f"packages with 'sudo apt-get install fluidsynth {packages}' (or 'make install')"
        )
    out.mkdir(parents=True, exist_ok=True)
    params_path = out / ".build" / "params.json"
    if params_path.is_file() and json.loads(params_path.read_text()) != opts.key():
        raise CorpusError(f"{out} holds a partial build with other parameters ({params_path}); "
                          "delete the folder or use the same --size/--variants/--seed")
    from sapphire_core.cache import atomic_write_bytes

    atomic_write_bytes(params_path, json.dumps(opts.key(), sort_keys=True).encode())
    if only is not None:
        wanted = set(only)
        refs = [r for r in candidate_works("full", seed=seed, include_heldout=include_heldout)
                if r.path in wanted or r.work_id in wanted]
        quotas = None
    else:
        refs = candidate_works(size, seed=seed, include_heldout=include_heldout)
        quotas = None if (include_heldout or size == "full") else dict(QUOTAS[size])
        if quotas is not None and size != "small":
            for r in refs:  # collections without a quota contribute every candidate
                quotas.setdefault(r.collection, sum(1 for x in refs if x.collection == r.collection))
    order = {r: i for i, r in enumerate(refs)}
    # Per collection: a queue of candidates; start `quota` of them, and one spare per skipped work.
    queues: dict[str, list[WorkRef]] = {}
    for r in refs:
        queues.setdefault(r.collection, []).append(r)
    need = {c: (len(q) if quotas is None else min(quotas.get(c, 0), len(q))) for c, q in queues.items()}
    pending: list[WorkRef] = []
    for c, q in queues.items():
        pending.extend(q[: need[c]])
        del q[: need[c]]
    pending.sort(key=order.__getitem__)
    if max_works is not None:
        pending = pending[:max_works]
    results: dict[WorkRef, dict] = {}
    total = sum(need.values())
    opts_d = {"seed": seed, "variants": variants, "size": size, "target_s": opts.target_s, "max_s": opts.max_s,
              "render": opts.render.key()}

    def handle(ref: WorkRef, rec: dict) -> list[WorkRef]:
        results[ref] = rec
        if on_progress:
            on_progress(sum(1 for r in results.values() if r["status"] == "ok"), total)
        if rec["status"] != "ok" and queues.get(ref.collection) and max_works is None:
            return [queues[ref.collection].pop(0)]
        return []

    if workers <= 1:
        while pending:
            ref = pending.pop(0)
            pending.extend(handle(ref, build_work(ref.path, ref.number, str(out), opts_d)))
    else:
        import multiprocessing as mp

        # A SIGKILLed build must not leave its workers rendering forever: they die with it.
        from sapphire_core.lifetime import guarded_initializer

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                 initializer=guarded_initializer,
                                 initargs=(os.getpid(), f"{__name__}:_init_worker")) as pool:
            futures = {}
            while pending or futures:
                while pending and len(futures) < workers * 2:
                    ref = pending.pop(0)
                    futures[pool.submit(build_work, ref.path, ref.number, str(out), opts_d)] = ref
                finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for fut in finished:
                    ref = futures.pop(fut)
                    pending.extend(handle(ref, fut.result()))
    if max_works is not None:
        return BuildReport(out=out, works=sum(1 for r in results.values() if r["status"] == "ok"),
                           seconds=time.perf_counter() - t_start)
    return _assemble(out, results, order, quotas, opts, t_start)


def _assemble(out: Path, results: dict, order: dict, quotas: dict | None, opts: BuildOptions,
              t_start: float) -> BuildReport:
    """Write tracks/queries/relations in candidate order (first ``quota`` successes per collection)."""
    from sapphire_core.cache import atomic_write_bytes

    taken: dict[str, int] = {}
    tracks, queries, relations, skipped = [], [], [], []
    for ref in sorted(results, key=order.__getitem__):
        rec = results[ref]
        if rec["status"] != "ok":
            skipped.append((rec["work_id"], rec["reason"]))
            continue
        if quotas is not None and taken.get(ref.collection, 0) >= quotas.get(ref.collection, 0):
            continue
        taken[ref.collection] = taken.get(ref.collection, 0) + 1
        tracks.extend(rec["tracks"])
        queries.extend(rec["queries"])
        relations.append(rec["relation"])

    def jsonl(rows: list[dict]) -> bytes:
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")

    atomic_write_bytes(out / "tracks.jsonl", jsonl(tracks))
    atomic_write_bytes(out / "queries.jsonl", jsonl(queries))
    atomic_write_bytes(out / "relations.jsonl", jsonl(relations))
    languages = sorted({t["language"] for t in tracks if t.get("language")})
    report = {
        "params": opts.key(), "works": len(relations), "tracks": len(tracks), "queries": len(queries),
        "hums": sum(q["kind"] == "hum" for q in queries), "excerpts": sum(q["kind"] == "excerpt" for q in queries),
        "vocal_works_with_lyrics": len({t["work_id"] for t in tracks if t.get("lyrics")}), "languages": languages,
        "collections": {c: n for c, n in sorted(taken.items())}, "skipped": [list(s) for s in skipped],
    }
    atomic_write_bytes(out / "build_report.json", json.dumps(report, indent=1, ensure_ascii=False).encode("utf-8"))
    failed = [(w, r) for w, r in skipped if r.startswith("render:")]
    if failed:
        from sapphire_core.corpus.render import RenderError

        raise RenderError(f"{len(failed)} works failed to render (first: {failed[0][0]}: {failed[0][1]}); "
                          f"the build in {out} is resumable: run the same command again to retry them")
    # The marker goes last: its presence means every file above is complete.
    marker = {k: report[k] for k in ("params", "works", "tracks", "queries")}
    atomic_write_bytes(out / COMPLETE_MARKER, json.dumps(marker, sort_keys=True).encode())
    return BuildReport(out=out, works=len(relations), tracks=len(tracks), queries=len(queries), skipped=skipped,
                       seconds=time.perf_counter() - t_start)


def melody_array(track: dict) -> np.ndarray:
    """A track's melody as an ``(n, 3)`` float array of (onset s, duration s, MIDI pitch)."""
    return np.asarray(track.get("melody") or [], dtype=np.float64).reshape(-1, 3)
