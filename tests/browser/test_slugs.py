"""One post, however its URL is spelled: embed.js's default slug (the page's path) and the
counts helper's slugs are canonical (percent-decoded, NFC, no "/" at either end), in Chromium,
on pages served at escaped non-ASCII paths of the blog's origin."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

from blogsite import Site  # noqa: E402

pytestmark = pytest.mark.browser

Page = Any  # playwright.sync_api.Page, imported lazily above

SLUG = "blog/读书"
UPPER = "/blog/%E8%AF%BB%E4%B9%A6/"
LOWER = "/blog/%e8%af%bb%e4%b9%a6/"


def article(counts: Sequence[str] = (), slug: str | None = None) -> str:
    links = "".join(
        f'<p><a href="#comments" data-commentd-count="{c}">Comments</a></p>' for c in counts
    )
    attr = f' data-slug="{slug}"' if slug is not None else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>读书</title></head>'
        f'<body>{links}<div id="comments"{attr}></div>'
        '<script src="http://127.0.0.1:8080/embed.js" defer></script></body></html>'
    )


def post_from_widget(page: Page, body: str) -> None:
    page.get_by_role("textbox", name="Name", exact=True).fill("Dana")
    page.get_by_role("textbox", name="Email", exact=True).fill("dana@example.com")
    page.get_by_role("textbox", name="Comment", exact=True).fill(body)
    page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_role("status")).to_have_text("Thanks! Your comment is awaiting moderation.")


def test_a_page_at_an_escaped_path_is_one_thread_however_the_escapes_are_spelled(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    blog_pages.update({UPPER: article(), LOWER: article(counts=[SLUG])})
    page.goto(site.page_url(UPPER))
    post_from_widget(page, "Read it twice.")
    [stored] = site.queue("pending")
    assert stored["slug"] == SLUG
    site.moderate(stored["id"], "approve")

    page.goto(site.page_url(LOWER))

    expect(page.locator("#comments .commentd-body")).to_have_text("Read it twice.")
    expect(page.locator(f"[data-commentd-count='{SLUG}']")).to_have_text("1 comment")


def test_data_slug_and_count_slugs_are_canonical_in_every_spelling(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    nfd = "blog/cafe\u0301"  # "café" with a combining accent: NFC makes it one character
    spellings = [
        SLUG,
        UPPER,
        LOWER.strip("/"),
        f"/{SLUG}/",
        "blog%2F%E8%AF%BB%E4%B9%A6",
        "blog//%E8%AF%BB%E4%B9%A6",  # a doubled slash
        "/blog/%25E8%25AF%25BB%25E4%25B9%25A6/",  # encoded twice on its way
    ]
    site.moderate(site.post(slug=SLUG, body="On reading")["id"], "approve")
    site.moderate(site.post(slug="blog/café", body="On coffee")["id"], "approve")
    site.moderate(site.post(slug="blog/café", body="On more coffee")["id"], "approve")
    index = article(counts=[*spellings, nfd, "/blog/cafe%CC%81/", "blog/caf%C3%A9"])
    del_slug = article(slug=UPPER)  # data-slug written escaped, as a template might
    blog_pages.update({"/blog/index.html": index, "/blog/escaped.html": del_slug})
    counts: list[str] = []
    page.on("request", lambda r: counts.append(r.url) if "/api/counts" in r.url else None)

    page.goto(site.page_url("/blog/index.html"))

    for spelled in spellings:
        expect(
            page.locator(f"[data-commentd-count={json.dumps(spelled, ensure_ascii=False)}]")
        ).to_have_text("1 comment")
    for spelled in (nfd, "/blog/cafe%CC%81/", "blog/caf%C3%A9"):
        expect(
            page.locator(f"[data-commentd-count={json.dumps(spelled, ensure_ascii=False)}]")
        ).to_have_text("2 comments")
    assert len(counts) == 1
    asked = [unquote(part.split("=", 1)[1]) for part in counts[0].split("?", 1)[1].split("&")]
    assert asked == [SLUG, "blog/café"]  # each post asked for once, in its one spelling

    page.goto(site.page_url("/blog/escaped.html"))
    expect(page.locator("#comments .commentd-body")).to_have_text("On reading")


def test_an_nfd_path_and_escapes_that_are_not_utf8_still_give_one_slug(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    latin1_upper, latin1_lower = "/blog/caf%E9/", "/blog/caf%e9/"  # a Latin-1 server's URLs
    nfd_path = "/blog/cafe%CC%81/"
    for path in (latin1_upper, latin1_lower, nfd_path):
        blog_pages[path] = article(counts=["blog/café"])
    site.moderate(site.post(slug="blog/café", body="Coffee")["id"], "approve")

    page.goto(site.page_url(nfd_path))
    expect(page.locator("#comments .commentd-body")).to_have_text("Coffee")
    expect(page.locator("[data-commentd-count]")).to_have_text("1 comment")

    # Not UTF-8: the escape stays as written (in capitals), so both spellings are one post
    # that is not "café", and the page works.
    for path in (latin1_upper, latin1_lower):
        with page.expect_request(lambda r: "/comments" in r.url and r.method == "GET") as asked:
            page.goto(site.page_url(path))
        assert asked.value.url == f"{site.service}/api/posts/blog/caf%25E9/comments"
        expect(page.locator("#comments")).to_contain_text("No comments yet.")


def test_a_waiting_comment_kept_under_the_old_spelling_is_still_shown(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    blog_pages.update({UPPER: article()})
    page.goto(site.page_url(UPPER))
    post_from_widget(page, "Kept before the update.")
    # As the widget before canonical slugs kept it: under the path as the browser spelled it.
    page.evaluate(
        """([oldKey, newKey]) => {
            localStorage.setItem(oldKey, localStorage.getItem(newKey));
            localStorage.removeItem(newKey);
        }""",
        [f"commentd.pending.{UPPER}", f"commentd.pending.{SLUG}"],
    )

    page.reload()

    expect(page.locator(".commentd-pending .commentd-body")).to_have_text("Kept before the update.")
    keys = page.evaluate("Object.keys(localStorage).filter(k => k.includes('pending'))")
    assert keys == [f"commentd.pending.{SLUG}"]
