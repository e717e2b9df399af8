"""``sapphire ab-report DB``: what the listening tests say.

- Win rate per model pair, ties left out of the rate, with an exact two-sided binomial test
  against 50 % (scipy's ``binomtest``) and a Wilson score interval
  (Wilson 1927; recommended over the Wald interval by Brown, Cai & DasGupta 2001).
- Inter-rater agreement over items judged by two or more raters: Fleiss' kappa (Fleiss 1971,
  eqs. 2-9; with varying raters per item, each item's agreement uses its own count) and the raw
  pairwise agreement rate. A/B items are (session, query, model pair); triplet items are
  (anchor, {B, C}).
- A per-query breakdown and plots (win rate with its interval; per-query win rates).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.feedback.store import FeedbackError, FeedbackStore


@dataclass
class PairResult:
    """A/B outcome of one model pair (``model_a`` < ``model_b`` alphabetically)."""

    model_a: str
    model_b: str
    wins_a: int
    wins_b: int
    ties: int
    win_rate_a: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None

    @property
    def decided(self) -> int:
        return self.wins_a + self.wins_b


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927)."""
    from scipy.stats import norm

    if n == 0:
        return (0.0, 1.0)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def pair_result(model_a: str, model_b: str, wins_a: int, wins_b: int, ties: int = 0, *,
                confidence: float = 0.95) -> PairResult:
    """Win rate of ``model_a`` over ``model_b`` with an exact binomial test (H0: 50 %) and Wilson interval."""
    from scipy.stats import binomtest

    n = wins_a + wins_b
    if n == 0:
        return PairResult(model_a, model_b, wins_a, wins_b, ties, None, None, None, None)
    lo, hi = wilson_interval(wins_a, n, confidence=confidence)
    p = float(binomtest(wins_a, n, 0.5, alternative="two-sided").pvalue)
    return PairResult(model_a, model_b, wins_a, wins_b, ties, wins_a / n, lo, hi, p)


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa of an ``(items, categories)`` table of how many raters put each item in each category.

    Items with fewer than two ratings are dropped. Returns None when no item is left or when all
    ratings fall in one category (kappa is undefined there).
    """
    counts = np.asarray(counts, dtype=np.float64)
    n_i = counts.sum(axis=1)
    counts, n_i = counts[n_i >= 2], n_i[n_i >= 2]
    if len(counts) == 0:
        return None
    p_i = ((counts**2).sum(axis=1) - n_i) / (n_i * (n_i - 1))  # Fleiss eq. 6, per item
    p_bar = float(p_i.mean())
    p_j = counts.sum(axis=0) / n_i.sum()
    p_e = float((p_j**2).sum())
    if p_e >= 1.0:
        return None
    return (p_bar - p_e) / (1 - p_e)


def agreement_rate(counts: np.ndarray) -> float | None:
    """Mean share of agreeing rater pairs per item (Fleiss' P-bar), over items with two or more ratings."""
    counts = np.asarray(counts, dtype=np.float64)
    n_i = counts.sum(axis=1)
    counts, n_i = counts[n_i >= 2], n_i[n_i >= 2]
    if len(counts) == 0:
        return None
    return float((((counts**2).sum(axis=1) - n_i) / (n_i * (n_i - 1))).mean())


def _table(items: dict[Any, list[str]]) -> tuple[np.ndarray, list[str]]:
    cats = sorted({c for v in items.values() for c in v})
    out = np.zeros((len(items), len(cats)))
    for i, votes in enumerate(items.values()):
        for v in votes:
            out[i, cats.index(v)] += 1
    return out, cats


def _latest_per_rater(rows: list[dict], key) -> dict[Any, list[str]]:
    """Item -> one vote per rater (their latest), so a rater repeating an item is not self-agreement."""
    per: dict[Any, dict[str, str]] = defaultdict(dict)
    for r in rows:
        item, vote = key(r)
        per[item][r["rater"]] = vote
    return {k: list(v.values()) for k, v in per.items()}


def ab_report(db_path: str | Path, *, out_dir: str | Path | None = None, confidence: float = 0.95) -> dict[str, Any]:
    """Summarise a feedback database.

    Parameters
    ----------
    db_path : path
        The SQLite store.
    out_dir : path, optional
        Where ``report.json``, ``win_rates.png`` and ``per_query.png`` go.
    confidence : float
        Level of the Wilson intervals.

    Returns
    -------
    dict
        ``pairs`` (list of :class:`PairResult` dicts), ``agreement`` (A/B and triplet Fleiss' kappa,
        agreement rate, item counts), ``per_query`` and ``counts``.

    Raises
    ------
    FeedbackError
        When the database does not exist.
    """
    if not Path(db_path).is_file():
        raise FeedbackError(f"{db_path}: feedback database not found")
    with FeedbackStore(db_path) as store:
        ab, triplets, counts = store.rows("ab"), store.rows("triplets"), store.counts()

    tallies: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    per_query: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in ab:
        a, b = sorted((r["left_model"], r["right_model"]))
        slot = 2 if r["winner"] == "tie" else (0 if r["winner"] == a else 1)
        tallies[(a, b)][slot] += 1
        per_query[(a, b, r["query_kind"], r["query"])][slot] += 1
    pairs = [pair_result(a, b, *t, confidence=confidence) for (a, b), t in sorted(tallies.items())]
    queries = []
    for (a, b, kind, q), (wa, wb, ties) in sorted(per_query.items()):
        n = wa + wb
        queries.append({"model_a": a, "model_b": b, "query_kind": kind, "query": q, "wins_a": wa, "wins_b": wb,
                        "ties": ties, "win_rate_a": (wa / n) if n else None})

    ab_items = _latest_per_rater(ab, lambda r: ((r["session"], r["query_kind"], r["query"],
                                                 tuple(sorted((r["left_model"], r["right_model"])))), r["winner"]))
    tri_items = _latest_per_rater(triplets, lambda r: ((r["anchor"], tuple(sorted((r["b"], r["c"])))), r["positive"]))
    agreement = {}
    for name, items in (("ab", ab_items), ("triplets", tri_items)):
        table, _ = _table(items) if items else (np.zeros((0, 0)), [])
        shared = int((table.sum(axis=1) >= 2).sum()) if len(table) else 0
        agreement[name] = {"fleiss_kappa": fleiss_kappa(table) if len(table) else None,
                           "agreement_rate": agreement_rate(table) if len(table) else None,
                           "items_with_2plus_raters": shared, "raters": len({r["rater"] for r in
                                                                             (ab if name == "ab" else triplets)})}
    report = {"db": str(db_path), "confidence": confidence, "counts": counts,
              "pairs": [{**asdict(p), "decided": p.decided} for p in pairs], "agreement": agreement,
              "per_query": queries}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2))
        report["plots"] = plot_report(report, out)
    return report


def plot_report(report: dict[str, Any], out_dir: Path) -> list[str]:
    """Win rate per pair with its interval, and per-query win rates; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    pairs = [p for p in report["pairs"] if p["win_rate_a"] is not None]
    if pairs:
        fig, ax = plt.subplots(figsize=(6, 0.6 + 0.5 * len(pairs)))
        y = np.arange(len(pairs))
        rates = np.array([p["win_rate_a"] for p in pairs])
        err = np.array([[p["win_rate_a"] - p["ci_low"], p["ci_high"] - p["win_rate_a"]] for p in pairs]).T
        ax.errorbar(rates, y, xerr=err, fmt="o", capsize=4)
        ax.axvline(0.5, color="grey", ls="--", lw=1)
        ax.set_yticks(y, [f"{p['model_a']} vs {p['model_b']} (n={p['decided']}, p={p['p_value']:.3g})" for p in pairs])
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"win rate of the first model ({report['confidence']:.0%} Wilson interval)")
        fig.tight_layout()
        fig.savefig(out_dir / "win_rates.png", dpi=110)
        plt.close(fig)
        written.append(str(out_dir / "win_rates.png"))
    queries = [q for q in report["per_query"] if q["win_rate_a"] is not None]
    if queries:
        fig, ax = plt.subplots(figsize=(7, 0.6 + 0.3 * len(queries)))
        y = np.arange(len(queries))
        ax.barh(y, [q["win_rate_a"] for q in queries])
        ax.axvline(0.5, color="grey", ls="--", lw=1)
        ax.set_yticks(y, [f"{q['query'][:30]} ({q['model_a']} vs {q['model_b']})" for q in queries], fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_xlabel("win rate of the first model, per query")
        fig.tight_layout()
        fig.savefig(out_dir / "per_query.png", dpi=110)
        plt.close(fig)
        written.append(str(out_dir / "per_query.png"))
    return written


def format_report(report: dict[str, Any]) -> str:
    """The report as plain text for the terminal."""

    def f(x, spec=".3f"):
        return "n/a" if x is None else format(x, spec)

    lines = [f"{report['db']}: {report['counts']['ab']} A/B judgements, {report['counts']['triplets']} triplets"]
    for p in report["pairs"]:
        lines.append(f"  {p['model_a']} vs {p['model_b']}: {p['wins_a']}-{p['wins_b']} (ties {p['ties']}), "
                     f"win rate {f(p['win_rate_a'])} [{f(p['ci_low'])}, {f(p['ci_high'])}], "
                     f"binomial p={f(p['p_value'], '.3g')}")
    for name, a in report["agreement"].items():
        lines.append(f"  agreement ({name}): Fleiss' kappa {f(a['fleiss_kappa'])}, rate {f(a['agreement_rate'])} "
                     f"over {a['items_with_2plus_raters']} items judged by 2+ of {a['raters']} raters")
    for q in report["per_query"]:
        lines.append(f"    {q['query_kind']} {q['query'][:40]!r}: {q['model_a']} {q['wins_a']}-{q['wins_b']} "
                     f"{q['model_b']} (ties {q['ties']})")
    for p in report.get("plots", []):
        lines.append(f"  plot: {p}")
    return "\n".join(lines)
