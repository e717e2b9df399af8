"""The web app in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

A text search, playing a result, an A/B judgement and a triplet judgement, each then found in the
SQLite database; a screenshot of every page goes to ``$SAPPHIRE_SCREENSHOTS`` (default: the test's
tmp folder) and is copied to ``reports/screenshots/`` (gitignored).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from sapphire_core.feedback.sessions import SessionSpec
from sapphire_core.feedback.store import FeedbackStore
from sapphire_core.testing import signals
from sapphire_core.webapp import create_app
from sapphire_core.webapp.memory import MemoryEngine
from sapphire_core.webapp.server import serve_in_thread

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
                 "--no-first-run"]
REPO = Path(__file__).resolve().parents[1]


#: Playwright waits this long for the page. The first search in a fresh environment pays one-time
#: costs (numba compiles librosa's and the plugins' kernels, models load), and on a busy 2-core CI
#: machine that took over 30 s, Playwright's default.
FIRST_SEARCH_MS = 180_000


@pytest.fixture
def served(write_corpus, tmp_path):
    tracks = {}
    for key, root in {"C": 60, "E": 64, "G": 67, "A": 69}.items():
        for timbre, harmonics in (("piano", 2), ("organ", 6)):
            y = signals.chord([root, root + 4, root + 7], sr=22050, seconds=3.0, harmonics=harmonics)
            tracks[f"{key.lower()}-{timbre}"] = (y, 22050, {"title": f"{key} major {timbre}", "key": key,
                                                            "instrument": timbre})
    corpus = write_corpus(tracks)
    model = MemoryEngine.from_corpus(corpus, model_version="model-v1")
    # A poor baseline: every track scored with another track's features (a fixed shuffle).
    shuffle = np.random.default_rng(7).permutation(len(model.ids))
    baseline = MemoryEngine(list(model.records.values()), model.vectors[shuffle], model_version="baseline-v0")
    sessions = [SessionSpec(name="pilot", kind="ab", models=["model", "baseline"], list_length=3, trials_per_rater=2,
                            queries=[{"track": "c-piano"}, {"text": "E major"}], description="model vs baseline")]
    db = tmp_path / "feedback.db"
    app = create_app(model, db_path=db, admin_token="browser-test-token", sessions=sessions, baseline_engine=baseline)
    with serve_in_thread(app) as url:
        yield url, db


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("SAPPHIRE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    keep = REPO / "reports" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    for png in folder.glob("*.png"):
        shutil.copy(png, keep / png.name)


def test_search_play_ab_and_triplet_in_chromium(served, shots):
    from playwright.sync_api import sync_playwright

    url, db = served
    assert url.startswith("http://127.0.0.1:")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(FIRST_SEARCH_MS)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        external: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(url) or r.url.startswith("data:")
                else external.append(r.url))

        # ---- search page: text search, results with players, explanations and sliders
        page.goto(url + "/")
        page.fill("#rater", "browser-rater")
        page.fill("#query", "G major organ")
        page.click("#search-btn")
        page.wait_for_selector("li.result audio")
        titles = page.locator("li.result .title").all_inner_texts()
        assert titles[0] == "G major organ"
        assert page.locator("#sliders input[type=range]").count() == 2
        assert page.locator("li.result .bars .bar").count() > 0
        assert page.locator("li.result .summary").first.inner_text().strip()  # the text result explains itself
        # play the first result: the <audio> element loads the served wav and its clock advances
        state = page.evaluate("""async () => {
            const a = document.querySelector('li.result audio');
            a.muted = true;
            await a.play();
            await new Promise(r => setTimeout(r, 700));
            return {readyState: a.readyState, currentTime: a.currentTime, duration: a.duration, src: a.currentSrc,
                    error: a.error && a.error.code};
        }""")
        assert state["error"] is None and state["readyState"] >= 2, state
        assert state["currentTime"] > 0 and abs(state["duration"] - 3.0) < 0.05, state
        assert state["src"].endswith("/api/audio?id=g-organ")
        page.screenshot(path=str(shots / "search.png"), full_page=True)

        # ---- A/B page: blinded lists, one choice
        page.goto(url + "/ab")
        page.wait_for_selector("#session option", state="attached")
        page.click("#ab-start")
        page.wait_for_selector("#list-A .track audio")
        assert page.locator("#list-A .track").count() == 3 and page.locator("#list-B .track").count() == 3
        assert "baseline" not in page.inner_text("#ab-trial")
        loaded = page.evaluate("""async () => {
            const all = [...document.querySelectorAll('#ab-trial audio')];
            for (let i = 0; i < 100 && all.some(a => a.readyState < 1); i++) await new Promise(r => setTimeout(r, 50));
            return all.map(a => a.readyState);
        }""")
        assert len(loaded) == 7 and min(loaded) >= 1  # the query and both lists' players loaded their wavs
        page.screenshot(path=str(shots / "ab.png"), full_page=True)
        page.click("#choice-A")
        page.wait_for_selector("#ab-status.ok")  # (wait_for_function would need eval, which our CSP forbids)
        assert page.inner_text("#ab-status").startswith("Saved judgement #")

        # ---- triplet page: one judgement
        page.goto(url + "/triplet")
        page.click("#triplet-start")
        page.wait_for_selector("#slot-c .track audio")
        anchor = page.get_attribute("#slot-anchor .track", "data-track")
        b = page.get_attribute("#slot-b .track", "data-track")
        page.screenshot(path=str(shots / "triplet.png"), full_page=True)
        page.click("#triplet-b")
        page.wait_for_selector("#triplet-status.ok")
        assert page.inner_text("#triplet-status").startswith("Saved judgement #")
        browser.close()

    assert errors == [] and external == []
    with FeedbackStore(db) as store:
        ab = store.rows("ab")
        triplets = store.rows("triplets")
    assert len(ab) == 1 and ab[0]["rater"] == "browser-rater" and ab[0]["session"] == "pilot"
    assert ab[0]["choice"] == "left" and ab[0]["winner"] == ab[0]["left_model"]
    assert {ab[0]["left_model_version"], ab[0]["right_model_version"]} == {"model-v1", "baseline-v0"}
    assert len(triplets) == 1 and triplets[0]["anchor"] == anchor and triplets[0]["positive"] == b
    assert triplets[0]["rater"] == "browser-rater" and triplets[0]["model_version"] == "model-v1"
    for name in ("search", "ab", "triplet"):
        assert (shots / f"{name}.png").stat().st_size > 10_000


def test_hum_recording_and_file_upload_in_chromium(served, shots, tmp_path):
    """MediaRecorder with Chromium's fake microphone (a beep tone): the page decodes the recording to wav
    in the browser and uploads it; a file chosen in the file input is searched too."""
    from playwright.sync_api import sync_playwright

    url, _ = served
    query = tmp_path / "query.wav"
    signals.write_wav(query, signals.chord([69, 73, 76], sr=22050, seconds=2.0, harmonics=6), 22050)
    args = CHROMIUM_ARGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        context = browser.new_context()
        context.grant_permissions(["microphone"], origin=url)
        page = context.new_page()
        page.set_default_timeout(FIRST_SEARCH_MS)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/")
        page.set_input_files("#upload", str(query))
        page.click("#upload-btn")
        page.wait_for_selector("li.result")
        assert page.locator("li.result .title").first.inner_text() == "A major organ"
        # the file can be a query of any installed plugin mode that takes audio (e.g. version), as /api/info lists
        modes = page.evaluate("async () => (await (await fetch('/api/info')).json()).modes")
        offered = page.locator("#upload-kind option").evaluate_all("options => options.map(o => o.value)")
        assert offered == ["audio"] + [m for m, kind in modes.items() if kind == "audio" and m != "audio"]
        if "version" in offered:
            page.select_option("#upload-kind", "version")
            with page.expect_response(lambda r: "/api/search/audio?kind=version" in r.url) as sent:
                page.click("#upload-btn")
            assert sent.value.ok
            page.select_option("#upload-kind", "audio")
        page.click("#record-btn")
        page.wait_for_selector("#record-btn.rec")
        page.wait_for_timeout(1500)
        page.click("#record-btn")
        page.wait_for_selector("li.result .bar >> text=hum")  # the explanation names the hum query mode
        status = page.inner_text("#search-status")
        page.screenshot(path=str(shots / "search_hum.png"), full_page=True)
        browser.close()
    assert errors == [] and status.endswith("results"), status
