"""Index extras: per-track data plugins add beside the vectors (``INDEX/extras/<name>``), built by
``sapphire index`` and by evaluation, never by a query."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from sapphire_core.audio import TrackAudio
from sapphire_core.data import Track
from sapphire_core.errors import SapphireError
from sapphire_core.index_extra import IndexExtra, PerTrackExtra
from sapphire_core.layout import extra_dir

log = logging.getLogger(__name__)


def selected_extras(registry, names: bool | Iterable[str] | None = None) -> dict[str, IndexExtra]:
    """The extras to build: ``None`` or ``True`` every installed one, ``False`` none, or those named.

    Raises
    ------
    UnknownComponentError
        For a name no installed plugin provides, listing the installed ones.
    """
    if names is False:
        return {}
    chosen = registry.names("index_extra") if names is None or names is True else list(names)
    return {n: registry.get("index_extra", n)() for n in chosen}


def build_extras(extras: dict[str, IndexExtra], tracks: list[Track], index_dir: str | Path, *,
                 on_progress: Callable[[int], None] | None = None, workers: int = 1,
                 pool: Executor | None = None) -> dict[str, int]:
    """Build each extra for ``tracks`` into ``INDEX/extras/<name>``; returns tracks covered per extra.

    The extras that compute apart from their store
    (:meth:`~sapphire_core.index_extra.PerTrackExtra.computes_apart`) are computed track by track, all
    of a track's entries together (:func:`compute_entries`: its file decoded once per rate for the extras
    declaring one), and inserted in the corpus order, so each store is the one that extra's own
    :meth:`~sapphire_core.index_extra.IndexExtra.build` writes. The others build themselves. A track an
    extra cannot use is left out of it, with a warning giving the reason.

    Parameters
    ----------
    workers : int
        Processes computing the tracks' entries, every extra's in one pool (the pool of
        ``sapphire extract --workers``: one share of the cores each); 1 computes everything in this process.
    pool : Executor, optional
        A running :func:`~sapphire_core.extraction.worker_pool` to use instead of starting one (``workers``
        is then ignored; ``sapphire index`` shares one with the feature extraction).
    """
    apart = {n: e for n, e in extras.items() if isinstance(e, PerTrackExtra) and e.computes_apart()}
    stores = {n: e.open_store(extra_dir(index_dir, n), tracks) for n, e in apart.items()}
    have = {n: e.entries(stores[n]) for n, e in apart.items()}
    # Per track, the extras still lacking its entry (a rerun on an unchanged corpus computes nothing).
    jobs = {t.id: {n: e for n, e in apart.items() if t.id not in have[n]} for t in tracks}
    jobs = {tid: wanted for tid, wanted in jobs.items() if wanted}
    parallel = (workers > 1 or pool is not None) and len(jobs) >= 2  # else not worth starting processes
    if not parallel:
        running = nullcontext()
    elif pool is not None:
        running = nullcontext(pool)
    else:
        from sapphire_core.extraction import worker_pool

        running = worker_pool(workers)
    out: dict[str, int] = {}
    with running as executor:
        # Every track is queued first, so the workers never wait on the builds and inserts below.
        futures = {t.id: executor.submit(compute_entries, jobs[t.id], t) for t in tracks if t.id in jobs} \
            if parallel else {}
        try:
            for name, extra in extras.items():  # built here meanwhile, as the workers compute the others
                if name not in apart:
                    out[name] = extra.build(tracks, extra_dir(index_dir, name), on_progress=on_progress)
            for track in tracks:
                if track.id in futures:
                    entries = futures.pop(track.id).result()
                else:
                    entries = compute_entries(jobs[track.id], track) if track.id in jobs else {}
                _insert(apart, stores, track, entries)
                if on_progress:
                    for _ in apart:
                        on_progress(1)
        except BaseException:
            for future in futures.values():  # a failed build must not compute the rest first
                future.cancel()
            raise
    for name, extra in apart.items():
        extra.save(stores[name], extra_dir(index_dir, name))
        out[name] = len(extra.entries(stores[name]))
    return {name: out[name] for name in extras}


def compute_entries(extras: dict[str, PerTrackExtra], track: Track) -> dict[str, Any]:
    """The entry of ``track`` for each extra (:meth:`~sapphire_core.index_extra.PerTrackExtra.compute`),
    or an :class:`Unusable` with the reason when its audio is unusable for that extra; runs in a worker.

    The extras declaring a :attr:`~sapphire_core.index_extra.PerTrackExtra.sample_rate` read one
    :class:`~sapphire_core.audio.TrackAudio`: the file is decoded once per rate for all of them
    (for tracks up to :data:`~sapphire_core.audio.HOLD_SECONDS`; longer ones stream, once per extra).
    """
    audio = TrackAudio(track.audio, rates=[e.sample_rate for e in extras.values() if e.sample_rate is not None])
    out: dict[str, Any] = {}
    for name, extra in extras.items():
        try:
            out[name] = extra.compute(track) if extra.sample_rate is None else extra.compute(track, audio)
        except SapphireError as exc:
            out[name] = Unusable(str(exc))
    return out


class Unusable:
    """A track whose audio an extra cannot use: the reason (its SapphireError's message)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Unusable({self.reason!r})"


def _insert(extras: dict[str, PerTrackExtra], stores: dict[str, Any], track: Track, entries: dict[str, Any]) -> None:
    """Put ``track``'s computed entries into their stores; warn, once per reason, of the extras left without."""
    left_out: dict[str, list[str]] = {}
    for name, entry in entries.items():
        if isinstance(entry, Unusable):
            left_out.setdefault(entry.reason, []).append(name)
        else:
            extras[name].insert(stores[name], track, entry)
    for reason, names in left_out.items():
        # The embedding pass reports unusable audio too; this names what the extras lack, and why.
        log.warning("track %r left out of the index extras %s: %s", track.id, ", ".join(names), reason)
