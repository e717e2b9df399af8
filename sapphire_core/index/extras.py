"""Index extras: per-track data plugins add beside the vectors (``INDEX/extras/<name>``), built by
``sapphire index`` and by evaluation, never by a query."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from sapphire_core.data import Track
from sapphire_core.index_extra import IndexExtra
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
                 on_progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Build each extra for ``tracks`` into ``INDEX/extras/<name>``; returns tracks covered per extra."""
    return {name: extra.build(tracks, extra_dir(index_dir, name), on_progress=on_progress)
            for name, extra in extras.items()}
