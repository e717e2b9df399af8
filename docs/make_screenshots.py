"""Regenerate the README's screenshots: ``make screenshots`` (docs/img/search.png, docs/img/report.png).

1. Renders a few music21 works with FluidSynth (``data/screenshots/corpus``, two renderings each) and
   indexes them with the base model shipped in sapphire-core, as ``sapphire index`` does for a user's
   own folder. Both steps are skipped when already done. The demo index would show more, but it
   needs the demo's training (many minutes); this needs about three on two cores.
2. Serves the web app on 127.0.0.1 and runs a text search in Debian's Chromium (Playwright), then
   saves the page with its results and their explanations.
3. Renders docs/quality.md (the quality report ``make quality`` writes) to HTML and saves its top.

Both images are limited to a fixed viewport and reduced to a 128-colour palette, so each stays well
under 300 KB. Run it in the project's environment: ``.venv/bin/python docs/make_screenshots.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "img"
WORK = REPO / "data" / "screenshots"
#: Eight works of different eras and textures (chorale, mass, madrigal, sonata, mazurka, rag, aria,
#: reel), none held out from evaluation.
WORKS = ["bach/bwv413.mxl", "palestrina/Gloria_37.krn", "monteverdi/madrigal.3.1.mxl",
         "mozart/k545/movement1_exposition.mxl", "chopin/mazurka06-2.krn", "joplin/maple_leaf_rag.mxl",
         "handel/rinaldo/Lascia_chio_pianga.mxl", "ryansMammoth/TornadoReel.abc"]
QUERY = "slow, sad choir in a minor key"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run"]
VIEWPORT = {"width": 1100, "height": 900}
MAX_BYTES = 300_000
REPORT_CSS = """body { font: 14px/1.45 system-ui, sans-serif; max-width: 1000px; margin: 24px auto; color: #222; }
table { border-collapse: collapse; margin: 8px 0 16px; } th, td { border: 1px solid #ccc; padding: 3px 8px; }
td { text-align: right; } td:first-child { text-align: left; } code { background: #f3f3f3; padding: 0 3px; }
h1, h2, h3 { margin: 18px 0 6px; }"""


def build_index(work: Path) -> Path:
    """The rendered corpus and its index under ``work`` (each built only when missing)."""
    from sapphire_core.corpus.build import build_corpus

    corpus, index = work / "corpus", work / "index"
    build_corpus(corpus, only=WORKS, variants=2, workers=2)
    if not (index / "manifest.json").exists():
        # the command a user runs on their own folder: no --model, the shipped base model
        subprocess.run([sys.executable, "-m", "sapphire_core.cli", "index", "--corpus", str(corpus),
                        "--out", str(index)], check=True)
    return index


def shrink_png(path: Path, *, colours: int = 128) -> int:
    """Re-save ``path`` as an optimised palette PNG; returns its size in bytes.

    Raises
    ------
    RuntimeError
        When the image is still over :data:`MAX_BYTES` (a taller viewport or a busier page).
    """
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise RuntimeError(f"{path}: {size} bytes after quantising, over {MAX_BYTES}; use a smaller VIEWPORT")
    return size


def report_html(markdown_path: Path) -> str:
    """A Markdown report as a standalone HTML page."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown_path.read_text())
    return f"<!doctype html><html><head><meta charset='utf-8'><style>{REPORT_CSS}</style></head><body>{body}</body></html>"


def take_screenshots(index: Path, out: Path) -> dict[str, int]:
    """``search.png`` (a text search with explanations) and ``report.png`` (docs/quality.md) in ``out``."""
    from playwright.sync_api import sync_playwright

    from sapphire_core.retrieval import SearchEngine
    from sapphire_core.webapp import create_app
    from sapphire_core.webapp.server import serve_in_thread

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(SearchEngine.open(index), db_path=Path(tmp) / "feedback.db",
                         admin_token="screenshot-admin-token")
        report = Path(tmp) / "quality.html"
        report.write_text(report_html(REPO / "docs" / "quality.md"))
        with serve_in_thread(app) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(180_000)  # the first search loads the models
            page.goto(url + "/")
            page.fill("#query", QUERY)
            page.click("#search-btn")
            page.wait_for_selector("li.result .summary")
            page.screenshot(path=str(out / "search.png"))
            page.goto(report.as_uri())
            page.screenshot(path=str(out / "report.png"))
            browser.close()
    return {name: shrink_png(out / name) for name in ("search.png", "report.png")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=WORK, help="where the corpus and index go (reused)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go")
    args = parser.parse_args(argv)
    for name, size in take_screenshots(build_index(args.work), args.out).items():
        print(f"wrote {args.out / name} ({size // 1000} KB)")


if __name__ == "__main__":
    main()
