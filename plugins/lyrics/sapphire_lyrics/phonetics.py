"""Phonetic patterns of a lyric: rates, phoneme classes, rhyme and alliteration (pure functions).

:func:`phonetic_profile` turns phonemised lines (:mod:`sapphire_lyrics.phonemes`) and their timing
into the fixed vector named by :data:`PHONETIC_FEATURES`. Syllables are counted as vowel nuclei
(one per vowel phoneme; diphthongs are one phoneme in both CMUdict and espeak-ng output).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sapphire_lyrics.phonemes import PHONE_CLASSES, Phone, Word

#: Names of the entries of the phonetic profile vector, in order.
PHONETIC_FEATURES: tuple[str, ...] = (
    "phoneme_rate",  # phonemes per second of sung time (0 when no timing is known)
    "syllable_rate",  # syllables per second (0 when no timing is known)
    "timed_lines",  # 1 when rates come from per-line .lrc timing
    "timed_track",  # 1 when rates come only from the track's duration (coarse: includes instrumental parts)
    "phonemes_per_line",
    "syllables_per_line",
    "syllables_per_line_std",
    "words_per_line",
    "phonemes_per_word",
    *(f"frac_{c}" for c in PHONE_CLASSES),  # share of each manner class among all phonemes
    "end_rhyme_rate",  # lines whose end rhyme matches one of the 2 lines before (AABB / ABAB)
    "rhyme_density",  # mean longest vowel-sequence rhyme per word (Malmi et al. 2016)
    "alliteration_rate",  # adjacent word pairs in a line starting with the same consonant
)

#: How many preceding words a word's rhyme partner is searched among (Malmi et al. 2016 use 15).
RHYME_WINDOW = 15


def _strip_length(symbol: str) -> str:
    return symbol.replace("ː", "")


def rhyme_part(word: Word) -> tuple[str, ...]:
    """Phonemes from the last stressed vowel to the end (from the last vowel when none is stressed).

    This is the classic end-rhyme unit ("rhyme" of the stressed syllable onwards); vowel length is
    ignored so that e.g. espeak-ng's ``a`` and ``aː`` rhyme.
    """
    vowels = [i for i, p in enumerate(word) if p.is_vowel]
    if not vowels:
        return tuple(_strip_length(p.symbol) for p in word)
    stressed = [i for i in vowels if word[i].stressed]
    start = stressed[-1] if stressed else vowels[-1]
    return tuple(_strip_length(p.symbol) for p in word[start:])


def end_rhyme_rate(lines: Sequence[Sequence[Word]]) -> float:
    """Share of lines (from the second on) whose last word rhymes with a line 1 or 2 before.

    A word repeated verbatim (same phonemes) is not counted as a rhyme: refrains would inflate
    the score.
    """
    ends = [(rhyme_part(line[-1]), tuple(p.symbol for p in line[-1])) if line else None for line in lines]
    pairs = hits = 0
    for i in range(1, len(ends)):
        if ends[i] is None:
            continue
        pairs += 1
        for j in (i - 1, i - 2):
            if j >= 0 and ends[j] is not None and ends[j][0] == ends[i][0] and ends[j][1] != ends[i][1]:
                hits += 1
                break
    return hits / pairs if pairs else 0.0


def rhyme_density(lines: Sequence[Sequence[Word]], *, window: int = RHYME_WINDOW) -> float:
    """Mean length (in vowels) of each word's longest assonance rhyme with a recent word.

    After Malmi et al. (2016), "DopeLearning: A Computational Approach to Rap Lyrics Generation"
    (KDD), sec. 5: for each word, the longest match of the vowel sequence ending at that word with
    the vowel sequence ending at one of the previous ``window`` words; the score is the average.
    Matches do not reach back past the start of the current line, and a word identical to the
    current one is no partner, so verbatim repeats do not count.
    """
    vowels: list[str] = []
    ends: list[tuple[int, int, tuple[str, ...]]] = []  # (vowel index after the word, line start vowel index, word)
    for line in lines:
        line_start = len(vowels)
        for word in line:
            vowels.extend(_strip_length(p.symbol) for p in word if p.is_vowel)
            ends.append((len(vowels), line_start, tuple(p.symbol for p in word)))
    scores = []
    for k, (end, line_start, word) in enumerate(ends):
        if end == 0 or (k and ends[k - 1][0] == end):
            continue  # a word without vowels has no rhyme of its own
        best = 0
        for end_u, _, word_u in ends[max(0, k - window) : k]:
            if word_u == word or end_u == end:
                continue
            n = 0
            while end - n - 1 >= line_start and end_u - n - 1 >= 0 and vowels[end - n - 1] == vowels[end_u - n - 1]:
                n += 1
            best = max(best, n)
        scores.append(best)
    return float(np.mean(scores)) if scores else 0.0


def alliteration_rate(lines: Sequence[Sequence[Word]]) -> float:
    """Share of adjacent word pairs within a line that begin with the same consonant phoneme."""
    pairs = hits = 0
    for line in lines:
        for a, b in zip(line, line[1:]):
            pairs += 1
            if not a[0].is_vowel and a[0].symbol == b[0].symbol:
                hits += 1
    return hits / pairs if pairs else 0.0


def _is_finite_positive(x: float | None) -> bool:
    return x is not None and math.isfinite(x) and x > 0


def phonetic_profile(
    lines: Sequence[Sequence[Word]],
    *,
    durations: Sequence[float] | None = None,
    track_duration: float | None = None,
) -> np.ndarray:
    """The phonetic profile vector (:data:`PHONETIC_FEATURES`) of phonemised lines.

    Parameters
    ----------
    lines : sequence
        Per line, words, each a sequence of :class:`~sapphire_lyrics.phonemes.Phone`.
    durations : sequence of float, optional
        Seconds each line lasts (``.lrc`` timing); lines with unknown (``nan``) or non-positive
        duration are left out of the rates.
    track_duration : float, optional
        Used for the rates only when no line timing is known (all phonemes / whole track).

    Returns
    -------
    np.ndarray
        ``(len(PHONETIC_FEATURES),)`` float32.

    Examples
    --------
    With "the cat sat" lasting 2 s (8 CMUdict phonemes: DH AH K AE T S AE T), the rate is 4/s.
    """
    out = dict.fromkeys(PHONETIC_FEATURES, 0.0)
    phones: list[Phone] = [p for line in lines for word in line for p in word]
    n_lines = max(1, len(lines))
    per_line_phones = np.array([sum(len(w) for w in line) for line in lines], dtype=np.float64)
    per_line_syll = np.array([sum(p.is_vowel for w in line for p in w) for line in lines], dtype=np.float64)
    if durations is not None and len(durations) == len(lines):
        ok = [i for i, d in enumerate(durations) if _is_finite_positive(d)]
        if ok:
            seconds = float(sum(durations[i] for i in ok))
            out["phoneme_rate"] = float(per_line_phones[ok].sum()) / seconds
            out["syllable_rate"] = float(per_line_syll[ok].sum()) / seconds
            out["timed_lines"] = 1.0
    if out["timed_lines"] == 0.0 and _is_finite_positive(track_duration):
        out["phoneme_rate"] = len(phones) / float(track_duration)
        out["syllable_rate"] = float(per_line_syll.sum()) / float(track_duration)
        out["timed_track"] = 1.0
    n_words = sum(len(line) for line in lines)
    out["phonemes_per_line"] = len(phones) / n_lines
    out["syllables_per_line"] = float(per_line_syll.mean()) if len(lines) else 0.0
    out["syllables_per_line_std"] = float(per_line_syll.std()) if len(lines) else 0.0
    out["words_per_line"] = n_words / n_lines
    out["phonemes_per_word"] = len(phones) / n_words if n_words else 0.0
    if phones:
        for c in PHONE_CLASSES:
            out[f"frac_{c}"] = sum(p.cls == c for p in phones) / len(phones)
    out["end_rhyme_rate"] = end_rhyme_rate(lines)
    out["rhyme_density"] = rhyme_density(lines)
    out["alliteration_rate"] = alliteration_rate(lines)
    return np.array([out[k] for k in PHONETIC_FEATURES], dtype=np.float32)
