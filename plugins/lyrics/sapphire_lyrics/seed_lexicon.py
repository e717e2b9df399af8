"""A small hand-made valence lexicon for non-English lyrics (de, la, it, fr, es).

VADER's lexicon is English only. This module is the honest stop-gap for the demo corpus's
German chorales, Latin masses and Italian madrigals: for each language a few dozen frequent
emotion words of sacred and secular song texts, each given the valence VADER assigns to its
English translation (VADER's -4..+4 scale, rounded), plus negators. It is a seed list written
for this project, not a validated resource: it covers the words these texts use most (death,
pain, tears, sin / joy, love, peace, glory) and nothing else, so most lines still score 0.

Scoring follows VADER's arithmetic (Hutto & Gilbert 2014): the sum of matched word valences,
a negator flips the next matched word with factor -0.74 (VADER's ``N_SCALAR``), and the sum is
squashed by ``s / sqrt(s^2 + 15)`` (VADER's ``normalize``, alpha = 15) into (-1, 1).
An entry ending in ``*`` matches any word starting with it; other entries match whole words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sapphire_lyrics.language import tokenize_words

_N_SCALAR = -0.74
_ALPHA = 15.0

SEED_LEXICON: dict[str, dict[str, float]] = {
    "de": {
        "freude*": 2.8, "freu*": 2.5, "fröhlich*": 2.7, "froh": 2.5, "frohe*": 2.5, "glück*": 2.7,
        "lieb*": 2.5, "heil": 2.0, "selig*": 2.5, "lob*": 2.3, "jubel*": 2.9, "jauchz*": 2.9,
        "wonne*": 2.9, "süß*": 2.0, "schön*": 2.5, "hoffnung*": 2.0, "trost*": 1.9, "tröst*": 1.9,
        "friede*": 2.0, "herrlich*": 2.8, "segen*": 2.2, "gnade*": 1.9, "ehre": 2.2,
        "traurig*": -2.1, "trauer*": -2.0, "tod": -2.9, "todes": -2.9, "tot": -2.9, "tote*": -2.9,
        "sterb*": -2.9, "stirb*": -2.9, "starb*": -2.9, "leid*": -2.2, "schmerz*": -2.5, "klag*": -2.0,
        "weh": -2.0, "wehe": -2.0, "sünde*": -2.0, "angst": -2.4, "ängst*": -2.4, "furcht*": -2.2,
        "fürcht*": -2.2, "zorn*": -2.6, "hass*": -2.7, "einsam*": -1.6, "tränen": -1.8, "weinen": -1.8,
        "weint": -1.8, "weine": -1.8, "elend*": -2.4, "not": -1.8, "qual*": -2.3, "kummer*": -2.1,
        "grab": -1.5, "bitter*": -1.8, "allein": -1.0,
    },
    "la": {
        "gaudi*": 2.8, "gaude*": 2.8, "laet*": 2.7, "laeti*": 2.7, "iubil*": 2.9, "jubil*": 2.9,
        "amor": 3.0, "amore": 3.0, "amoris": 3.0, "amo": 2.9, "amat": 2.9, "dilect*": 2.7,
        "pax": 2.0, "pacem": 2.0, "pacis": 2.0, "glori*": 2.4, "benedict*": 2.0, "beat*": 2.4,
        "salv*": 2.0, "dulc*": 2.0, "spes": 1.9, "spem": 1.9, "laud*": 2.3, "exsult*": 2.7, "exult*": 2.7,
        "mors": -2.9, "mort*": -2.9, "dolor*": -2.5, "lacrim*": -1.8, "lachrym*": -1.8, "lacrym*": -1.8,
        "peccat*": -2.0, "trist*": -2.1, "timor*": -2.4, "ira": -2.6, "irae": -2.6, "miser": -2.2,
        "miseri": -2.2, "miserere": -1.5, "luct*": -2.0, "gemit*": -2.0, "maledict*": -2.5,
        "infern*": -2.5, "poen*": -2.2, "crucifix*": -2.0, "passus": -1.5, "sepult*": -1.5,
    },
    "it": {
        "gioi*": 2.8, "allegr*": 2.6, "liet*": 2.5, "felic*": 2.8, "amor*": 3.0, "amante": 2.9,
        "amanti": 2.9, "amato": 2.9, "amata": 2.9, "amo": 2.9, "ama": 2.9, "amar": 2.9, "dolc*": 2.0,
        "bell*": 2.5, "ride": 2.0, "ridi": 2.0, "riso": 2.0, "speranz*": 1.9, "pace": 2.0, "gloria": 2.4,
        "morte": -2.9, "morto": -2.9, "morta": -2.9, "morire": -2.9, "morir": -2.9, "moro": -2.9,
        "muoio": -2.9, "muore": -2.9, "dolor*": -2.5, "duol*": -2.5, "piango": -1.8, "pianto": -1.8,
        "piange": -1.8, "piangete": -1.8, "pianger*": -1.8, "lagrim*": -1.8, "lacrim*": -1.8,
        "trist*": -2.1, "crudel*": -2.5, "torment*": -2.6, "sospir*": -1.0, "affann*": -2.0,
        "martir*": -2.3, "pena": -2.0, "pene": -2.0, "ahi": -1.5, "ohimè": -1.5, "oimè": -1.5,
        "misero": -2.2, "misera": -2.2, "lasso": -1.5,
    },
    "fr": {
        "joie": 2.8, "heureu*": 2.7, "amour*": 3.2, "aime": 2.9, "aimer": 2.9, "doux": 2.0, "douce": 2.0,
        "beau": 2.5, "belle": 2.5, "paix": 2.0, "triste*": -2.1, "mort": -2.9, "morte": -2.9,
        "mourir": -2.9, "meurs": -2.9, "meurt": -2.9, "pleur*": -1.8, "douleur*": -2.5, "peur": -2.4,
        "seul": -1.0, "seule": -1.0, "larmes": -1.8,
    },
    "es": {
        "alegr*": 2.6, "feliz": 2.8, "amor*": 3.2, "amo": 2.9, "dulce": 2.0, "hermos*": 2.5, "paz": 2.0,
        "triste*": -2.1, "muerte": -2.9, "morir": -2.9, "muero": -2.9, "llor*": -1.8, "dolor*": -2.5,
        "miedo": -2.4, "lágrimas": -1.8,
    },
}

NEGATORS: dict[str, frozenset[str]] = {
    "de": frozenset({"nicht", "kein", "keine", "keinen", "keiner", "nie", "niemals"}),
    "la": frozenset({"non", "nec", "neque", "nihil"}),
    "it": frozenset({"non", "né", "mai"}),
    "fr": frozenset({"ne", "pas", "jamais"}),
    "es": frozenset({"no", "nunca", "jamás"}),
}


def has_seed_lexicon(language: str | None) -> bool:
    """Whether :data:`SEED_LEXICON` covers ``language``."""
    return (language or "").lower() in SEED_LEXICON


def _word_valence(word: str, lexicon: dict[str, float]) -> float | None:
    if word in lexicon:
        return lexicon[word]
    best = None
    for entry, value in lexicon.items():
        # Longest matching prefix wins, so "trist*" does not shadow a more specific entry.
        if entry.endswith("*") and word.startswith(entry[:-1]) and (best is None or len(entry) > len(best[0])):
            best = (entry, value)
    return None if best is None else best[1]


def seed_valence(lines: Sequence[str], *, language: str) -> list[float]:
    """Valence in (-1, 1) of each line from the seed lexicon of ``language``.

    Examples
    --------
    >>> lines = ["Ich bin so traurig und allein", "Freude, schöner Götterfunken"]
    >>> [round(v, 2) for v in seed_valence(lines, language="de")]
    [-0.62, 0.81]
    """
    lang = language.lower()
    lexicon = SEED_LEXICON[lang]
    negators = NEGATORS.get(lang, frozenset())
    out = []
    for line in lines:
        total = 0.0
        negate = False
        for word in tokenize_words(line):
            if word in negators:
                negate = True
                continue
            value = _word_valence(word, lexicon)
            if value is not None:
                total += value * (_N_SCALAR if negate else 1.0)
                negate = False
        out.append(total / math.sqrt(total * total + _ALPHA) if total else 0.0)
    return out
