"""A small offline language identifier for lyrics: stopword profiles plus diacritic cues.

Function words are the most reliable short-text language cue (Grefenstette 1995, "Comparing two
language identification schemes"): a lyric of a few lines already holds several. Each language
scores the share of tokens that are its frequent function words; letters that only some
orthographies use (ß, ñ, ç, ...) add a small bonus. The supported set covers the demo corpus
(German chorales, Latin masses, Italian madrigals) and English, French and Spanish songs.
"""

from __future__ import annotations

import re
import unicodedata

#: ISO 639-1 codes :func:`detect_language` can return.
SUPPORTED_LANGUAGES = ("en", "de", "la", "it", "fr", "es")

# Frequent function words (articles, pronouns, prepositions, conjunctions, auxiliaries) per language,
# chosen to overlap little between languages; words shared by several (e.g. "in", "a", "e") are left out.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and of to is it that was for on are with as his they be at this have from or had by but not what "
        "all were when we there can your which their will would my me you she he her him our so i am no do "
        "love heart night day oh".split()
    ),
    "de": frozenset(
        "der die das und ist nicht ich du er sie wir ihr es ein eine einen dem den des zu mit auf für von "
        "sich auch wie wenn doch noch nur mein dein sein uns euch mir dir mich dich hat haben wird bin bist "
        "gott herr herz ach wo aus nach bei".split()
    ),
    "la": frozenset(
        "et est qui quae quod non sed cum ad ex ab per sunt sum nobis nos tu te tibi mihi me meus mea tuum "
        "deus dei domine dominus domini sancto sancte spiritu patri filio gloria excelsis amen ave maria "
        "plena gratia eius ejus nunc atque enim ut".split()
    ),
    "it": frozenset(
        "il lo la gli le di del della che non è sono per con una uno mi ti si ci io tu lui lei noi voi "
        "mio mia tuo tua suo sua più come ma se nel nella al alla dal dalla ho ha amor amore cor core "
        "cuore ahi chi".split()
    ),
    "fr": frozenset(
        "le la les de des du et est que qui ne pas je tu il elle nous vous ils un une dans pour sur avec "
        "mon ma mes ton ta son sa ce cette au aux mais plus moi toi amour coeur".split()
    ),
    "es": frozenset(
        "el la los las de del y que en un una por con para es no se lo mi tu su al como pero más yo me te "
        "nos está son muy sin amor corazón".split()
    ),
}

_CHAR_CUES: dict[str, str] = {
    "de": "äöüß",
    "it": "àèìòù",
    "fr": "âêîôûçëïœéè",
    "es": "ñ¿¡áíóú",
    "la": "æ",
}

_LATIN_ENDINGS = ("us", "um", "orum", "arum", "ibus", "ae", "aeli", "ibus")

_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def tokenize_words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, with inner apostrophes), Unicode-aware."""
    return [t.lower() for t in _TOKEN.findall(unicodedata.normalize("NFC", text))]


def language_scores(text: str) -> dict[str, float]:
    """Score of each supported language for ``text`` (share of stopword tokens + diacritic bonus)."""
    tokens = tokenize_words(text)
    scores = {lang: 0.0 for lang in SUPPORTED_LANGUAGES}
    if not tokens:
        return scores
    lowered = text.lower()
    for lang in SUPPORTED_LANGUAGES:
        hits = sum(1 for t in tokens if t in STOPWORDS[lang])
        cue = _CHAR_CUES.get(lang, "")
        cue_hits = sum(lowered.count(c) for c in cue)
        # The diacritic bonus is bounded so that one loan word cannot outvote the function words.
        scores[lang] = hits / len(tokens) + min(0.15, 0.03 * cue_hits)
    # Latin inflection endings are frequent and rare as word ends in the other languages here.
    latin_ends = sum(1 for t in tokens if len(t) > 3 and t.endswith(_LATIN_ENDINGS))
    scores["la"] += 0.5 * latin_ends / len(tokens)
    return scores


def detect_language(text: str, *, min_score: float = 0.05) -> str | None:
    """The most likely language of ``text``, or ``None`` when no profile matches.

    Parameters
    ----------
    text : str
        Lyrics (any number of lines).
    min_score : float
        Below this best score the text is called unknown (``None``) rather than guessed.

    Returns
    -------
    str or None
        One of :data:`SUPPORTED_LANGUAGES`.

    Examples
    --------
    >>> detect_language("Der Mond ist aufgegangen, die goldnen Sternlein prangen")
    'de'
    >>> detect_language("Ave Maria, gratia plena, Dominus tecum")
    'la'
    """
    scores = language_scores(text)
    best = max(SUPPORTED_LANGUAGES, key=lambda lang: scores[lang])
    return best if scores[best] >= min_score else None
