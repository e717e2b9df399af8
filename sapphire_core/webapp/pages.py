"""The pages share one shell (head, header, navigation, ``static/shell.html``); each page's own
content is ``static/<page>.html`` and its script ``static/<page>.js``."""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import HTMLResponse

STATIC_DIR = Path(__file__).with_name("static")
#: page -> (route, navigation label, title)
PAGES = {"search": ("/", "Search", "search"), "ab": ("/ab", "A/B listening test", "A/B listening test"),
         "triplet": ("/triplet", "Triplets", "triplets")}


def render_page(page: str) -> str:
    """The HTML of one page: the shell around its content, its entry marked active in the navigation."""
    active = ' class="active"'
    nav = "".join(f'<a href="{route}"{active if name == page else ""}>{label}</a>'
                  for name, (route, label, _) in PAGES.items())
    html = (STATIC_DIR / "shell.html").read_text(encoding="utf-8")
    for key, value in (("title", PAGES[page][2]), ("page", page), ("nav", nav),
                       ("main", (STATIC_DIR / f"{page}.html").read_text(encoding="utf-8").rstrip("\n"))):
        html = html.replace("{{" + key + "}}", value)
    return html


def page_response(page: str) -> HTMLResponse:
    return HTMLResponse(render_page(page))
