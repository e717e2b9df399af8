"""Query encoding: an audio recording, a text or lyrics into the model's shared space.

These are the core's three query modes (:data:`sapphire_core.query_mode.CORE_MODES`); plugin
modes score tracks themselves (:class:`sapphire_core.query_mode.QueryMode`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.data import Track
from sapphire_core.retrieval.ranking import SearchError


@dataclass
class EncodedAudio:
    """An audio query: fused vector, raw per-modality embeddings and presence, interpretable values."""

    fused: np.ndarray
    per_modality: dict[str, np.ndarray]
    present: dict[str, bool]
    #: Explanation name -> the query's interpretable values (absent when they could not be computed).
    interpretable: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None


@contextmanager
def query_track(audio, *, lyrics: str | None = None) -> Iterator[tuple[Track, bool]]:
    """A :class:`Track` for a query given as a path or ``(samples, sr)``; yields ``(track, is_file)``.

    Samples are written to a temporary WAV file (extractors read files), deleted afterwards.

    Raises
    ------
    SearchError
        When a path does not exist.
    """
    if isinstance(audio, tuple):
        import soundfile as sf

        samples, sr = audio
        tmp = tempfile.NamedTemporaryFile(suffix=".wav", delete=False)
        sf.write(tmp.name, np.asarray(samples, dtype=np.float32), int(sr))
        try:
            yield Track(id="query", audio=Path(tmp.name), lyrics=lyrics), False
        finally:
            Path(tmp.name).unlink(missing_ok=True)
        return
    path = Path(audio)
    if not path.is_file():
        raise SearchError(f"{path}: query audio not found")
    yield Track(id="query", audio=path, lyrics=lyrics), True


def embed_query_track(model, extractors, track: Track, cache, *, device: str = "cpu"
                      ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, bool]]:
    """``(fused vector, raw per-modality embeddings, presence)`` of one track."""
    import torch

    from sapphire_core.embedding import encode_features, track_features

    feats = track_features(track, extractors, cache)
    with torch.no_grad():  # as the index embeds a track: long ones block-wise
        raw, pres = encode_features(model, [feats], device=device)
        fused = model.fuse(raw, pres).embedding[0].float().cpu().numpy()
    return fused, {m: v[0].float().cpu().numpy() for m, v in raw.items()}, {m: bool(v[0]) for m, v in pres.items()}


def text_vector(model, text: str, *, model_version: str = "the model") -> np.ndarray:
    """A text query through the text tower, in the shared space.

    Raises
    ------
    SearchError
        When the model has no text tower.
    """
    import torch

    if model.text_tower is None:
        raise SearchError(f"the model {model_version} has no text tower, so it cannot take text queries; "
                          "train a modality set with a 'text:' block")
    with torch.no_grad():
        return model.embed_text([text])[0].float().cpu().numpy()


def text_vectors(model, texts: list[str]) -> np.ndarray:
    """``(len(texts), dim)``: several texts through the text tower in one pass (the model has one)."""
    import torch

    with torch.no_grad():
        return model.embed_text(list(texts)).float().cpu().numpy()


def lyrics_query_vector(model, extractors, lyrics: str, *, device: str = "cpu",
                        raw: bool = False) -> np.ndarray | None:
    """Embed lyrics text through the model's lyrics modality, the other modalities marked absent.

    Returns the fused, L2-normalised vector (or with ``raw`` the lyrics encoder's own embedding),
    or None when the model has no lyrics modality, its extractors need audio, or the text yields
    no lyrics features.
    """
    import torch
    import torch.nn.functional as F

    from sapphire_core.collate import collate_features
    from sapphire_core.embedding import track_features

    if "lyrics" not in model.encoders or "lyrics" not in extractors:
        return None
    group = {"lyrics": extractors["lyrics"]}
    if any(e.needs_audio for e in group["lyrics"]):
        return None
    feats = track_features(Track(id="query", lyrics=lyrics), group, None)
    if not feats.present.get("lyrics", False):
        return None
    with torch.no_grad():
        batch = {k: v.to(device) for k, v in collate_features([feats.by_modality["lyrics"]]).items()}
        lyr = model.encoders["lyrics"](batch) * model.modality_weights["lyrics"]
        if raw:
            return lyr[0].float().cpu().numpy()
        emb = {m: torch.zeros(1, enc.output_dim, device=device) for m, enc in model.encoders.items()}
        emb["lyrics"] = lyr
        present = {m: torch.tensor([m == "lyrics"], device=device) for m in model.encoders}
        fused = model.fusion(emb, present).embedding
        return F.normalize(fused, dim=-1)[0].float().cpu().numpy()
