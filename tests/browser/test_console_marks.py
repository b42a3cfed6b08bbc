"""What the author's console does, as a reader sees it in Chromium on the example blog: the
author's reply carries an "Author" badge, a pinned comment shows first, marked "Pinned"; and
the widget sends the page's title with a comment, which the author then sees."""

from __future__ import annotations

from typing import Any

import pytest
import requests

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

from blogsite import ARTICLE, ARTICLE_SLUG, Site  # noqa: E402

pytestmark = pytest.mark.browser

Page = Any  # playwright.sync_api.Page, imported lazily above


def test_the_authors_reply_has_a_badge_and_a_pinned_comment_shows_first(
    site: Site, page: Page
) -> None:
    first = site.post(name="Dana", body="First!")["id"]
    second = site.post(name="Ravi", body="Second, and worth reading.")["id"]
    for comment_id in (first, second):
        site.moderate(comment_id, "approve")
    reply = requests.post(
        f"{site.service}/api/moderation/comments/{first}/reply",
        json={"body": "Thanks, Dana."},
        headers=site.moderator,
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    pinned = requests.post(
        f"{site.service}/api/moderation/comments/{second}/pin", headers=site.moderator, timeout=10
    )
    assert pinned.status_code == 200, pinned.text

    page.goto(site.page_url(ARTICLE))

    expect(page.locator(".commentd-item")).to_have_count(3)
    first_shown = page.locator(".commentd-item").first
    expect(first_shown).to_have_attribute("id", f"comment-{second}")
    expect(first_shown).to_have_class("commentd-item commentd-pinned")
    expect(first_shown.locator(".commentd-pin")).to_have_text("Pinned")
    answer = page.locator(f"#comment-{reply.json()['id']}")
    expect(answer.locator(".commentd-name")).to_have_text("Author")
    expect(answer.locator(".commentd-owner")).to_have_text("Author")
    # Only the author's comment is badged, and only the pinned one is marked.
    expect(page.locator(".commentd-owner")).to_have_count(1)
    expect(page.locator(".commentd-pin")).to_have_count(1)


def test_the_widget_sends_the_pages_title_with_a_comment(site: Site, page: Page) -> None:
    page.goto(site.page_url(ARTICLE))
    page.get_by_role("textbox", name="Name", exact=True).fill("Dana")
    page.get_by_role("textbox", name="Email", exact=True).fill("dana@example.com")
    page.get_by_role("textbox", name="Comment", exact=True).fill("Nice article.")
    page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_role("status")).to_have_text("Thanks! Your comment is awaiting moderation.")

    [stored] = site.queue("pending")

    assert stored["slug"] == ARTICLE_SLUG
    assert stored["post_title"] == page.title() == "3-Minute Muscles: Gluteus Medius · Revivified"
