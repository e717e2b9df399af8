"""Embed tracks with a model: features from the cache (computed on a miss) -> collated batches -> vectors.

Shared by indexing, queries and evaluation, so every path embeds a track the same way.

Long tracks are encoded block-wise (:func:`encode_features`): an encoder never sees more than
:data:`BLOCK_FRAMES` frames of a time series at once, so the memory of embedding a 2-hour file is
that of a 13-minute one. A track whose time series are all within one block is encoded whole, exactly
as before; a longer one is cut into equal windows and its modality embedding is the frame-weighted
mean of the windows' embeddings. That mean is an approximation of the whole-track embedding (an
encoder's pooling over time is nonlinear): exact for an encoder that averages over time before a
linear map, and close on music that repeats itself (a looped song: cosine 0.99 or more with the
shipped base model, ``tests/test_embedding_blocks.py``).
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
    return track_features_from(track, extractors, per_ex)


def track_features_from(track: Track, extractors: dict[str, list[FeatureExtractor]],
                        per_extractor: dict[str, dict[str, np.ndarray]]) -> TrackFeatures:
    """Group one track's ``{extractor name: features}`` by modality (as :func:`track_features` returns them)."""
    per_ex = per_extractor
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


#: Frames of a time series an encoder sees at once: 2**15 frames is 12.7 minutes at the acoustic
#: extractors' 43 frames/s, longer than nearly every song, so only long recordings take the block path.
BLOCK_FRAMES = 2**15


def time_series_keys(encoder) -> list[str]:
    """The input keys of ``encoder`` whose last axis is time (``None`` in its extractors' declared shapes)."""
    return [k for k, shape in getattr(encoder, "input_shapes", {}).items() if shape and shape[-1] is None]


def feature_windows(features: dict[str, np.ndarray], keys: list[str], *,
                    block_frames: int = BLOCK_FRAMES) -> list[tuple[dict[str, np.ndarray], float]]:
    """Cut one track's features into equal time windows of at most ``block_frames`` frames.

    Parameters
    ----------
    features : dict
        One modality's features of one track (``"extractor.feature"`` -> array).
    keys : list of str
        The time series among them (:func:`time_series_keys`); the others (summaries, scalars) go
        whole into every window.
    block_frames : int
        The longest window.

    Returns
    -------
    list of (dict, float)
        ``(window features, weight)``: ``n = ceil(longest / block_frames)`` windows, each time series
        cut at the same fractions of its length (series at different frame rates stay aligned), weights
        the windows' shares of the longest series (they sum to 1). ``[(features, 1.0)]`` itself when
        nothing is longer than one block.

    Examples
    --------
    >>> w = feature_windows({"a.x": np.arange(10.0)[None], "a.mean": np.ones(2)}, ["a.x"], block_frames=4)
    >>> [(f["a.x"].tolist(), round(weight, 2)) for f, weight in w]
    [([[0.0, 1.0, 2.0]], 0.3), ([[3.0, 4.0, 5.0, 6.0]], 0.4), ([[7.0, 8.0, 9.0]], 0.3)]
    """
    lengths = {k: int(features[k].shape[-1]) for k in keys if k in features}
    longest = max(lengths.values(), default=0)
    n = -(-longest // max(1, int(block_frames)))
    if n <= 1:
        return [(features, 1.0)]
    cuts = {k: np.linspace(0, t, n + 1).round().astype(int) for k, t in lengths.items()}
    ref = cuts[max(lengths, key=lengths.get)]
    return [({**features, **{k: features[k][..., c[i]:c[i + 1]] for k, c in cuts.items()}},
             float(ref[i + 1] - ref[i]) / longest) for i in range(n)]


def encode_features(model, items: list[TrackFeatures], *, device: torch.device | str = "cpu",
                    block_frames: int | None = None) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Raw modality embeddings of several tracks, long ones block-wise; ``(raw, present)`` for ``model.fuse``.

    Tracks within one block are collated and encoded together (the same numbers as
    ``model.encode_modalities`` of their batch); a track with a longer time series is encoded one
    window at a time (:func:`feature_windows`) and gets the weighted mean of its windows' embeddings,
    so memory is bounded by one window whatever the length.

    Parameters
    ----------
    model : SapphireModel
    items : list of TrackFeatures
    device : str or torch.device
    block_frames : int, optional
        The longest window [default: :data:`BLOCK_FRAMES`].

    Returns
    -------
    (dict, dict)
        ``{modality: (B, dim)}`` scaled by the YAML weights, and ``{modality: (B,) bool}`` presence.
    """
    block_frames = BLOCK_FRAMES if block_frames is None else block_frames
    present = {m: torch.tensor([it.present[m] for it in items], dtype=torch.bool, device=device)
               for m in model.encoders}
    raw: dict[str, torch.Tensor] = {}
    for m, encoder in model.encoders.items():
        keys = time_series_keys(encoder)
        windows = [feature_windows(it.by_modality[m], keys, block_frames=block_frames) for it in items]
        rows: list[torch.Tensor | None] = [None] * len(items)
        whole = [i for i, w in enumerate(windows) if len(w) == 1]
        if whole:
            out = model.encode_modality(m, _on(collate_features([items[i].by_modality[m] for i in whole]), device))
            for j, i in enumerate(whole):
                rows[i] = out[j]
        for i, parts in enumerate(windows):
            if len(parts) > 1:
                rows[i] = sum(weight * model.encode_modality(m, _on(collate_features([f]), device))[0]
                              for f, weight in parts)
        raw[m] = torch.stack(rows)
    return raw, present


def _on(batch: dict[str, torch.Tensor], device: torch.device | str) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


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
            raw, pres = encode_features(model, items, device=device)
            out = model.fuse(raw, pres)
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

