"""Produce docs/widget.png and docs/moderation.png: the example blog with a few real comments,
served next to a real `commentd serve`, photographed in Debian's Chromium.

Run from the repository: `.venv/bin/python scripts/screenshots.py`.
"""

from __future__ import annotations

import sys
import tempfile
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


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    blog = load_example_blog().serve(0, "http://127.0.0.1:1")
    with tempfile.TemporaryDirectory() as tmp:
        server = start_service(Path(tmp), blog.origin)
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
                browser.close()
        finally:
            server.stop()
            blog.shutdown()
            blog.server_close()
    print(f"wrote {DOCS / 'widget.png'} and {DOCS / 'moderation.png'}")


if __name__ == "__main__":
    main()
