"""The sentences ``sapphire demo`` ends each step with: built from the step's own results, on small inputs."""

import doctest
import sys
from pathlib import Path

from sapphire_core.cli import demo_narration as N
from sapphire_core.retrieval.result import SearchResult

sys.path.insert(0, str(Path(__file__).parent))
import _trained as T  # noqa: E402


def _results(works: list[str], **meta) -> list[SearchResult]:
    return [SearchResult(f"{w}__v{i}", 1.0 - i / 10, i + 1, {"work_id": w, **meta}, None, {})
            for i, w in enumerate(works)]


def test_the_examples_in_the_module_hold():
    result = doctest.testmod(N)
    assert result.attempted >= 12 and result.failed == 0


def test_search_sentences_follow_the_ranks():
    res = _results(["w2", "w7", "w3", "w3", "w1"])
    assert N.first_rank(res, "w3") == 3 and N.first_rank(res, "w9") is None and N.first_rank(res, None) is None
    assert N.found_sentence("excerpt", "w2", N.first_rank(res, "w2"), 5, other=True) == \
        "The excerpt's first result is another rendering of its work (w2): yes."
    assert N.found_sentence("hum", "w3", N.first_rank(res, "w3"), 5).endswith("no (the first one is at rank 3).")
    assert N.found_sentence("hum", "w9", N.first_rank(res, "w9"), 5).endswith("no (none in the top 5).")
    # the trained model and a plugin mode on the same excerpt, one missing it
    said = N.comparison_sentence({"the trained model": None, "Chroma alignment": 2, "QBH": 1}, 5)
    assert said == ("On this excerpt, the trained model finds no version in the top 5; Chroma alignment finds one at "
                    "rank 2; QBH finds one at rank 1.")
    assert N.comparison_sentence({}, 5) == ""


def test_text_sentence_counts_the_results_with_each_asked_attribute():
    res = _results(["w1", "w2", "w3"], mode="minor") + _results(["w4"], mode="major", era="baroque")
    assert N.attributes_sentence(res, {"mode": "minor", "era": "baroque", "instrument_family": ""}) == \
        "Of the 4 results, 3 share the mode the text asks for (minor), 1 its era (baroque)."
    assert N.attributes_sentence([], {"mode": "minor"}) == "0 results came back."


def test_evaluation_sentence_skips_missing_and_nan_figures():
    rows = [{"name": "MFCC stats", "what": "baseline: MFCC", "audio->audio": {"top1": 0.25},
             "excerpt->audio": {"top1": float("nan")}},
            {"name": "Chroma alignment", "what": "version search", "excerpt->audio": {"top1": 0.8}},
            {"name": "m fused", "what": "m", "audio->audio": {"top1": 0.5}, "excerpt->audio": {"top1": 0.4}}]
    said = N.evaluation_sentences(rows)
    assert said == ("m fused ranks another version first for 50% of held-out tracks; the best baseline, MFCC stats, "
                    "for 25%. Best top-1 on excerpts: Chroma alignment, 80%.")
    assert N.evaluation_sentences([]) == "No system answered the evaluation tasks."


def test_step_sentences_state_the_counts():
    assert N.training_sentence({"top1": float("nan")}) == "The run recorded no validation figures."
    assert N.training_sentence({"top1": 0.5}) == \
        "A held-out track finds another version of its work first 50% of the time."
    assert N.index_sentence(indexed=1, extras={"melody": 1}, failed=0) == \
        "1 track is searchable; the melody extra serves the plugin query modes."
    assert N.extraction_sentence(tracks=3, computed=0, cached=0, failed=3).startswith("0 of 3 tracks")
    assert N.descriptions_sentence([]).startswith("No descriptions")


def test_text_pick_says_what_it_asks_for(tmp_path):
    from sapphire_core.cli.demo_cmd import pick_queries

    corpus = T.write_toy_corpus(tmp_path / "c")
    picks = pick_queries(corpus, ["w1__v0", "w1__v1"])
    wants = picks["text"]["wants"]
    assert wants == {"mode": "minor", "era": "romantic", "instrument_family": "keyboard"}
    assert all(v in picks["text"]["text"] for v in ("minor", "romantic", "piano"))


def test_showcase_searches_end_with_their_sentences(tmp_path):
    """Step 6 of the demo on the toy index: every search table is followed by its sentence."""
    from sapphire_core.cli.common import console
    from sapphire_core.cli.demo_cmd import pick_queries, showcase_searches
    from sapphire_core.retrieval import SearchEngine

    s = T.toy_setup()
    eng = SearchEngine.open(s["index"], registry=s["registry"])
    picks = pick_queries(s["corpus"], ["w1__v0", "w1__v1"])
    width = console.width
    try:
        console.width = 200
        with console.capture() as cap:
            showcase_searches(eng, s["registry"], s["corpus"], picks)
    finally:
        console.width = width
    out = cap.get()
    excerpt = eng.search(audio=s["corpus"] / picks["example"]["audio"], k=5, exclude={"w1__v0"})
    rank = N.first_rank(excerpt, "w1")
    assert N.found_sentence("excerpt", "w1", rank, 5, other=True) in out
    assert "Of the 5 results, " in out and "the mode the text asks for (minor)" in out
    assert "The lyrics' first result is a rendering of its work (w1): " in out
    assert out.count("→ ") == 3  # one sentence per search, no comparison without a plugin mode
