"""Embed tracks with a model: features from the cache (computed on a miss) -> collated batches -> vectors.

Shared by training (validation retrieval), indexing and evaluation, so every path embeds a
track the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from sapphire_core.cache import FeatureCache
from sapphire_core.collate import collate_features, feature_key
from sapphire_core.data import Track
from sapphire_core.extraction import extract_track
from sapphire_core.extractor import FeatureExtractor

#: An extractor may return this scalar key (1.0 / 0.0) to say its modality is present for a track
#: (e.g. the lyrics extractors return 0.0 for an instrumental): never fake an embedding.
PRESENT_KEY = "present"


@dataclass
class TrackFeatures:
    """One track's features, grouped by modality, keyed ``"extractor.feature"`` as encoders read them."""

    track_id: str
    by_modality: dict[str, dict[str, np.ndarray]]
    present: dict[str, bool]


def track_features(track: Track, extractors: dict[str, list[FeatureExtractor]],
                   cache: FeatureCache | None) -> TrackFeatures:
    """Load (or compute and cache) every modality's features of one track.

    Raises
    ------
    SapphireError
        When the track's audio is unusable or an extractor fails (naming the file).
    """
    flat = [e for group in extractors.values() for e in group]
    per_ex, _ = extract_track(track, flat, cache)
    by_modality: dict[str, dict[str, np.ndarray]] = {}
    present: dict[str, bool] = {}
    for modality, group in extractors.items():
        feats: dict[str, np.ndarray] = {}
        ok = True
        for ex in group:
            for k, v in per_ex[ex.name].items():
                if k == PRESENT_KEY:
                    ok = ok and bool(np.asarray(v).item() > 0.5)
                feats[feature_key(ex.name, k)] = v
        by_modality[modality] = feats
        present[modality] = ok
    return TrackFeatures(track.id, by_modality, present)


def collate_tracks(items: list[TrackFeatures], device: torch.device | str = "cpu"
                   ) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """Batch several tracks: ``({modality: collated features}, {modality: (B,) bool present})``."""
    modalities = list(items[0].by_modality)
    batch = {m: {k: v.to(device) for k, v in collate_features([it.by_modality[m] for it in items]).items()}
             for m in modalities}
    present = {m: torch.tensor([it.present[m] for it in items], dtype=torch.bool, device=device) for m in modalities}
    return batch, present


@dataclass
class Embeddings:
    """Embedded tracks: ``fused`` ``(N, D)`` L2-normalised, plus each modality's raw embedding."""

    ids: list[str]
    fused: np.ndarray
    per_modality: dict[str, np.ndarray] = field(default_factory=dict)
    present: dict[str, np.ndarray] = field(default_factory=dict)
    subspaces: dict[str, slice] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


@torch.no_grad()
def embed_tracks(model, tracks: list[Track], cache: FeatureCache | None, *, batch_size: int = 16,
                 device: torch.device | str = "cpu", on_progress=None) -> Embeddings:
    """Embed ``tracks`` with a :class:`~sapphire_core.model.SapphireModel`.

    Tracks that fail are left out and listed in ``Embeddings.failures`` (id -> message); the rest go on.

    Parameters
    ----------
    model : SapphireModel
    tracks : list of Track
    cache : FeatureCache or None
        Feature cache (features are computed and stored on a miss).
    batch_size : int
    device : str or torch.device
    on_progress : callable, optional
        Called with the number of tracks finished in each batch.
    """
    from sapphire_core.errors import SapphireError
    from sapphire_core.model import build_extractors

    model = model.to(device).eval()
    extractors = build_extractors(model.cfg, model.registry)
    ids, fused, per_mod, present = [], [], {m: [] for m in model.encoders}, {m: [] for m in model.encoders}
    failures: dict[str, str] = {}
    for start in range(0, len(tracks), batch_size):
        chunk = tracks[start : start + batch_size]
        items = []
        for t in chunk:
            try:
                items.append(track_features(t, extractors, cache))
            except SapphireError as exc:
                failures[t.id] = str(exc)
        if items:
            batch, pres = collate_tracks(items, device)
            raw = model.encode_modalities(batch)
            out = model.embed_audio(batch, pres)
            ids.extend(it.track_id for it in items)
            fused.append(out.embedding.float().cpu().numpy())
            for m in raw:
                per_mod[m].append(raw[m].float().cpu().numpy())
                present[m].append(pres[m].cpu().numpy())
        if on_progress:
            on_progress(len(chunk))
    dim = model.embedding_dim
    return Embeddings(
        ids=ids,
        fused=np.concatenate(fused) if fused else np.zeros((0, dim), np.float32),
        per_modality={m: np.concatenate(v) for m, v in per_mod.items() if v},
        present={m: np.concatenate(v) for m, v in present.items() if v},
        subspaces=dict(model.subspaces),
        failures=failures,
    )

