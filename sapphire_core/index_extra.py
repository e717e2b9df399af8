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

if TYPE_CHECKING:  # interfaces sit below the corpus format in the layers
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
