"""A reader's own waiting comments in Chromium: the browser's memory of them follows what the
service decided (published, rejected, spam, deleted), and they sit among the others by date."""

from __future__ import annotations

from typing import Any

import pytest
import requests

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

from blogsite import ARTICLE, ARTICLE_SLUG, Site  # noqa: E402

pytestmark = pytest.mark.browser

Page = Any  # playwright.sync_api.Page, imported lazily above


def post_from_widget(page: Page, body: str, email: str = "dana@example.com") -> int:
    page.get_by_role("textbox", name="Name", exact=True).fill("Dana")
    page.get_by_role("textbox", name="Email", exact=True).fill(email)
    page.get_by_role("textbox", name="Comment", exact=True).fill(body)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_role("status")).to_have_text("Thanks! Your comment is awaiting moderation.")
    return int(answer.value.json()["id"])


def delete(site: Site, comment_id: int) -> None:
    url = f"{site.service}/api/moderation/comments/{comment_id}"
    assert requests.delete(url, headers=site.moderator, timeout=10).status_code == 204


def shown(page: Page) -> list[tuple[str, bool]]:
    """Each comment's text in page order, and whether it is marked as waiting."""
    items = page.locator("#comments .commentd-item")
    return [
        (
            item.locator(":scope > .commentd-c .commentd-body").inner_text(),
            item.locator(":scope > .commentd-c .commentd-badge").count() > 0,
        )
        for item in items.all()
    ]


def stored_own(page: Page) -> list[int]:
    own = page.evaluate(f"JSON.parse(localStorage.getItem('commentd.pending.{ARTICLE_SLUG}'))")
    return sorted(entry["comment"]["id"] for entry in own or [])


def test_the_fate_of_a_readers_own_comments_reaches_their_browser(site: Site, page: Page) -> None:
    page.goto(site.page_url(ARTICLE))
    ids = {body: post_from_widget(page, body) for body in ("A", "B", "C", "D", "E")}
    # One written under another address: its own commenter token, kept with it.
    ids["F"] = post_from_widget(page, "F", email="dana@work.example")
    site.moderate(ids["A"], "approve")
    site.moderate(ids["B"], "reject")
    site.moderate(ids["C"], "spam")
    delete(site, ids["D"])
    site.moderate(ids["F"], "reject")
    expect(page.locator(".commentd-pending")).to_have_count(6)

    with page.expect_request(lambda r: "/comments/mine?" in r.url) as asked:
        page.reload()

    assert "Commenter " in (asked.value.headers.get("authorization") or "")
    expect(page.locator(".commentd-item")).to_have_count(2)
    assert shown(page) == [("A", False), ("E", True)]
    assert stored_own(page) == [ids["E"]]
    expect(page.locator(".commentd-heading")).to_have_text("1 comment")

    site.moderate(ids["E"], "approve")
    page.context.new_cdp_session(page).send("Network.clearBrowserCache")  # lists are cached 10 s
    page.reload()
    expect(page.locator(".commentd-heading")).to_have_text("2 comments")
    assert shown(page) == [("A", False), ("E", False)]
    assert stored_own(page) == []


def test_without_an_answer_the_waiting_comments_stay_as_they_were(site: Site, page: Page) -> None:
    page.goto(site.page_url(ARTICLE))
    rejected = post_from_widget(page, "Rejected while the check was down")
    site.moderate(rejected, "reject")
    page.route("**/comments/mine?*", lambda route: route.abort("connectionreset"))

    page.reload()

    expect(page.locator(".commentd-pending")).to_have_count(1)
    assert stored_own(page) == [rejected]
    page.unroute("**/comments/mine?*")
    page.reload()
    expect(page.locator("#comments")).to_contain_text("No comments yet.")
    assert stored_own(page) == []


def test_a_readers_waiting_comments_sit_among_the_others_by_date(site: Site, page: Page) -> None:
    before = site.post(name="Ann", body="Before")["id"]
    site.moderate(before, "approve")
    page.goto(site.page_url(ARTICLE))
    post_from_widget(page, "Mine, waiting")
    after = site.post(name="Ben", body="After")["id"]
    site.moderate(after, "approve")
    # Replies too: under Ann's comment, one before and one after the reader's waiting reply.
    first = site.post(name="Cy", body="Reply 1", parent_id=before)["id"]
    site.moderate(first, "approve")
    page.get_by_role("button", name="Reply to Ann").click()
    post_from_widget(page, "Reply 2, mine")
    third = site.post(name="Di", body="Reply 3", parent_id=before)["id"]
    site.moderate(third, "approve")

    page.context.new_cdp_session(page).send("Network.clearBrowserCache")
    page.reload()

    expect(page.locator(".commentd-item")).to_have_count(6)
    assert shown(page) == [
        ("Before", False),
        ("Reply 1", False),
        ("Reply 2, mine", True),
        ("Reply 3", False),
        ("Mine, waiting", True),
        ("After", False),
    ]
