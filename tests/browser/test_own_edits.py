"""The reader's own comments in Chromium (issue 15): Edit and Delete with the time left, an
edit in place with the service's field errors, a delete after a confirmation, the controls
gone when the window closes, and the "Your comments and your data" form."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

from blogsite import ARTICLE, ARTICLE_SLUG, Site  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.serve_env(COMMENTD_MODERATION="none")]

Page = Any  # playwright.sync_api.Page, imported lazily above


def post_from_widget(page: Page, body: str) -> int:
    page.get_by_role("textbox", name="Name", exact=True).fill("Dana")
    page.get_by_role("textbox", name="Email", exact=True).fill("dana@example.com")
    page.get_by_role("textbox", name="Comment", exact=True).fill(body)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Post comment").click()
    return int(answer.value.json()["id"])


def item(page: Page, comment_id: int) -> Any:
    return page.locator(f"#comment-{comment_id}")


def test_the_reader_edits_their_comment_in_place_with_the_services_field_errors(
    site: Site, page: Page
) -> None:
    page.goto(site.page_url(ARTICLE))
    mine = post_from_widget(page, "Pigeon pose helps")
    comment = item(page, mine)
    expect(comment.locator(".commentd-countdown")).to_have_text(
        re.compile(r"^1[45]:\d\d left to edit or delete$")
    )

    comment.get_by_role("button", name="Edit").click()
    box = comment.get_by_role("textbox", name="Your comment")
    expect(box).to_have_value("Pigeon pose helps")
    box.fill("\u200b")  # nothing visible: the service's own rule refuses it
    comment.get_by_role("button", name="Save").click()
    expect(comment.locator(".commentd-edit .commentd-err")).to_have_text("Please write a comment.")
    expect(box).to_have_attribute("aria-invalid", "true")

    box.fill("Pigeon pose helps, *twice a day*")
    comment.get_by_role("button", name="Save").click()

    expect(comment.locator(".commentd-body")).to_have_text("Pigeon pose helps, twice a day")
    expect(comment.locator(".commentd-body em")).to_have_text("twice a day")
    stored = site.comment(mine).json()
    assert stored["body"] == "Pigeon pose helps, *twice a day*" and stored["edited_at"]
    page.reload()  # the window and the Markdown as typed outlive the page
    item(page, mine).get_by_role("button", name="Edit").click()
    expect(item(page, mine).get_by_role("textbox", name="Your comment")).to_have_value(
        "Pigeon pose helps, *twice a day*"
    )


def test_the_reader_deletes_after_confirming_and_replies_stay(site: Site, page: Page) -> None:
    page.goto(site.page_url(ARTICLE))
    mine = post_from_widget(page, "Delete me")
    reply = site.post(name="Ben", email="ben@example.com", body="A reply", parent_id=mine)
    site.moderate(reply["id"], "approve")
    page.reload()
    comment = item(page, mine)

    comment.get_by_role("button", name="Delete").click()
    expect(comment.get_by_text("Delete this comment for good?")).to_be_visible()
    comment.get_by_role("button", name="Keep it").click()
    expect(comment.get_by_text("Delete this comment for good?")).to_have_count(0)
    assert site.comment(mine).status_code == 200  # nothing happened yet
    comment.get_by_role("button", name="Delete").click()
    comment.get_by_role("button", name="Yes, delete it").click()

    expect(item(page, mine)).to_have_count(0)
    expect(item(page, reply["id"]).locator(".commentd-body")).to_have_text("A reply")
    assert site.comment(mine).status_code == 404


def test_others_comments_have_no_controls_and_the_controls_go_when_the_window_closes(
    site: Site, page: Page
) -> None:
    other = site.post(name="Ben", email="ben@example.com", body="Not hers")
    site.moderate(other["id"], "approve")
    page.goto(site.page_url(ARTICLE))
    mine = post_from_widget(page, "Mine")
    expect(item(page, mine).get_by_role("button", name="Edit")).to_be_visible()
    expect(item(page, other["id"]).get_by_role("button", name="Edit")).to_have_count(0)

    # The window's end as the 201 gave it, moved to two seconds from now.
    page.evaluate(
        f"""() => {{
        const key = 'commentd.own.{ARTICLE_SLUG}';
        const own = JSON.parse(localStorage.getItem(key));
        own[0].until = new Date(Date.now() + 2000).toISOString();
        localStorage.setItem(key, JSON.stringify(own));
    }}"""
    )
    page.reload()
    expect(item(page, mine).get_by_role("button", name="Edit")).to_be_visible()
    expect(item(page, mine).get_by_role("button", name="Edit")).to_have_count(0)
    expect(item(page, mine).locator(".commentd-countdown")).to_have_count(0)


def test_your_comments_and_your_data_form_asks_for_a_link(site: Site, page: Page) -> None:
    page.goto(site.page_url(ARTICLE))
    page.get_by_role("button", name="Your comments and your data").click()
    address = page.get_by_role("textbox", name="Email", exact=True).last
    page.get_by_role("button", name="Email me the link").click()
    expect(address).to_have_attribute("aria-invalid", "true")

    address.fill("dana@example.com")
    page.get_by_role("radio", name="Erase my comments and my data").check()
    with page.expect_response(lambda r: r.url.endswith("/api/privacy/requests")) as answer:
        page.get_by_role("button", name="Email me the link").click()

    assert answer.value.status == 202
    assert answer.value.request.post_data == "email=dana%40example.com&kind=erase"
    expect(page.locator(".commentd-data [role=status]")).to_have_text(
        "If comments were written with this address here, a link is on its way to it. "
        "It works once, for a day."
    )


def test_an_edit_on_a_post_closed_meanwhile_is_told_the_post_is_closed(
    site: Site, page: Page
) -> None:
    page.goto(site.page_url(ARTICLE))
    mine = post_from_widget(page, "Written before the post closed")
    closing = f"{site.service}/api/moderation/posts/{ARTICLE_SLUG}"
    assert requests.put(closing, json={"closed": True}, headers=site.moderator, timeout=10).ok
    try:
        comment = item(page, mine)
        comment.get_by_role("button", name="Edit").click()
        comment.get_by_role("textbox", name="Your comment").fill("A last word after all")
        comment.get_by_role("button", name="Save").click()

        expect(comment.locator(".commentd-edit .commentd-err")).to_have_text(
            "Comments on this post are closed."
        )
        assert site.comment(mine).json()["body"] == "Written before the post closed"
    finally:
        reopen = requests.put(closing, json={"closed": False}, headers=site.moderator, timeout=10)
        assert reopen.ok
