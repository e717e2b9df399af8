"""Explanations of one search result: which sub-spaces and modalities the similarity comes from,
and the interpretable features of query and result side by side, in words.

- Sub-space shares: the (weighted) inner product is a sum over dimensions, so each named
  sub-space's part of it is exact: ``c_s = sum_{d in s} w_d q_d x_d``. Shares are ``c_s / sum |c|``.
- Modality shares: the fused embedding is a non-linear function of the modality embeddings,
  so shares come from occlusion (Zeiler & Fergus 2014): the drop in similarity when one
  modality is marked absent for the fusion head, normalised over modalities.
- Interpretable features: what an installed :class:`~sapphire_core.explanation.Explanation` reads
  (e.g. the acoustic plugin's mid-level features), each value's level a percentile of the index.
- Text queries: each word's part of the score by occlusion over words (the query embedded again
  without that word), split over the sub-spaces as above.
- Lyrics queries: the result's lyric lines that share the most content words with the query.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

#: The summary when nothing interpretable is known about a pair.
NO_DESCRIPTORS = "no perceptual descriptors available for this pair"
#: Words left out when lyric lines are matched: they would match every line.
STOP_WORDS = frozenset("""a an and are as at be but by for from he her his i in is it its me my of on or our she so
that the their them they this to was we were with you your""".split())
#: A text query longer than this is explained by its first words only (one text-tower pass per word).
MAX_WORDS = 16
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_LRC_TIME = re.compile(r"\[\d+:\d+(?:[.:]\d+)?\]")


def words_of(text: str) -> list[str]:
    """The distinct words of ``text``, lower-case, in order.

    Examples
    --------
    >>> words_of("Slow, sad choir - a SLOW one")
    ['slow', 'sad', 'choir', 'a', 'one']
    """
    return list(dict.fromkeys(m.group(0).lower() for m in _WORD.finditer(text or "")))


def word_shares(q: np.ndarray, without: np.ndarray, x: np.ndarray, words: list[str], subspaces: dict[str, slice],
                *, weights: np.ndarray | None = None) -> list[dict]:
    """Each word's part of a text query's score on result ``x``, by occlusion, best first.

    Parameters
    ----------
    q : np.ndarray
        The whole query's vector.
    without : np.ndarray
        ``(len(words), dim)``: the query embedded again without each word.
    x : np.ndarray
        The result's vector.
    words : list of str
    subspaces : dict of str to slice
    weights : np.ndarray, optional
        Per-dimension weights of the search.

    Returns
    -------
    list of dict
        ``{"word", "score", "subspaces": {name: part}}``: ``score`` is how much the similarity drops
        without the word (negative: the word pulls this result away), split exactly over the sub-spaces.
    """
    w = np.ones_like(q) if weights is None else weights
    out = []
    for word, q_w in zip(words, without):
        d = w * (q - q_w) * x
        out.append({"word": word, "score": float(d.sum()),
                    "subspaces": {name: float(d[sl].sum()) for name, sl in subspaces.items()}})
    return sorted(out, key=lambda e: -e["score"])


def matching_lines(query: str, lyrics: str | None, *, n: int = 2) -> list[dict]:
    """The lyric lines that share the most content words with ``query``.

    Returns
    -------
    list of dict
        Up to ``n`` ``{"line", "words"}`` (the shared words), most shared first; empty when none share one.

    Examples
    --------
    >>> matching_lines("cold river", "The river runs\\n[00:05.00]on the cold hills\\nso slowly")
    [{'line': 'The river runs', 'words': ['river']}, {'line': 'on the cold hills', 'words': ['cold']}]
    """
    wanted = set(words_of(query)) - STOP_WORDS
    found = []
    for i, raw in enumerate((lyrics or "").splitlines()):
        line = _LRC_TIME.sub("", raw).strip()
        shared = [w for w in words_of(line) if w in wanted]
        if shared:
            found.append((-len(shared), i, {"line": line, "words": shared}))
    return [item for *_, item in sorted(found, key=lambda t: t[:2])[:n]]


def query_summary(words: list[dict] | None, lines: list[dict] | None) -> str:
    """A one-line reading of what a text or lyrics query matched, e.g. 'matched "sad" (mood), "choir"'."""
    parts = []
    if words:
        said = []
        for e in [e for e in words if e["score"] > 0 and e["word"] not in STOP_WORDS][:3]:
            top = max(e["subspaces"].items(), key=lambda kv: kv[1], default=(None, 0.0))
            said.append(f'"{e["word"]}"' + (f" ({top[0]})" if top[1] > 0 else ""))
        parts.append("matched " + ", ".join(said) if said
                     else "matched by the whole text; no single word raises the score")
    if lines:
        parts.append(f'lyrics line "{lines[0]["line"]}" shares ' + ", ".join(f'"{w}"' for w in lines[0]["words"]))
    elif lines is not None:  # a lyrics query, no shared word: the match is by meaning or sound
        parts.append("no lyric line shares a word with the query")
    return "; ".join(parts)


def subspace_shares(q: np.ndarray, x: np.ndarray, subspaces: dict[str, slice], *,
                    weights: np.ndarray | None = None) -> dict[str, float]:
    """Share of ``(w*q).x`` contributed by each named sub-space (plus ``rest`` for unnamed dims).

    Shares are contributions divided by the sum of absolute contributions, so they sum to 1
    when every part agrees in sign, and a negative share marks a sub-space pulling the result away.
    """
    w = np.ones_like(q) if weights is None else weights
    prod = w * q * x
    contrib: dict[str, float] = {}
    covered = np.zeros(len(q), bool)
    for name, sl in subspaces.items():
        contrib[name] = float(prod[sl].sum())
        covered[sl] = True
    if not covered.all():
        contrib["rest"] = float(prod[~covered].sum())
    total = sum(abs(v) for v in contrib.values()) or 1.0
    return {k: v / total for k, v in contrib.items()}


def normalised_shares(drops: dict[str, float]) -> dict[str, float]:
    """Clip occlusion drops at 0 and normalise to sum 1 (uniform when nothing drops)."""
    pos = {k: max(0.0, v) for k, v in drops.items()}
    total = sum(pos.values())
    if total <= 1e-12:
        return {k: 1.0 / len(drops) for k in drops} if drops else {}
    return {k: v / total for k, v in pos.items()}


def level_word(pct: float) -> str:
    return "low" if pct < 1 / 3 else ("high" if pct > 2 / 3 else "medium")


def side_by_side(names: list[str], query: np.ndarray | None, result: np.ndarray | None,
                 reference: np.ndarray | None) -> dict:
    """``{"query": {name: {"value", "level"}}, "result": {...}}``; levels are percentiles of the index."""

    def describe(values):
        if values is None or np.any(~np.isfinite(values)):
            return {}
        out = {}
        for i, name in enumerate(names[: len(values)]):
            pct = _percentile(reference, i, float(values[i]))
            out[name] = {"value": round(float(values[i]), 4), "level": level_word(pct), "percentile": round(pct, 3)}
        return out

    return {"query": describe(query), "result": describe(result)}


def _percentile(reference: np.ndarray | None, col: int, value: float) -> float:
    if reference is None or len(reference) < 3:
        return 0.5
    ref = reference[:, col]
    ref = ref[np.isfinite(ref)]
    if len(ref) == 0:
        return 0.5
    return float((ref < value).mean() + 0.5 * (ref == value).mean())


def summary_text(interpretable: dict, query_meta: dict | None, result_meta: dict, *,
                 adjective: Callable[[str], str] | None = None, said_by_metadata: dict[str, str] | None = None) -> str:
    """A one-line reading, e.g. "both minor-key, low rhythmic stability; result more dissonant".

    Parameters
    ----------
    interpretable : dict
        ``{"query": {name: {"level", "percentile", ...}}, "result": {...}}`` of every explanation.
    query_meta, result_meta : dict
        The tracks' metadata (``mode`` and ``tempo_bpm`` are read).
    adjective : callable, optional
        ``value name -> adjective`` for "result more <adjective>" [default: the name in words].
    said_by_metadata : dict of str to str, optional
        ``value name -> metadata key``: left out when both tracks have that key.
    """
    adjective = adjective or (lambda n: n.replace("_", " "))
    said_by_metadata = said_by_metadata or {}
    both, diffs = [], []
    qm, rm = (query_meta or {}).get("mode"), result_meta.get("mode")
    if qm and rm:
        both.append(f"both {qm}-key") if qm == rm else diffs.append(f"query {qm}, result {rm}")
    q, r = interpretable.get("query") or {}, interpretable.get("result") or {}
    common = [n for n in q if n in r]
    for name in common:
        key = said_by_metadata.get(name)
        if key and (query_meta or {}).get(key) and result_meta.get(key):
            continue  # the metadata says it more plainly
        lq, lr = q[name]["level"], r[name]["level"]
        if lq == lr and lq != "medium":
            both.append(f"{lq} {name.replace('_', ' ')}")
    if common:
        gaps = sorted(common, key=lambda n: -abs(r[n]["percentile"] - q[n]["percentile"]))
        top = gaps[0]
        gap = r[top]["percentile"] - q[top]["percentile"]
        if abs(gap) >= 0.25:
            adj = adjective(top)
            diffs.append(f"result {'more' if gap > 0 else 'less'} {adj}")
    qt, rt = (query_meta or {}).get("tempo_bpm"), result_meta.get("tempo_bpm")
    if qt and rt:
        ratio = float(rt) / float(qt)
        if ratio > 1.15:
            diffs.append(f"result faster ({float(rt):.0f} vs {float(qt):.0f} BPM)")
        elif ratio < 1 / 1.15:
            diffs.append(f"result slower ({float(rt):.0f} vs {float(qt):.0f} BPM)")
        else:
            both.append(f"similar tempo (~{float(rt):.0f} BPM)")
    parts = []
    if both:
        if len(both) > 1 and both[0].startswith("both"):
            both = [both[0]] + [b.removeprefix("both ") for b in both[1:]]
        elif not both[0].startswith("both") and not both[0].startswith("similar"):
            both[0] = "both " + both[0]
        parts.append(", ".join(both))
    if diffs:
        parts.append(", ".join(diffs))
    return "; ".join(parts) if parts else NO_DESCRIPTORS


def occlusion_shares(fuse: Callable[[dict, dict, str | None], np.ndarray], mods: list[str],
                     result_parts: dict[str, np.ndarray], result_present: dict[str, bool],
                     query_parts: dict[str, np.ndarray] | None, query_present: dict[str, bool] | None,
                     qvec: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Each modality's share of the similarity by occlusion (Zeiler & Fergus 2014).

    ``fuse(parts, present, drop)`` is the model's fused, normalised embedding with modality ``drop``
    marked absent. Without per-modality query parts (text queries), the query vector is fixed and
    only the result side is occluded.
    """
    base_r = fuse(result_parts, result_present, None)
    have_query = query_parts is not None and all(m in query_parts for m in mods)
    base_q = fuse(query_parts, query_present, None) if have_query else qvec
    full = float((base_q * w) @ base_r)
    drops = {}
    for m in mods:
        if not result_present[m]:
            continue  # an absent modality contributes nothing
        x_m = fuse(result_parts, result_present, m)
        q_m = fuse(query_parts, query_present, m) if have_query else qvec
        drops[m] = full - float((q_m * w) @ x_m)
    shares = normalised_shares(drops)
    return {m: shares.get(m, 0.0) for m in mods}
