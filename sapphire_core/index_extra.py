"""The IndexExtra interface: per-track data a plugin adds to an index folder.

``sapphire index`` builds every installed extra into ``INDEX/extras/<name>/`` beside the
vectors (e.g. the vocal plugin's track melodies for query by humming). A query mode names the
extra it ranks against (:attr:`sapphire_core.query_mode.QueryMode.extra`); the search engine
loads it, and never builds it at query time (without it an audio mode is embedded like audio).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sapphire_core.errors import SapphireError

if TYPE_CHECKING:  # interfaces sit below the corpus format in the layers
    import numpy as np

    from sapphire_core.audio import TrackAudio
    from sapphire_core.data import Track



class IndexExtra(ABC):
    """Per-track data stored in one folder of an index.

    Class attributes
    ----------------
    name : str
        Registry name and folder name (``INDEX/extras/<name>``).
    description : str
        One line for ``sapphire plugins`` and ``sapphire index``'s report.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def build(self, tracks: list[Track], folder: Path, *,
              on_progress: Callable[[int], None] | None = None) -> int:
        """Write the data of ``tracks`` into ``folder``, reusing what an earlier build left there.

        Tracks whose audio cannot be used are left out (the embedding pass reports them).
        ``on_progress(1)`` after each track. Returns how many tracks the extra covers.
        """

    @abstractmethod
    def load(self, folder: Path) -> Any:
        """Read what :meth:`build` wrote (whatever object the plugin's query mode ranks against)."""

    def exists(self, folder: Path) -> bool:
        """Whether :meth:`build` has written ``folder`` (default: it holds any file)."""
        return folder.is_dir() and any(folder.iterdir())


class PerTrackExtra(IndexExtra):
    """An extra whose data is one entry per track, computed from that track alone, in one store.

    :meth:`build` updates the store in place: entries of tracks still in the corpus are kept,
    entries of tracks gone are removed, and only new tracks are computed, so a rerun on an
    unchanged corpus computes nothing. Subclasses say how to make, read, fill and save the store.

    A subclass fills the store either with :meth:`add`, or with :meth:`compute` (the track's entry, from
    its audio alone) and :meth:`insert` (the entry into the store): then ``sapphire index --workers N``
    computes the entries in N processes and inserts them here in the corpus order, so the store is the
    one a single process writes (:func:`sapphire_core.index.extras.build_extras`).

    Class attributes
    ----------------
    filename : str
        The file :meth:`save` writes inside the extra's folder (its presence means "built").
    store_class : type, optional
        A store class with ``track_ids``, ``remove(ids)``, ``save(folder)`` and a ``load(folder)``
        classmethod: when set, only :meth:`add` is left to write; otherwise override the others too.
    sample_rate : int, optional
        The rate (Hz) of the mono samples :meth:`compute` reads. When set, :meth:`compute` is called with a
        :class:`~sapphire_core.audio.TrackAudio` as well, and reads the samples from it: every extra computed for a track reads
        the one decode of its file at that rate, instead of decoding it again.
    """

    filename: ClassVar[str]
    store_class: ClassVar[type | None] = None
    sample_rate: ClassVar[int | None] = None

    def empty(self) -> Any:
        """A new store with no track."""
        return self.store_class()

    def entries(self, store: Any) -> set[str]:
        """The ids of the tracks ``store`` holds."""
        return set(store.track_ids)

    def add(self, store: Any, track: Track) -> None:
        """Compute ``track``'s entry (from its audio) into ``store``; raise SapphireError if unusable.
        Default: :meth:`insert` of :meth:`compute`."""
        self.insert(store, track, self.compute(track))

    def compute(self, track: Track, audio: TrackAudio | None = None) -> Any:
        """``track``'s entry, from the track alone (picklable: it may come from a worker process); raise
        SapphireError if its audio is unusable. Override it with :meth:`insert`, or override :meth:`add`.

        ``audio`` is given to an extra that declares :attr:`sample_rate` (``None`` when called on its own):
        ``audio.blocks(sample_rate)`` then yields the blocks ``audio_blocks(track.audio, sr=sample_rate)``
        would, from a decode the track's other extras share. An extra without :attr:`sample_rate` may
        keep the one-argument signature."""
        raise NotImplementedError(f"{type(self).__name__} overrides neither add() nor compute()/insert()")

    def insert(self, store: Any, track: Track, entry: Any) -> None:
        """Put what :meth:`compute` returned for ``track`` into ``store``."""
        raise NotImplementedError(f"{type(self).__name__} overrides neither add() nor compute()/insert()")

    @classmethod
    def computes_apart(cls) -> bool:
        """Whether entries can be computed away from the store (:meth:`compute` and :meth:`insert` given)."""
        return cls.compute is not PerTrackExtra.compute and cls.insert is not PerTrackExtra.insert

    def remove(self, store: Any, track_ids: list[str]) -> None:
        """Drop the entries of ``track_ids`` from ``store``."""
        store.remove(track_ids)

    def save(self, store: Any, folder: Path) -> None:
        """Write ``store`` into ``folder`` (byte-identical for the same entries)."""
        store.save(folder)

    def load(self, folder: Path) -> Any:
        return self.store_class.load(folder)

    def open_store(self, folder: Path, tracks: list[Track]) -> Any:
        """The store in ``folder`` (a new one when absent or unreadable), without the tracks no longer in ``tracks``."""
        try:
            store = self.load(folder) if self.exists(folder) else self.empty()
        except SapphireError:  # unreadable leftovers: start again rather than fail the index
            store = self.empty()
        wanted = {t.id for t in tracks}
        self.remove(store, sorted(self.entries(store) - wanted))
        return store

    def build(self, tracks: list[Track], folder: Path, *,
              on_progress: Callable[[int], None] | None = None) -> int:
        store = self.open_store(folder, tracks)
        for track in tracks:
            if track.id not in self.entries(store):
                try:
                    self.add(store, track)
                except SapphireError:
                    pass  # the embedding pass already reported unusable audio
            if on_progress:
                on_progress(1)
        self.save(store, folder)
        return len(self.entries(store))

    def exists(self, folder: Path) -> bool:
        return (Path(folder) / self.filename).is_file()
