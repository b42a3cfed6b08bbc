"""A reader whose comment the spam defences caught asks the author to review it, from the
widget in Chromium (issue 17): the widget says what happened and offers one button."""

from __future__ import annotations

from typing import Any

import pytest
import requests

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

from blogsite import ARTICLE, Site  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.serve_env(COMMENTD_MODERATION="known", COMMENTD_DISALLOWED_KEYWORDS="casino"),
]

Page = Any  # playwright.sync_api.Page, imported lazily above
CAUGHT = (
    "The spam filter caught your comment, so it is not shown. If it got it wrong, the author "
    "can take a look."
)


def status_of(site: Site, comment_id: int) -> tuple[str, list[str]]:
    answer = requests.get(
        f"{site.service}/api/moderation/comments/{comment_id}", headers=site.moderator, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["status"], answer.json()["reasons"]


def test_a_caught_reader_asks_for_review_from_the_widget(site: Site, page: Page) -> None:
    page.goto(site.page_url(ARTICLE))
    page.get_by_role("textbox", name="Name", exact=True).fill("Dana")
    page.get_by_role("textbox", name="Email", exact=True).fill("dana@example.com")
    page.get_by_role("textbox", name="Comment", exact=True).fill(
        "Which casino? Asking for a friend"
    )
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Post comment").click()
    comment_id = int(answer.value.json()["id"])

    status = page.get_by_role("status")
    expect(status).to_contain_text(CAUGHT)
    expect(page.locator(".commentd-pending")).to_have_count(0)  # not shown as waiting
    assert status_of(site, comment_id)[0] == "spam"

    with page.expect_response(lambda r: r.url.endswith("/review")) as asked:
        status.get_by_role("button", name="Ask the author to review it").click()

    assert asked.value.status == 200
    expect(status).to_have_text("Thanks! The author will look at your comment.")
    expect(status.get_by_role("button")).to_have_count(0)
    expect(page.locator(".commentd-pending")).to_have_count(1)  # it waits now, like the others
    state, reasons = status_of(site, comment_id)
    assert state == "pending" and reasons[-1] == "review_requested"


def test_a_comment_that_was_not_caught_offers_no_review(site: Site, page: Page) -> None:
    page.goto(site.page_url(ARTICLE))
    page.get_by_role("textbox", name="Name", exact=True).fill("Dana")
    page.get_by_role("textbox", name="Email", exact=True).fill("dana@example.com")
    page.get_by_role("textbox", name="Comment", exact=True).fill("Thank you, this helped")
    page.get_by_role("button", name="Post comment").click()

    expect(page.get_by_role("status")).to_have_text("Thanks! Your comment is awaiting moderation.")
    expect(page.get_by_role("button", name="Ask the author to review it")).to_have_count(0)
