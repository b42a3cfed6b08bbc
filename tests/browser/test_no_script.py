"""A reader with JavaScript turned off, in Chromium, against `commentd serve`: a blog page on an
allowed origin that includes the thread's HTML fragment (as a static build does) shows the
comments, and its plain form posts through the preview back to the page (docs/no-script.md)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

from blogsite import Site  # noqa: E402

pytestmark = pytest.mark.browser

Page = Any  # playwright.sync_api.Page, imported lazily above

SLUG = "no-script/hip-hinge"
PATH = "/no-script/hip-hinge/"


@pytest.fixture
def serve_env(serve_env: dict[str, str], blog: Any) -> dict[str, str]:
    """The blog's page of each post, so the service knows where a form came from even when
    the browser sends only the blog's origin as Referer (its default across origins)."""
    return serve_env | {"COMMENTD_POST_URL": blog.origin + "/{slug}/"}


def blog_page(site: Site) -> str:
    """The post's page as a static build writes it: the fragment fetched once, included."""
    response = requests.get(f"{site.service}/api/posts/{SLUG}/comments.html", timeout=10)
    assert response.status_code == 200
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Hip hinge</title>'
        "</head><body><main><h1>Hip hinge</h1><p>Push the hips back.</p>"
        f"{response.text}</main></body></html>"
    )


@pytest.fixture
def reader(new_context: Any) -> Page:
    """A reader whose browser runs no script at all."""
    page: Page = new_context(java_script_enabled=False).new_page()
    return page


def fill_form(page: Page, *, email: str, body: str) -> None:
    page.get_by_role("textbox", name="Name *").fill("Dana")
    page.get_by_role("textbox", name="Email *").fill(email)
    page.get_by_role("textbox", name="Comment *").fill(body)


def test_a_reader_without_script_reads_previews_and_posts_back_to_the_page(
    site: Site, reader: Page, blog_pages: dict[str, str]
) -> None:
    first = site.post(SLUG, name="Erin", body="Knees soft, back flat.")
    site.moderate(first["id"], "approve")
    blog_pages[PATH] = blog_page(site)

    reader.goto(site.page_url(PATH))
    expect(reader.locator(".commentd-body")).to_have_text("Knees soft, back flat.")
    expect(reader.locator("#commentd-pending")).to_be_hidden()
    expect(reader.locator("input[name=url2]")).not_to_be_in_viewport()
    fill_form(reader, email="dana@example.com", body="Felt it in the *hamstrings*.")
    reader.get_by_role("combobox", name="In reply to").select_option(str(first["id"]))
    reader.get_by_role("button", name="Post comment").click()

    # The service's "Check your comment": the comment as it will look, nothing stored yet.
    expect(reader.get_by_role("heading", level=1)).to_have_text("Check your comment")
    expect(reader.locator(".commentd-preview em")).to_have_text("hamstrings")
    expect(reader.get_by_role("textbox", name="Comment *")).to_have_value(
        "Felt it in the *hamstrings*."
    )
    assert site.queue("pending") == []
    reader.get_by_role("button", name="Publish").click()

    # Back on the blog's page, at the note that the comment waits.
    reader.wait_for_url(site.page_url(PATH) + "#commentd-pending")
    expect(reader.locator("#commentd-pending")).to_be_visible()
    expect(reader.locator("#commentd-pending")).to_have_text(
        "Thanks! Your comment is awaiting moderation."
    )
    [waiting] = site.queue("pending")
    assert waiting["body"] == "Felt it in the *hamstrings*."
    assert waiting["parent_id"] == first["id"]


def test_a_refused_field_comes_back_named_with_everything_typed(
    site: Site, reader: Page, blog_pages: dict[str, str]
) -> None:
    blog_pages[PATH] = blog_page(site)
    reader.goto(site.page_url(PATH))
    # The browser's own check lets this address through; the service's does not.
    fill_form(reader, email="dana@localhost", body="Keep this text, please.")
    reader.get_by_role("button", name="Post comment").click()

    expect(reader.get_by_role("heading", level=1)).to_have_text("Your comment needs another look")
    expect(reader.locator(".commentd-errors li")).to_have_count(1)
    expect(reader.locator(".commentd-errors a")).to_have_text("Email")
    expect(reader.get_by_role("textbox", name="Comment *")).to_have_value("Keep this text, please.")
    expect(reader.get_by_role("textbox", name="Name *")).to_have_value("Dana")
    email = reader.get_by_role("textbox", name="Email *")
    expect(email).to_have_value("dana@localhost")
    expect(email).to_have_attribute("aria-invalid", "true")

    # Corrected, the comment goes through (the page carried a form token) and back.
    email.fill("dana@example.com")
    reader.get_by_role("button", name="Post comment").click()
    reader.wait_for_url(site.page_url(PATH) + "#commentd-pending")
    expect(reader.locator("#commentd-pending")).to_be_visible()
    [waiting] = site.queue("pending")
    assert waiting["body"] == "Keep this text, please."
