"""Run feature extractors over a corpus into the cache, one track at a time, losing nothing on failure.

A track that fails (bad audio, an extractor error) is reported and written to
``failures.jsonl``; the others go on. Entries already in the cache are skipped, so a killed
run resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sapphire_core.audio import SampleStats, audio_blocks, file_warnings, sample_warnings
from sapphire_core.cache import FeatureCache, content_hash
from sapphire_core.collate import feature_key
from sapphire_core.context import TrackContext, track_context
from sapphire_core.data import LineProblem, Track, check_lyrics_file
from sapphire_core.errors import AudioDecodeError, ExtractionError, SapphireError
from sapphire_core.extractor import BlockConsumer, FeatureExtractor


@dataclass
class TrackResult:
    """What happened to one track: how many entries were computed or already cached, or the error."""

    track_id: str
    computed: int = 0
    cached: int = 0
    error: str | None = None
    error_type: str | None = None
    audio: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class ExtractionReport:
    """Totals of an extraction run."""

    results: list[TrackResult] = field(default_factory=list)
    seconds: float = 0.0
    skipped: list[LineProblem] = field(default_factory=list)

    @property
    def failures(self) -> list[TrackResult]:
        return [r for r in self.results if r.error is not None]

    @property
    def succeeded(self) -> int:
        return sum(r.error is None for r in self.results)

    def summary(self) -> str:
        computed = sum(r.computed for r in self.results)
        cached = sum(r.cached for r in self.results)
        warned = sum(bool(r.warnings) for r in self.results)
        return (f"{self.succeeded}/{len(self.results)} tracks ok ({computed} entries computed, {cached} cached), "
                f"{len(self.failures)} failed, "
                + (f"{len(self.skipped)} tracks.jsonl lines skipped, " if self.skipped else "")
                + (f"{warned} with warnings, " if warned else "")
                + f"{self.seconds:.1f}s")


def unique_extractors(extractors: Iterable[FeatureExtractor]) -> list[FeatureExtractor]:
    """Drop extractors with the same cache identity (two modalities may share one)."""
    seen, out = set(), []
    for ex in extractors:
        if ex.cache_id() not in seen:
            seen.add(ex.cache_id())
            out.append(ex)
    return out


#: Tracks whose header declares more seconds than this are decoded block by block for the extractors that
#: can take blocks (:meth:`~sapphire_core.extractor.FeatureExtractor.block_consumer`). Below it the whole
#: track (at most ~53 MB at 22.05 kHz) costs less than the fixed cost of a process and keeps every
#: extractor on its whole-track path, bit for bit as before.
BLOCK_FED_SECONDS = 600.0


def extract_track(track: Track, extractors: list[FeatureExtractor], cache: FeatureCache | None = None, *,
                  context: TrackContext | None = None,
                  block_fed_seconds: float | None = BLOCK_FED_SECONDS
                  ) -> tuple[dict[str, dict[str, np.ndarray]], TrackResult]:
    """Features of one track from every extractor, from the cache or computed (and then cached).

    The extractors share one :class:`~sapphire_core.context.TrackContext` (given, or made for the
    track): audio is decoded once per sample rate, and intermediates several extractors need are
    computed once. A track longer than ``block_fed_seconds`` is decoded block by block instead, once
    per rate, when every extractor to run at that rate takes blocks
    (:meth:`~sapphire_core.extractor.FeatureExtractor.block_consumer`): memory is then a few
    minutes of audio plus the frame-wise features, not the track. ``None`` never does (nor does a
    caller's ``context``, which keeps its samples for the caller). Returns
    ``({extractor name: features}, result)``.

    Raises
    ------
    SapphireError
        Bad audio (naming the file) or :class:`ExtractionError` wrapping an extractor's failure.
    """
    result = TrackResult(track.id, audio=None if track.audio is None else str(track.audio))
    own_context = context is None  # a caller's context keeps its samples for the caller
    context = context or TrackContext(track)
    found: dict[str, dict[str, np.ndarray]] = {}
    # Input checks first, so a bad file fails with its reason (not an OSError from hashing it), and a
    # missing lyrics file is named even when the cache holds "no lyrics" under the same key.
    if track.lyrics_path is not None:
        check_lyrics_file(track.lyrics_path)
    declared = decoded = None
    if track.audio is not None and any(ex.needs_audio for ex in extractors):
        declared, result.warnings = file_warnings(track.audio)
    keys: dict[str, str] = {}
    for ex in extractors:
        try:
            keys[ex.name] = content_hash(track, ex)
        except OSError as exc:
            raise AudioDecodeError(track.audio, f"cannot be read ({exc.strerror or exc})") from None
        hit = cache.load(ex, keys[ex.name]) if cache is not None else None
        if hit is not None:
            found[ex.name] = hit
            result.cached += 1
    missing = [ex for ex in extractors if ex.name not in found]
    computed: dict[str, dict[str, np.ndarray]] = {}
    if own_context and declared is not None and block_fed_seconds is not None and declared > block_fed_seconds:
        for sr, consumers in _block_consumers(missing, track, context, declared).items():
            stats = _feed_blocks(track, sr, consumers, context)
            for name, consumer in consumers.items():
                computed[name] = _finished(track, name, consumer, context)
            if decoded is None:
                decoded = stats.warnings(sr=sr, declared_seconds=declared)
    # The last extractor decoding each rate whole: after it, the context drops that rate's samples.
    last_at = {ex.sample_rate: i for i, ex in enumerate(missing) if ex.needs_audio and ex.name not in computed}
    for i, ex in enumerate(missing):
        if ex.name in computed:
            feats = computed.pop(ex.name)
        else:
            audio = context.audio(ex.sample_rate) if ex.needs_audio else None
            if audio is not None and decoded is None:  # checked now: the samples may be released below
                decoded = sample_warnings(audio, sr=ex.sample_rate, declared_seconds=declared)
            try:
                with track_context(context):
                    feats = ex.run(audio, track, context)
            except SapphireError:
                raise
            except Exception as exc:
                raise ExtractionError(f"{track.audio or track.id}: extractor {ex.name!r} failed: {exc!r}") from exc
            finally:
                del audio
            if ex.needs_audio and last_at[ex.sample_rate] == i and own_context:
                context.release(ex.sample_rate)
        feats = {k: np.asarray(v) for k, v in feats.items()}
        bad = [k for k, v in feats.items() if v.dtype.kind == "f" and not np.all(np.isfinite(v))]
        if bad:
            raise ExtractionError(f"{track.audio or track.id}: extractor {ex.name!r} produced NaN/inf in {bad}")
        if cache is not None:
            cache.save(ex, keys[ex.name], feats)
        found[ex.name] = feats
        result.computed += 1
    out = {ex.name: found[ex.name] for ex in extractors}  # in the extractors' order, cached or not
    # Sample-level checks run only when the audio is decoded anyway; the cache keeps them for runs that do
    # not decode. The first record stays: another extractor's decode (another rate) could shift the numbers.
    stored = stored_warnings(cache, track) if cache is not None and declared is not None else None
    if stored is not None:
        result.warnings = stored
    elif decoded is not None:
        result.warnings += decoded
        if cache is not None and result.warnings:  # none recorded reads as none
            _save_warnings(cache, track, result.warnings)
    return out, result


def _block_consumers(extractors: list[FeatureExtractor], track: Track, context: TrackContext,
                     declared_seconds: float) -> dict[int, dict[str, BlockConsumer]]:
    """``{rate: {extractor name: consumer}}`` for the rates at which every extractor in ``extractors`` takes
    blocks (a rate that one of them needs whole is decoded whole for all: the samples are there anyway)."""
    rates = sorted({ex.sample_rate for ex in extractors if ex.needs_audio})
    out: dict[int, dict[str, BlockConsumer]] = {}
    for sr in rates:
        consumers = {}
        for ex in (e for e in extractors if e.needs_audio and e.sample_rate == sr):
            with track_context(context):
                consumer = ex.block_consumer(track, context, expected_samples=int(declared_seconds * sr + 0.5))
            if consumer is None:
                break
            consumers[ex.name] = consumer
        else:
            out[sr] = consumers
    return out


def _feed_blocks(track: Track, sr: int, consumers: dict[str, BlockConsumer], context: TrackContext) -> SampleStats:
    """Decode ``track`` at ``sr`` block by block into every consumer in turn (one decode for all, and each
    block's segment intermediates are shared through the context while it is fresh); returns the sample
    statistics for the input checks."""
    stats = SampleStats()
    for block in audio_blocks(track.audio, sr=sr):
        stats.add(block)
        for name, consumer in consumers.items():
            with _named_failure(track, name), track_context(context):
                consumer.feed(block)
    return stats


def _finished(track: Track, name: str, consumer: BlockConsumer, context: TrackContext) -> dict[str, np.ndarray]:
    with _named_failure(track, name), track_context(context):
        return consumer.finish()


@contextmanager
def _named_failure(track: Track, name: str) -> Iterator[None]:
    """Let SapphireErrors through; wrap anything else as an ExtractionError naming the file and extractor."""
    try:
        yield
    except SapphireError:
        raise
    except Exception as exc:
        raise ExtractionError(f"{track.audio or track.id}: extractor {name!r} failed: {exc!r}") from exc


#: Input-check warnings of an audio file live in the feature cache under this name, keyed by the file's
#: content like the features, so a run served from the cache (and ``sapphire index``) reports them too.
WARNINGS_CACHE_DIR = "_input_checks"


def _warnings_file(cache: FeatureCache, track: Track) -> Path:
    from sapphire_core.cache import file_hash

    key = file_hash(track.audio)
    return Path(cache.root) / WARNINGS_CACHE_DIR / key[:2] / f"{key}.json"


def _save_warnings(cache: FeatureCache, track: Track, warnings: list[str]) -> None:
    from sapphire_core.io import atomic_write_bytes

    atomic_write_bytes(_warnings_file(cache, track), json.dumps(warnings).encode("utf-8"))


def stored_warnings(cache: FeatureCache, track: Track) -> list[str] | None:
    """The input-check warnings recorded when ``track``'s audio was last decoded into ``cache``, or
    ``None`` when it never was (or the record is unreadable)."""
    if track.audio is None:
        return None
    try:
        value = json.loads(_warnings_file(cache, track).read_text(encoding="utf-8"))
    except (OSError, ValueError, SapphireError):
        return None
    return [str(w) for w in value] if isinstance(value, list) else None


def flatten_features(per_extractor: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``{extractor: {feature: a}}`` -> ``{"extractor.feature": a}`` (the keys encoders read)."""
    return {feature_key(ex, k): v for ex, feats in per_extractor.items() for k, v in feats.items()}


def default_workers() -> int:
    """Worker processes to use when the caller does not say: ``$SAPPHIRE_WORKERS`` or the CPU count."""
    import os

    return max(1, int(os.environ.get("SAPPHIRE_WORKERS", os.cpu_count() or 1)))


#: Thread-pool variables a worker process reads when numpy/torch load: set for the pool's lifetime
#: (a spawned process inherits them), unless the user set them.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def _init_worker(threads: int) -> None:
    # Each process gets its share of the cores: N processes x all-core thread pools thrash.
    import torch

    torch.set_num_threads(threads)


@contextmanager
def _thread_caps(threads: int) -> Iterator[None]:
    """Cap the BLAS/OpenMP pools of processes spawned inside the block to ``threads`` each
    (``torch.set_num_threads`` alone leaves numpy's and numba's pools at every core)."""
    import os

    added = {k: str(threads) for k in THREAD_ENV_VARS if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


@contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes, each capped to its share of the cores (torch and the
    BLAS/OpenMP pools), that die with this process: the pool of ``extract --workers`` and of the index
    extras."""
    import multiprocessing as mp
    import os

    # A SIGKILLed parent must not leave its workers running forever (they die with it).
    from sapphire_core.lifetime import guarded_initializer

    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn, not fork: forked torch/numba thread pools can deadlock.
    with _thread_caps(threads), ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                                    initializer=guarded_initializer,
                                                    initargs=(os.getpid(), f"{__name__}:_init_worker",
                                                              threads)) as pool:
        yield pool


def _run_one(track: Track, extractors: list[FeatureExtractor], cache_root: str | None) -> TrackResult:
    cache = FeatureCache(cache_root) if cache_root else None
    try:
        return extract_track(track, extractors, cache)[1]
    except SapphireError as exc:
        return TrackResult(track.id, error=str(exc), error_type=type(exc).__name__,
                           audio=None if track.audio is None else str(track.audio))
    except Exception as exc:  # an unexpected bug in one track must not stop the batch
        # One line for the user (failures.jsonl, the summary); the traceback goes to the debug log.
        logging.getLogger(__name__).debug("track %s failed:\n%s", track.id, traceback.format_exc())
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return TrackResult(track.id, error=f"{track.audio or track.id}: unexpected {type(exc).__name__}: {reason}",
                           error_type=type(exc).__name__, audio=None if track.audio is None else str(track.audio))


def extract_corpus(tracks: list[Track], extractors: list[FeatureExtractor], cache: FeatureCache, *,
                   workers: int = 1, failures_path: str | Path | None = None,
                   on_progress: Callable[[TrackResult], None] | None = None,
                   skipped: list[LineProblem] | None = None,
                   pool: Executor | None = None) -> ExtractionReport:
    """Extract every track into ``cache``; failures go to ``failures_path`` (JSON lines), the rest go on.

    Parameters
    ----------
    tracks : list of Track
    extractors : list of FeatureExtractor
    cache : FeatureCache
    workers : int
        Processes to use (1 runs in this process).
    failures_path : path, optional
        Where to write one JSON object per failed track and per skipped ``tracks.jsonl`` line
        (rewritten each run); warnings about suspicious audio go to ``warnings.jsonl`` beside it.
    on_progress : callable, optional
        Called with each track's result as it finishes (progress bars).
    skipped : list of LineProblem, optional
        The corpus lines that were skipped (:attr:`sapphire_core.data.Corpus.problems`), reported with the failures.
    pool : Executor, optional
        A running :func:`worker_pool` to use instead of starting one (``workers`` is then ignored): a caller
        with several batches starts its processes, and loads their models, once.
    """
    start = time.perf_counter()
    extractors = unique_extractors(extractors)
    report = ExtractionReport(skipped=list(skipped or []))
    if workers <= 1 and pool is None:
        for track in tracks:
            r = _run_one(track, extractors, str(cache.root))
            report.results.append(r)
            if on_progress:
                on_progress(r)
    else:
        with nullcontext(pool) if pool is not None else worker_pool(workers) as running:
            futures = [running.submit(_run_one, t, extractors, str(cache.root)) for t in tracks]
            for fut in as_completed(futures):
                r = fut.result()
                report.results.append(r)
                if on_progress:
                    on_progress(r)
        order = {t.id: i for i, t in enumerate(tracks)}
        report.results.sort(key=lambda r: order[r.track_id])
    report.seconds = time.perf_counter() - start
    if failures_path is not None:
        write_report_files(failures_path, report)
    return report


def write_report_files(failures_path: str | Path, report: ExtractionReport) -> None:
    """Write ``failures.jsonl`` (skipped ``tracks.jsonl`` lines, then failed tracks) and ``warnings.jsonl``
    beside it, each rewritten whole (atomically) so it describes this run."""
    from sapphire_core.io import atomic_write_bytes

    lines = "".join(json.dumps(p.to_json()) + "\n" for p in report.skipped)
    lines += "".join(json.dumps({"id": r.track_id, "audio": r.audio, "error_type": r.error_type,
                                 "error": r.error}) + "\n" for r in report.failures)
    atomic_write_bytes(failures_path, lines.encode())
    write_warnings(Path(failures_path).with_name(WARNINGS_FILE),
                   {r.track_id: (r.audio, r.warnings) for r in report.results if r.error is None})


#: Beside ``failures.jsonl``: one line per track whose audio looks suspicious but was processed.
WARNINGS_FILE = "warnings.jsonl"


def write_warnings(path: str | Path, warnings: dict[str, tuple[str | None, list[str]]]) -> None:
    """Write ``{"id", "audio", "warnings"}`` per track of ``{id: (audio, warnings)}`` that has any."""
    from sapphire_core.io import atomic_write_bytes

    rows = [json.dumps({"id": tid, "audio": audio, "warnings": w}, ensure_ascii=False) + "\n"
            for tid, (audio, w) in warnings.items() if w]
    atomic_write_bytes(path, "".join(rows).encode("utf-8"))
