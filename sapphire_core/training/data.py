"""Training data: features read once from the feature cache, descriptions and their cached text
embeddings, labels, and a deterministic batch order.

Determinism is what makes a killed run resume without loss: the batch order of an epoch
depends only on ``(seed, epoch)`` and each sample's crop/augmentation only on
``(seed, epoch, sample)``, never on the process, the rank or what ran before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sapphire_core.audio import audio_info
from sapphire_core.cache import FeatureCache
from sapphire_core.data import Track
from sapphire_core.embedding import TrackFeatures, collate_tracks, track_features
from sapphire_core.extractor import FeatureExtractor
from sapphire_core.training.augment import AugmentSettings, make_view
from sapphire_core.training.split import work_of

log = logging.getLogger(__name__)


def time_keys(extractors: dict[str, list[FeatureExtractor]]) -> set[str]:
    """Keys ``"extractor.feature"`` whose last axis is audio time (cropped together)."""
    keys = set()
    for group in extractors.values():
        for ex in group:
            if not ex.needs_audio:
                continue  # e.g. lyrics token sequences: their last axis is not audio time
            for name, shape in ex.output_shapes().items():
                if shape and shape[-1] is None:
                    keys.add(f"{ex.name}.{name}")
    return keys


def track_duration(track: Track) -> float:
    """Seconds of audio, from the metadata or the file header."""
    d = track.metadata.get("duration")
    if isinstance(d, (int, float)) and d > 0:
        return float(d)
    if track.audio is not None:
        try:
            return audio_info(track.audio)[1]
        except Exception:  # crops then simply cover the whole track
            return 0.0
    return 0.0


def load_features(tracks: list[Track], extractors: dict[str, list[FeatureExtractor]], cache: FeatureCache | None, *,
                  workers: int = 1) -> tuple[list[Track], list[TrackFeatures], dict[str, str]]:
    """Features of every track (extracting misses into the cache first); failed tracks are dropped.

    Returns ``(kept tracks, their features, {failed id: message})``.
    """
    from sapphire_core.errors import SapphireError
    from sapphire_core.extraction import extract_corpus

    flat = [e for group in extractors.values() for e in group]
    if cache is not None and workers > 1:
        extract_corpus(tracks, flat, cache, workers=workers)
    kept, feats, failed = [], [], {}
    for t in tracks:
        try:
            feats.append(track_features(t, extractors, cache))
            kept.append(t)
        except SapphireError as exc:
            failed[t.id] = str(exc)
            log.warning("skipping %s: %s", t.id, exc)
    return kept, feats, failed


@dataclass
class TrainingData:
    """Everything the dataset reads, in memory (features are small once extracted)."""

    tracks: list[Track]
    features: list[TrackFeatures]
    labels: dict[str, np.ndarray]
    descriptions: list[list[str]]
    time_keys: set[str]
    durations: np.ndarray
    #: Crop length in frames per time-varying key (:func:`~sapphire_core.training.augment.crop_lengths`).
    crop_frames: dict[str, int] = field(default_factory=dict)
    #: Per track ``(n_descriptions, d)`` frozen text-tower embeddings, or ``None`` (trainable tower / no text).
    text_raw: list[np.ndarray] | None = None
    works: list[str] = field(default_factory=list)
    #: ``label key -> "extractor.output"`` features the losses read as float targets (``Loss.feature_targets``).
    feature_targets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.works:
            self.works = [work_of(t) for t in self.tracks]

    def __len__(self) -> int:
        return len(self.tracks)


def sample_rng(seed: int, epoch: int, index: int, view: int = 0) -> np.random.Generator:
    """The RNG of one sample's view: a pure function of its coordinates."""
    return np.random.default_rng([seed, epoch, index, view])


class ViewDataset(torch.utils.data.Dataset):
    """Item ``(epoch, i)`` -> one or two views of track ``i`` plus its description choice.

    Parameters
    ----------
    data : TrainingData
    augment : AugmentSettings or None
        ``None``: plain crops; otherwise the first view is augmented too.
    two_views : bool
        Also make a second, independently cropped and augmented view (self-supervision).
    seed : int
    """

    def __init__(self, data: TrainingData, *, augment: AugmentSettings | None, two_views: bool, seed: int) -> None:
        self.data, self.augment = data, augment
        self.two_views, self.seed = two_views, seed

    def __len__(self) -> int:
        return len(self.data)

    def _view(self, i: int, epoch: int, view: int) -> TrackFeatures:
        tf = self.data.features[i]
        rng = sample_rng(self.seed, epoch, i, view)
        # All modalities of a view share one crop window: view them as one flat dict, then split back.
        flat = {k: v for feats in tf.by_modality.values() for k, v in feats.items()}
        viewed = make_view(flat, self.data.crop_frames, rng=rng, augment=self.augment)
        by_mod = {m: {k: viewed[k] for k in feats} for m, feats in tf.by_modality.items()}
        return TrackFeatures(tf.track_id, by_mod, dict(tf.present))

    def __getitem__(self, item: tuple[int, int]) -> dict:
        epoch, i = item
        rng = sample_rng(self.seed, epoch, i, 99)
        n_desc = len(self.data.descriptions[i])
        j = int(rng.integers(n_desc)) if n_desc else -1
        out = {"index": i, "view1": self._view(i, epoch, 1), "text_index": j}
        if self.two_views:
            out["view2"] = self._view(i, epoch, 2)
        return out


class Collator:
    """Batch samples into model inputs: collated features, presence masks, labels, texts."""

    def __init__(self, data: TrainingData) -> None:
        self.data = data

    def __call__(self, samples: list[dict]) -> dict:
        idx = [s["index"] for s in samples]
        feats, present = collate_tracks([s["view1"] for s in samples])
        batch = {"index": torch.tensor(idx), "features": feats, "present": present,
                 "labels": {k: torch.from_numpy(v[idx]) for k, v in self.data.labels.items()},
                 "texts": [self.data.descriptions[i][s["text_index"]] if s["text_index"] >= 0 else ""
                           for i, s in zip(idx, samples)]}
        for label, feature in self.data.feature_targets.items():
            values = [next((f[feature] for f in s["view1"].by_modality.values() if feature in f), None)
                      for s in samples]
            found = [v for v in values if v is not None]
            if found:  # float targets; NaN rows = unknown
                blank = np.full(np.shape(found[0]), np.nan, np.float32)
                batch["labels"][label] = torch.from_numpy(np.stack(
                    [np.asarray(v, np.float32) if v is not None else blank for v in values]))
        if self.data.text_raw is not None:
            batch["text_raw"] = torch.from_numpy(np.stack(
                [self.data.text_raw[i][s["text_index"]] for i, s in zip(idx, samples)]).astype(np.float32))
        if "view2" in samples[0]:
            batch["features2"], batch["present2"] = collate_tracks([s["view2"] for s in samples])
        return batch


def epoch_order(works: list[str], *, seed: int, epoch: int) -> np.ndarray:
    """A permutation of the tracks for one epoch with the versions of a work kept next to each other.

    Works are shuffled, and each work's tracks are shuffled within it, so most batches hold
    several versions of a few works: the positives version-contrastive and triplet losses need.
    """
    rng = np.random.default_rng([seed, epoch, 7])
    by_work: dict[str, list[int]] = {}
    for i, w in enumerate(works):
        by_work.setdefault(w, []).append(i)
    names = sorted(by_work)
    order: list[int] = []
    for w in rng.permutation(len(names)):
        members = by_work[names[w]]
        order.extend(members[k] for k in rng.permutation(len(members)))
    return np.asarray(order, dtype=np.int64)


class EpochBatchSampler(torch.utils.data.Sampler):
    """Global batches of ``batch_size`` tracks in :func:`epoch_order`; each rank gets its contiguous
    ``batch_size / world_size`` share, so concatenating the ranks' batches in rank order gives
    exactly the single-process batch. The last incomplete batch is dropped.

    ``set_epoch(e, start_step=s)`` selects the epoch and skips ``s`` batches (resume mid-epoch).
    Yields lists of ``(epoch, index)``.
    """

    def __init__(self, works: list[str], *, batch_size: int, seed: int, world_size: int = 1, rank: int = 0) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by the {world_size} ranks")
        self.works, self.batch_size, self.seed = works, batch_size, seed
        self.world_size, self.rank = world_size, rank
        self.epoch, self.start_step = 0, 0

    def set_epoch(self, epoch: int, *, start_step: int = 0) -> None:
        self.epoch, self.start_step = epoch, start_step

    def steps_per_epoch(self) -> int:
        return len(self.works) // self.batch_size

    def __len__(self) -> int:
        return max(0, self.steps_per_epoch() - self.start_step)

    def __iter__(self):
        order = epoch_order(self.works, seed=self.seed, epoch=self.epoch)
        local = self.batch_size // self.world_size
        for step in range(self.start_step, self.steps_per_epoch()):
            chunk = order[step * self.batch_size:(step + 1) * self.batch_size]
            mine = chunk[self.rank * local:(self.rank + 1) * local]
            yield [(self.epoch, int(i)) for i in mine]


def batch_to(batch: dict, device: torch.device) -> dict:
    """Move a collated batch to ``device`` (non-blocking when pinned)."""
    def move(x):
        if isinstance(x, torch.Tensor):
            return x.to(device, non_blocking=True)
        if isinstance(x, dict):
            return {k: move(v) for k, v in x.items()}
        return x
    return {k: move(v) for k, v in batch.items()}


def descriptions_for(tracks: list[Track], corpus_dir: Path, *, per_track: int, seed: int, registry) -> list[list[str]]:
    """Each track's descriptions: from ``descriptions.jsonl`` when present, else written now by the
    offline ``template`` backend (in memory; run ``sapphire describe`` to keep them)."""
    from sapphire_core.describe.corpus import load_descriptions

    stored = load_descriptions(corpus_dir)
    missing = [t for t in tracks if not stored.get(t.id)]
    if missing:
        template = registry.get("describer", "template")()
        for t in missing:
            stored[t.id] = template.describe(t, {}, n=per_track, seed=seed)
    return [stored[t.id][:max(per_track, 1)] for t in tracks]
