"""Train/validation split by work, so no version of a validation work is seen in training
(otherwise version retrieval would be measured on memorised works)."""

from __future__ import annotations

import hashlib

from sapphire_core.data import Track


def work_of(track: Track) -> str:
    """The work a track belongs to (its own id when the corpus gives no ``work_id``)."""
    return track.work_id or track.id


def split_by_work(tracks: list[Track], fraction: float, seed: int) -> tuple[list[Track], list[Track]]:
    """Split tracks into ``(train, val)`` so every work falls entirely on one side.

    Works are ordered by a seeded hash of their id and the first ones go to validation until
    about ``fraction`` of the tracks are there. The assignment of a work depends only on its
    id and the seed, not on the other works, so adding tracks to a corpus moves few works.

    Parameters
    ----------
    tracks : list of Track
    fraction : float
        Share of tracks for validation, in ``[0, 1)``.
    seed : int

    Returns
    -------
    (list of Track, list of Track)
        Training and validation tracks, each in corpus order.

    Raises
    ------
    ValueError
        When ``fraction`` is outside ``[0, 1)``.

    Examples
    --------
    >>> from sapphire_core.data import Track
    >>> ts = [Track(id=f"w{i}__v{j}", work_id=f"w{i}") for i in range(5) for j in range(2)]
    >>> train, val = split_by_work(ts, 0.2, seed=0)
    >>> len(val), {t.work_id for t in val} & {t.work_id for t in train}
    (2, set())
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"validation fraction {fraction} must be in [0, 1)")
    works: dict[str, int] = {}
    for t in tracks:
        works[work_of(t)] = works.get(work_of(t), 0) + 1

    def rank(work: str) -> str:
        return hashlib.sha256(f"{seed}:{work}".encode()).hexdigest()

    target = fraction * len(tracks)
    val_works: set[str] = set()
    count = 0
    for work in sorted(works, key=rank):
        if count >= target or (fraction > 0 and count and count + works[work] > target + 0.5 * works[work]):
            if count >= target:
                break
            continue
        val_works.add(work)
        count += works[work]
    if fraction > 0 and len(val_works) == len(works) and len(works) > 1:
        val_works.discard(sorted(works, key=rank)[-1])  # never leave training empty
    train = [t for t in tracks if work_of(t) not in val_works]
    val = [t for t in tracks if work_of(t) in val_works]
    return train, val
