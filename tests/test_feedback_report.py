"""The judgement store and ``sapphire ab-report`` / ``export``: hand-computed statistics, CLI, files."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from typer.testing import CliRunner

from sapphire_core.cli import app
from sapphire_core.feedback.report import ab_report, agreement_rate, fleiss_kappa, pair_result, wilson_interval
from sapphire_core.feedback.store import FeedbackError, FeedbackStore, winner_of

#: Fleiss (1971) style worked example (the one on Wikipedia's "Fleiss' kappa" page): 10 items,
#: 14 raters each, 5 categories; P-bar = 0.378, P_e = 0.213, kappa = 0.210.
FLEISS_TABLE = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])


def test_fleiss_kappa_matches_the_worked_example():
    assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.210, abs=5e-4)
    assert agreement_rate(FLEISS_TABLE) == pytest.approx(0.378, abs=5e-4)
    assert fleiss_kappa(np.array([[3, 0], [0, 3], [3, 0]])) == pytest.approx(1.0)
    assert fleiss_kappa(np.array([[1, 0], [0, 1]])) is None  # no item has two ratings
    assert fleiss_kappa(np.array([[2, 0], [3, 0]])) is None  # one category only: undefined


def test_binomial_test_and_wilson_interval_by_hand():
    r = pair_result("a", "b", 8, 2, ties=3)
    # two-sided exact p for 8 of 10: 2 * (C(10,8) + C(10,9) + C(10,10)) / 2^10 = 112 / 1024
    assert r.p_value == pytest.approx(112 / 1024)
    assert r.win_rate_a == pytest.approx(0.8) and r.decided == 10 and r.ties == 3
    # Wilson 95 %: (p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z = 1.959964
    z, n, p = 1.959964, 10, 0.8
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (r.ci_low, r.ci_high) == pytest.approx((centre - half, centre + half), abs=1e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert pair_result("a", "b", 0, 0).win_rate_a is None


def test_winner_of():
    assert winner_of("left", None, None, "m", "b") == "m"
    assert winner_of("tie", None, None, "m", "b") == "tie"
    assert winner_of(None, 2, 4, "m", "b") == "b"
    assert winner_of(None, 3, 3, "m", "b") == "tie"
    with pytest.raises(FeedbackError, match="choice"):
        winner_of(None, 3, None, "m", "b")


def _fill(db, wins_model=14, wins_baseline=4, ties=2):
    """Two raters judging the same queries (so agreement is defined), plus triplets."""
    store = FeedbackStore(db)
    outcomes = ["model"] * wins_model + ["baseline"] * wins_baseline + ["tie"] * ties
    for i, outcome in enumerate(outcomes):
        rater, query = f"r{i % 2}", f"q{i // 2 % 5}"
        left_is_model = i % 3 == 0
        left = {"model": "model" if left_is_model else "baseline", "model_version": "v", "index_version": "i",
                "ids": ["x", "y"]}
        right = dict(left, model="baseline" if left_is_model else "model", ids=["z", "w"])
        trial = store.add_ab_trial(session="s", rater=rater, query_kind="track", query=query, left=left, right=right)
        choice = "tie" if outcome == "tie" else ("left" if (outcome == "model") == left_is_model else "right")
        store.add_ab(trial, rater=rater, choice=choice)
    for rater in ("r0", "r1", "r2"):
        store.add_triplet(session="open", rater=rater, anchor="a", b="b", c="c", choice="b", model_version="v",
                          index_version="i")
    store.add_triplet(session="open", rater="r2", anchor="a", b="c", c="b", choice="b", model_version="v",
                      index_version="i")  # r2 changes their mind: only the latest vote counts
    store.close()


def test_ab_report_numbers_and_plots(tmp_path):
    db = tmp_path / "fb.db"
    _fill(db)
    report = ab_report(db, out_dir=tmp_path / "rep")
    (pair,) = report["pairs"]
    assert (pair["model_a"], pair["model_b"]) == ("baseline", "model")
    assert (pair["wins_a"], pair["wins_b"], pair["ties"]) == (4, 14, 2)
    from scipy.stats import binomtest

    assert pair["p_value"] == pytest.approx(binomtest(4, 18).pvalue) and pair["p_value"] < 0.05
    assert pair["ci_high"] < 0.5  # the model is significantly preferred
    assert sum(q["wins_a"] + q["wins_b"] + q["ties"] for q in report["per_query"]) == 20
    assert len(report["per_query"]) == 5
    tri = report["agreement"]["triplets"]
    assert tri["items_with_2plus_raters"] == 1 and tri["raters"] == 3
    assert tri["agreement_rate"] == pytest.approx(1 / 3)  # votes b, b, c: 1 agreeing pair of 3
    ab = report["agreement"]["ab"]
    assert ab["items_with_2plus_raters"] == 5 and -1 <= ab["fleiss_kappa"] <= 1
    for name in ("report.json", "win_rates.png", "per_query.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 500
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["pairs"][0]["wins_b"] == 14


def test_store_is_wal_and_rejects_bad_rows(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    assert store.journal_mode == "wal"
    with pytest.raises(FeedbackError, match="choose 'b' or 'c'"):
        store.add_triplet(session="s", rater="r", anchor="a", b="b", c="c", choice="a", model_version="v",
                          index_version="i")
    with pytest.raises(FeedbackError, match="three different"):
        store.add_triplet(session="s", rater="r", anchor="a", b="a", c="c", choice="b", model_version="v",
                          index_version="i")
    with pytest.raises(FeedbackError, match="unknown table"):
        store.rows("sqlite_master")
    with pytest.raises(sqlite3.IntegrityError):  # the schema itself refuses a rating out of 1-5
        trial = store.add_ab_trial(session="s", rater="r", query_kind="text", query="q",
                                   left={"model": "m", "model_version": "v", "index_version": "i", "ids": []},
                                   right={"model": "b", "model_version": "v", "index_version": "i", "ids": []})
        store.add_ab(trial, rater="r", left_rating=9, right_rating=1)
    assert store.counts()["ab"] == 0 and store.integrity_check() == "ok"
    store.close()
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(FeedbackError, match="not a usable feedback database"):
        FeedbackStore(tmp_path / "junk.db")


def test_cli_ab_report_and_export(tmp_path):
    db = tmp_path / "fb.db"
    _fill(db)
    runner = CliRunner()
    r = runner.invoke(app, ["ab-report", str(db), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert "baseline vs model: 4-14 (ties 2)" in r.output and "Fleiss' kappa" in r.output
    r = runner.invoke(app, ["ab-report", str(db), "--json"])
    assert json.loads(r.output)["counts"]["ab"] == 20
    out = tmp_path / "ab.jsonl"
    r = runner.invoke(app, ["export", str(db), "--out", str(out), "--table", "ab", "--format", "jsonl"])
    assert r.exit_code == 0 and len(out.read_text().splitlines()) == 20
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert {"rater", "session", "created", "left_model_version", "right_index_version", "winner"} <= set(rows[0])
    out_csv = tmp_path / "t.csv"
    r = runner.invoke(app, ["export", str(db), "--out", str(out_csv), "--table", "triplets"])
    assert r.exit_code == 0 and out_csv.read_text().count("\n") == 5
