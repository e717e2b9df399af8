"""docs/make_screenshots.py's helpers (the browser run itself is `make screenshots`)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def shots(load_script):
    return load_script("docs/make_screenshots.py")


def test_the_report_renders_its_tables(shots, tmp_path):
    md = tmp_path / "r.md"
    md.write_text("# Report\n\n| system | top-1 |\n|---|---:|\n| Chroma alignment | 0.938 |\n")
    html = shots.report_html(md)
    assert "<h1>Report</h1>" in html and "<td>Chroma alignment</td>" in html and "0.938" in html


def test_shrink_png_keeps_a_page_small_and_refuses_noise(shots, tmp_path, monkeypatch):
    from PIL import Image

    page = np.full((900, 1100, 3), 255, np.uint8)
    page[100:140, 50:900] = (30, 60, 200)  # a bar and some text-like stripes
    page[200:600:8, 50:700] = 40
    Image.fromarray(page).save(tmp_path / "page.png")
    assert shots.shrink_png(tmp_path / "page.png") < 20_000
    with Image.open(tmp_path / "page.png") as im:
        assert im.mode == "P" and im.size == (1100, 900)
    noise = np.random.default_rng(0).integers(0, 256, (900, 1100, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    with pytest.raises(RuntimeError, match="noise.png.*smaller VIEWPORT"):
        shots.shrink_png(tmp_path / "noise.png")
