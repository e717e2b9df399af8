"""Facts about a track, gathered from its metadata and (optionally) its extracted features.

Both backends start here: the template grammar phrases these facts, the LLM backend lists them
in its prompt. A fact is a plain string or number; absent facts are simply left out, so a
corpus with sparse metadata still gets (shorter) descriptions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sapphire_core.data import Track

#: Quarter-note tempo bands (BPM) -> tempo class, following common conductor markings
#: (largo/adagio < 76 <= andante/moderato < 120 <= allegro/presto).
TEMPO_BANDS = ((76.0, "slow"), (120.0, "medium"), (float("inf"), "fast"))


EFFECT_WORDS = {"reverb": "reverb", "lowshelf": "a warm low-shelf EQ", "highshelf": "a bright high-shelf EQ",
                "compressor": "compression", "chorus": "chorus", "delay": "delay", "distortion": "distortion",
                "phaser": "phaser", "lowpass": "a low-pass filter", "highpass": "a high-pass filter"}


def tempo_class(bpm: float | None) -> str | None:
    """``slow`` / ``medium`` / ``fast`` for a tempo in BPM (``None`` when unknown)."""
    if bpm is None or not np.isfinite(bpm) or bpm <= 0:
        return None
    return next(name for limit, name in TEMPO_BANDS if bpm < limit)


def _interpretable(features: dict[str, np.ndarray]) -> dict[str, str]:
    """Words for the interpretable features present (e.g. the acoustic plugin's mid-level values), through
    the installed explanations."""
    if not features:
        return {}
    from sapphire_core.interpret import interpretations
    from sapphire_core.plugins import default_registry

    words: dict[str, str] = {}
    for spec in interpretations(default_registry()):
        values = next((v for k, v in features.items() if k.endswith(spec.feature_key)), None)
        if values is None:
            continue
        try:
            words.update({str(k): str(v) for k, v in spec.words(np.asarray(values)).items()})
        except ValueError:  # a malformed vector must not stop description of the corpus
            continue
    return words


def lyric_themes(lyrics: str | None, *, k: int = 3) -> list[str]:
    """The ``k`` most frequent content words of the lyrics (a crude, language-agnostic theme list)."""
    if not lyrics:
        return []
    import re
    from collections import Counter

    words = [w.lower() for w in re.findall(r"[^\W\d_]{4,}", lyrics)]
    stop = {"that", "this", "with", "from", "have", "were", "what", "when", "your", "they", "their", "there", "will",
            "would", "shall", "into", "upon", "them", "then", "than", "been", "unto", "thee", "thou", "thy", "und",
            "der", "die", "das", "ich", "nicht", "mein", "dein", "sich", "auch", "sein", "ihr", "wie", "den", "dem",
            "eine", "einen", "mit", "auf", "zu", "che", "non", "per", "della", "nobis", "quae", "quod", "est"}
    counts = Counter(w for w in words if w not in stop)
    return [w for w, _ in counts.most_common(k)]


def track_facts(track: Track, features: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Everything the describers may say about ``track``.

    Parameters
    ----------
    track : Track
        Metadata as in the demo corpus's ``tracks.jsonl`` (era, composer, form, key, mode,
        meter, tempo_bpm, instrumentation, instrument_family, effects, duration, ...).
    features : dict, optional
        Extracted features keyed ``"extractor.feature"``; interpretable values (those an installed
        explanation reads, e.g. mid-level features) become words.

    Returns
    -------
    dict
        Only the facts that are known.
    """
    m = track.metadata
    facts: dict[str, Any] = {}
    for key in ("era", "composer", "form", "key", "mode", "meter", "instrument_family", "collection"):
        value = m.get(key)
        if value not in (None, "", []):
            facts[key] = str(value)
    bpm = m.get("tempo_bpm")
    if isinstance(bpm, (int, float)) and bpm > 0:
        facts["tempo_bpm"] = float(bpm)
        facts["tempo_class"] = m.get("tempo_class") or tempo_class(float(bpm))
    elif m.get("tempo_class"):
        facts["tempo_class"] = str(m["tempo_class"])
    instruments = [str(i) for i in (m.get("instrumentation") or []) if i]
    if instruments:
        facts["instruments"] = sorted(set(instruments), key=instruments.index)
    # The demo corpus writes effects as "name:amount" (e.g. "reverb:0.19"); say them in words.
    effects = list(dict.fromkeys(EFFECT_WORDS.get(str(e).split(":")[0].lower(), str(e).split(":")[0].replace("_", " "))
                                 for e in (m.get("effects") or []) if e))
    if effects:
        facts["effects"] = effects
    if isinstance(m.get("duration"), (int, float)):
        facts["duration"] = float(m["duration"])
    if track.lyrics:
        facts["has_lyrics"] = True
        if track.language:
            facts["language"] = track.language
        themes = lyric_themes(track.lyrics)
        if themes:
            facts["lyric_themes"] = themes
    else:
        facts["has_lyrics"] = False
    perceptual = _interpretable(features or {})
    if perceptual:
        facts["perceptual"] = perceptual
    return facts
