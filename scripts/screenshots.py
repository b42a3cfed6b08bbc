"""Produce docs/widget.png and docs/moderation.png: the example blog with a few real comments,
served next to a real `commentd serve`, photographed in Debian's Chromium; and, when Pelican is
at hand, docs/img/pelican-*.png: the widget in a real Pelican site (the themes Pelican ships,
`notmyidea` in light and dark, and `simple`), to show it takes the theme's look.

Run from the repository: `.venv/bin/python scripts/screenshots.py [--pelican PATH]`. Pelican is
not a dependency of commentd: install it anywhere (`python3 -m venv /tmp/pelican &&
/tmp/pelican/bin/pip install pelican markdown`) and give its `pelican` command; without one on
the PATH the Pelican screenshots are skipped, with a message.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' helpers: one way to start a server, one set of limits

# The seed posts several comments in a second from one address, some from one email: the
# tests' LIFTED_LIMITS lift every limit that would answer 429 to that.
from tests.helpers import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    LIFTED_LIMITS,
    LiveServer,
    load_example_blog,
    start_server,
)

DOCS = ROOT / "docs"
IMG = DOCS / "img"
TOKEN = "screenshot-token-0123456789"
SLUG = "3-minute-muscles-gluteus-medius"


def start_service(workdir: Path, blog_origin: str) -> LiveServer:
    """`commentd serve` on a port of its own, as the tests start it (tests/helpers.py)."""
    env = {
        "COMMENTD_DATABASE_URL": f"sqlite:///{workdir / 'commentd.db'}",
        "COMMENTD_ADMIN_TOKEN": TOKEN,
        "COMMENTD_ALLOWED_ORIGINS": blog_origin,
        "COMMENTD_MIN_FILL_SECONDS": "0",
    } | LIFTED_LIMITS
    return start_server(env, workdir)


def seed(service: str) -> None:
    """A small, plausible conversation: approved comments with a reply, and a queue to moderate."""
    moderator = {"Authorization": f"Bearer {TOKEN}"}

    def post(**fields: Any) -> int:
        slug = fields.pop("slug", SLUG)
        if fields.pop("from_the_form", True):
            fields["form_token"] = requests.get(f"{service}/api/form-token", timeout=5).json()[
                "form_token"
            ]
        response = requests.post(f"{service}/api/posts/{slug}/comments", json=fields, timeout=5)
        response.raise_for_status()
        return int(response.json()["id"])

    def approve(comment_id: int) -> None:
        url = f"{service}/api/moderation/comments/{comment_id}/approve"
        requests.post(url, headers=moderator, timeout=5).raise_for_status()

    maya = post(
        name="Maya Lindqvist",
        email="maya@example.com",
        website="https://maya.example",
        body="Pigeon pose changed my runs. I had no idea the **gluteus medius** was behind "
        "my knee pain.",
    )
    approve(maya)
    approve(
        post(
            name="Revivified",
            email="author@example.com",
            parent_id=maya,
            body="So glad to hear it, Maya! Add the clamshells too: three sets of "
            "twenty-five on each side.",
        )
    )
    approve(
        post(
            name="Tom Okafor",
            email="tom@example.com",
            body="Is the chair stretch fine to do at work? My desk chair has wheels…",
        )
    )
    post(
        name="Priya",
        email="priya@example.com",
        website="https://priya.example",
        body="Does the clamshell help with hip pain after long drives?",
        notify=True,
        parent_id=maya,
    )
    post(  # no form token and two links: held, with its reasons shown
        name="Best Deals 4U",
        email="deals@spam.example",
        body="Great post!!! Cheap supplements at https://pills.example and https://deals.example",
        slug="about",
        from_the_form=False,
    )


def shoot_widget(page: Page, blog: str) -> None:
    page.goto(f"{blog}/posts/{SLUG}.html")
    page.get_by_role("textbox", name="Name", exact=True).fill("Sam Reyes")
    page.get_by_role("textbox", name="Email", exact=True).fill("sam@example.com")
    page.get_by_role("textbox", name="Comment", exact=True).fill(
        "I do these between massage clients. Any tips for the *piriformis*?"
    )
    page.get_by_role("button", name="Post comment").click()
    page.get_by_text("Thanks! Your comment is awaiting moderation.").wait_for()
    page.get_by_role("textbox", name="Name", exact=True).focus()
    page.locator("#comments").screenshot(path=DOCS / "widget.png")


def shoot_queue(page: Page, blog: str) -> None:
    page.goto(f"{blog}/moderate.html")
    page.get_by_label("Moderation token").fill(TOKEN)
    page.keyboard.press("Enter")
    page.locator(".commentd-mod-item").nth(2).wait_for()
    page.locator(".commentd-mod-item").nth(1).get_by_role("checkbox").check()
    page.mouse.move(0, 0)
    page.locator("main").screenshot(path=DOCS / "moderation.png")


# A Pelican site of one article, the widget added the way a theme's user would: a template
# override (THEME_TEMPLATES_OVERRIDES) that extends the theme's own article page.
PELICAN_ARTICLE = f"""Title: Three-minute muscles: gluteus medius
Date: 2026-11-20 09:00
Category: Muscles
Slug: {SLUG}

The **gluteus medius** keeps the pelvis level when you stand on one leg. When it is weak, the
knee drifts inwards on every step.

## Two moves

Clamshells and the pigeon pose. Count them as you go:

```python
for side in ("left", "right"):
    clamshells(side, sets=3, reps=25)  # slow, no rocking
```
"""
PELICAN_OVERRIDE = """{% extends "!theme/article.html" %}
{% block content %}
{{ super() }}
<section class="body"><div id="comments" data-slug="{{ article.slug }}"></div></section>
<script src="{{ COMMENTD_URL }}/embed.js" defer></script>
{% endblock %}
"""
PELICAN_CONF = """AUTHOR = "Revivified"
SITENAME = "Revivified"
SITEURL = ""
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
THEME = {theme!r}
THEME_TEMPLATES_OVERRIDES = [{overrides!r}]
COMMENTD_URL = {service!r}
FEED_ALL_ATOM = None
CATEGORY_FEED_ATOM = None
LINKS = ()
SOCIAL = ()
"""


def build_pelican(pelican: str, workdir: Path, theme: str, service: str) -> Path:
    """A real Pelican build of PELICAN_ARTICLE with `theme`; returns its output folder."""
    site = workdir / f"pelican-{theme}"
    (site / "content").mkdir(parents=True)
    (site / "overrides").mkdir()
    (site / "content" / "gluteus-medius.md").write_text(PELICAN_ARTICLE)
    (site / "overrides" / "article.html").write_text(PELICAN_OVERRIDE)
    conf = PELICAN_CONF.format(theme=theme, overrides=str(site / "overrides"), service=service)
    (site / "pelicanconf.py").write_text(conf)
    output = site / "output"
    subprocess.run(
        [pelican, str(site / "content"), "-s", str(site / "pelicanconf.py"), "-o", str(output)],
        check=True,
        capture_output=True,
    )
    return output


def serve_folder(folder: Path) -> ThreadingHTTPServer:
    """`folder` over HTTP on a free port of 127.0.0.1, in a thread (quiet)."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=folder))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def shoot_pelican(browser: Any, origin: str, name: str, scheme: str, reply: bool) -> None:
    """The article's comments in a Pelican theme; `reply`: a reader has just replied to Maya."""
    context = browser.new_context(
        viewport={"width": 900, "height": 900}, locale="en-US", color_scheme=scheme
    )
    page = context.new_page()
    page.goto(f"{origin}/{SLUG}.html")
    page.locator(".commentd-item").nth(2).wait_for()
    if reply:
        page.get_by_role("button", name="Reply to Maya Lindqvist").click()
        page.get_by_role("textbox", name="Name", exact=True).fill("Sam Reyes")
        page.get_by_role("textbox", name="Email", exact=True).fill("sam@example.com")
        page.get_by_role("textbox", name="Comment", exact=True).fill("Does it help knees too?")
        page.get_by_role("button", name="Post comment").click()
        page.locator(".commentd-thanks").wait_for()
    page.mouse.move(0, 0)
    # The end of the article (its code block, highlighted by Pygments), then the comments.
    end = page.locator("pre").last.bounding_box()
    box = page.locator("#comments").bounding_box()
    assert end is not None and box is not None
    scroll_x, scroll_y = page.evaluate("[scrollX, scrollY]")  # boxes are in the viewport's
    top, left = end["y"] + scroll_y - 16, box["x"] + scroll_x - 24
    clip = {
        "x": left,
        "y": top,
        "width": box["width"] + 48,
        "height": box["y"] + scroll_y + box["height"] - top + 16,
    }
    page.screenshot(path=IMG / f"{name}.png", clip=clip, full_page=True)
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pelican", default=shutil.which("pelican"), help="pelican's command")
    args = parser.parse_args()
    DOCS.mkdir(exist_ok=True)
    IMG.mkdir(exist_ok=True)
    blog = load_example_blog().serve(0, "http://127.0.0.1:1")
    with tempfile.TemporaryDirectory() as tmp:
        # Each theme's site on its own origin, served before it is built (the service must
        # know the origins it allows, and the build the service's URL).
        pelican_sites = {
            theme: serve_folder(Path(tmp) / f"pelican-{theme}" / "output")
            for theme in ("notmyidea", "simple")
        }
        origins = [blog.origin] + [
            f"http://127.0.0.1:{site.server_address[1]}" for site in pelican_sites.values()
        ]
        server = start_service(Path(tmp), ",".join(origins))
        service = server.url
        blog.comments_url = service
        try:
            seed(service)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(
                    viewport={"width": 820, "height": 900}, locale="en-US"
                )
                shoot_widget(context.new_page(), blog.origin)
                wide = browser.new_context(viewport={"width": 1000, "height": 900}, locale="en-US")
                shoot_queue(wide.new_page(), blog.origin)
                if args.pelican:
                    for theme, site in pelican_sites.items():
                        build_pelican(args.pelican, Path(tmp), theme, service)
                        origin = f"http://127.0.0.1:{site.server_address[1]}"
                        shoot_pelican(browser, origin, f"pelican-{theme}-light", "light", True)
                        if theme == "notmyidea":
                            shoot_pelican(browser, origin, f"pelican-{theme}-dark", "dark", False)
                else:
                    print("no pelican command: the Pelican screenshots are left as they were")
                browser.close()
        finally:
            server.stop()
            blog.shutdown()
            blog.server_close()
            for site in pelican_sites.values():
                site.shutdown()
                site.server_close()
    print(f"wrote {DOCS / 'widget.png'}, {DOCS / 'moderation.png'} and {IMG}/pelican-*.png")


if __name__ == "__main__":
    main()
