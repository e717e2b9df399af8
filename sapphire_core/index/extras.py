"""Index extras: per-track data plugins add beside the vectors (``INDEX/extras/<name>``), built by
``sapphire index`` and by evaluation, never by a query."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from sapphire_core.data import Track
from sapphire_core.errors import SapphireError
from sapphire_core.index_extra import IndexExtra, PerTrackExtra
from sapphire_core.layout import extra_dir


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

    Parameters
    ----------
    workers : int
        Processes computing the entries of the extras that compute apart from their store
        (:meth:`~sapphire_core.index_extra.PerTrackExtra.computes_apart`), every extra's tracks in one
        pool (the pool of ``sapphire extract --workers``: one share of the cores each). The entries are
        inserted here in the corpus order whatever order the workers finish in, so the stores are the
        ones one process writes. 1 computes everything in this process.
    pool : Executor, optional
        A running :func:`~sapphire_core.extraction.worker_pool` to use instead of starting one (``workers``
        is then ignored; ``sapphire index`` shares one with the feature extraction).
    """
    apart = {n: e for n, e in extras.items() if isinstance(e, PerTrackExtra) and e.computes_apart()}
    if (workers <= 1 and pool is None) or not apart:
        return {name: extra.build(tracks, extra_dir(index_dir, name), on_progress=on_progress)
                for name, extra in extras.items()}
    from sapphire_core.extraction import worker_pool

    stores = {n: e.open_store(extra_dir(index_dir, n), tracks) for n, e in apart.items()}
    todo = {n: [t for t in tracks if t.id not in e.entries(stores[n])] for n, e in apart.items()}
    out: dict[str, int] = {}
    if sum(map(len, todo.values())) < 2:  # not worth starting processes (a rerun computes nothing)
        futures = {n: [_Done(_compute_entry(apart[n], t)) for t in todo[n]] for n in apart}
        _insert_in_order(extras, tracks, index_dir, stores, todo, futures, out, on_progress)
        return out
    with nullcontext(pool) if pool is not None else worker_pool(workers) as running:
        # Every entry is queued first, extra after extra, so the workers never wait on the inserts below.
        futures = {n: [running.submit(_compute_entry, apart[n], t) for t in todo[n]] for n in apart}
        try:
            _insert_in_order(extras, tracks, index_dir, stores, todo, futures, out, on_progress)
        except BaseException:
            for pending in futures.values():  # a failed build must not compute the rest first
                for future in pending:
                    future.cancel()
            raise
    return out


def _insert_in_order(extras: dict[str, IndexExtra], tracks: list[Track], index_dir: str | Path,
                     stores: dict[str, Any], todo: dict[str, list[Track]], futures: dict[str, list],
                     out: dict[str, int], on_progress: Callable[[int], None] | None) -> None:
    """Build the extras in order into ``out``: those with a store in ``stores`` from the workers' entries
    (``futures``, one per track of ``todo``), inserted in the corpus order; the others here."""
    for name, extra in extras.items():
        folder = extra_dir(index_dir, name)
        if name not in stores:  # built here meanwhile, as the workers compute the others
            out[name] = extra.build(tracks, folder, on_progress=on_progress)
            continue
        store = stores.pop(name)
        for track, future in zip(todo[name], futures.pop(name)):
            entry = future.result()
            if not isinstance(entry, _Unusable):  # the embedding pass already reported unusable audio
                extra.insert(store, track, entry)
            if on_progress:
                on_progress(1)
        if on_progress:
            for _ in range(len(tracks) - len(todo[name])):  # those already in the store
                on_progress(1)
        extra.save(store, folder)
        out[name] = len(extra.entries(store))


class _Done:
    """An entry computed here, read like a worker's future."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


class _Unusable:
    """A track whose audio an extra cannot use (its SapphireError, as a single-process build skips it)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _compute_entry(extra: PerTrackExtra, track: Track) -> Any:
    """One entry, in a worker process."""
    try:
        return extra.compute(track)
    except SapphireError as exc:
        return _Unusable(str(exc))
