"""Proof of work in Chromium (spam/proof.py, docs/spam.md), at the default difficulty, with
moderation off: the widget solves the challenge while the reader types and its comment is
published at once; a bot's POST without a solution, and the form of a reader without script
(which cannot solve), are held for the author, never refused."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import requests

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

from blogsite import ARTICLE, ARTICLE_SLUG, Site  # noqa: E402

from commentd.config import POW_MAX_NUMBER  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.serve_env(COMMENTD_MODERATION="none", COMMENTD_POW_MAX_NUMBER=str(POW_MAX_NUMBER)),
]

Page = Any  # playwright.sync_api.Page, imported lazily above

MISSING = "no proof of work (pow_missing: not solved by the comment widget)"


def reasons(site: Site, comment_id: int) -> tuple[str, list[str]]:
    shown = site.comment(comment_id).json()
    return shown["status"], shown["reasons"]


def test_the_widget_posts_with_a_solution_and_is_published(site: Site, page: Page) -> None:
    page.goto(site.page_url(ARTICLE))
    page.get_by_role("textbox", name="Name", exact=True).fill("Dana")
    page.get_by_role("textbox", name="Email", exact=True).fill("dana@example.com")
    page.get_by_role("textbox", name="Comment", exact=True).fill("Pigeon pose, twice a day.")
    with page.expect_request(lambda r: r.method == "POST") as sent:
        page.get_by_role("button", name="Post comment").click()

    fields = dict(
        pair.split("=", 1) for pair in (sent.value.post_data or "").split("&") if "=" in pair
    )
    payload = json.loads(base64.b64decode(requests.utils.unquote(fields["altcha"])))
    assert set(payload) == {"algorithm", "challenge", "number", "salt", "signature"}
    assert 0 <= payload["number"] <= POW_MAX_NUMBER
    answer = sent.value.response().json()
    assert answer["status"] == "approved"
    expect(page.locator(f"#comment-{answer['id']} .commentd-body")).to_have_text(
        "Pigeon pose, twice a day."
    )
    assert reasons(site, answer["id"]) == ("approved", [])

    # A second comment from the same page solves a new challenge (a solution is single use).
    page.get_by_role("textbox", name="Comment", exact=True).fill("And the figure four.")
    with page.expect_response(lambda r: r.request.method == "POST") as second:
        page.get_by_role("button", name="Post comment").click()
    assert second.value.json()["status"] == "approved"


def test_the_readers_edit_solves_a_new_challenge_and_stays_published(
    site: Site, page: Page
) -> None:
    page.goto(site.page_url(ARTICLE))
    page.get_by_role("textbox", name="Name", exact=True).fill("Dana")
    page.get_by_role("textbox", name="Email", exact=True).fill("dana@example.com")
    page.get_by_role("textbox", name="Comment", exact=True).fill("Pigeon pose helps")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Post comment").click()
    mine = posted.value.json()["id"]
    comment = page.locator(f"#comment-{mine}")

    for text in ("Pigeon pose helps, twice a day", "Pigeon pose helps, three times a day"):
        comment.get_by_role("button", name="Edit").click()
        comment.get_by_role("textbox", name="Your comment").fill(text)
        with page.expect_request(lambda r: r.method == "PATCH") as sent:
            comment.get_by_role("button", name="Save").click()
        altcha = json.loads(sent.value.post_data or "{}").get("altcha")
        assert altcha, "the edit carries a solution"
        assert sent.value.response().json()["status"] == "approved"
        expect(comment.locator(".commentd-body")).to_have_text(text)
        # Each edit solved a challenge of its own (a solution is single use).
        assert reasons(site, mine) == ("approved", [])


def test_a_bot_posting_without_a_solution_is_held(site: Site) -> None:
    token = requests.get(f"{site.service}/api/form-token", timeout=10).json()
    assert token["pow"]["maxnumber"] == POW_MAX_NUMBER

    created = site.post(ARTICLE_SLUG, form_token=token["form_token"], body="Cheap pills")

    assert created["status"] == "pending"
    assert reasons(site, created["id"]) == ("pending", [MISSING])


def test_the_form_without_script_degrades_to_held(
    site: Site, new_context: Any, blog_pages: dict[str, str]
) -> None:
    fragment = requests.get(f"{site.service}/api/posts/{ARTICLE_SLUG}/comments.html", timeout=10)
    blog_pages["/no-script/"] = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Glutes</title>'
        f"</head><body><main><h1>Glutes</h1>{fragment.text}</main></body></html>"
    )
    reader: Page = new_context(java_script_enabled=False).new_page()
    reader.goto(site.page_url("/no-script/"))
    reader.get_by_role("textbox", name="Name *").fill("Erin")
    reader.get_by_role("textbox", name="Email *").fill("erin@example.com")
    reader.get_by_role("textbox", name="Comment *").fill("No script here.")
    reader.get_by_role("button", name="Post comment").click()
    expect(reader.get_by_role("heading", level=1)).to_have_text("Check your comment")
    reader.get_by_role("button", name="Publish").click()

    # Back on the blog (its origin: the browser sends no more as Referer), told it waits.
    reader.wait_for_url(re.compile(r"#commentd-pending$"))
    [waiting] = site.queue("pending")
    assert waiting["body"] == "No script here."
    assert waiting["reasons"] == [MISSING]
