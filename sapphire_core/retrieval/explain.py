"""Explanations of one search result: which sub-spaces and modalities the similarity comes from,
and the interpretable features of query and result side by side, in words.

- Sub-space shares: the (weighted) inner product is a sum over dimensions, so each named
  sub-space's part of it is exact: ``c_s = sum_{d in s} w_d q_d x_d``. Shares are ``c_s / sum |c|``.
- Modality shares: the fused embedding is a non-linear function of the modality embeddings,
  so shares come from occlusion (Zeiler & Fergus 2014): the drop in similarity when one
  modality is marked absent for the fusion head, normalised over modalities.
- Interpretable features: what an installed :class:`~sapphire_core.explanation.Explanation` reads
  (e.g. the acoustic plugin's mid-level features), each value's level a percentile of the index.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


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
    return "; ".join(parts) if parts else "no perceptual descriptors available for this pair"


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
