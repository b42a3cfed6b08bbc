"""moderation.js in Chromium: the author's queue on the example blog and at /moderate."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
import requests

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

from blogsite import ARTICLE, ARTICLE_SLUG, Site  # noqa: E402

pytestmark = pytest.mark.browser

Page = Any  # playwright.sync_api.Page, imported lazily above


def open_queue(page: Page, url: str, token: str) -> None:
    page.goto(url)
    page.get_by_label("Moderation token").fill(token)
    page.keyboard.press("Enter")
    expect(page.get_by_role("tab", name="Pending")).to_be_visible()


def tab(page: Page, name: str) -> Any:
    return page.get_by_role("tab", name=name)


def expect_counts(page: Page, **counts: int) -> None:
    for name, count in counts.items():
        expect(tab(page, name.capitalize()).locator(".commentd-mod-count")).to_have_text(str(count))


def items(page: Page) -> Any:
    return page.locator(".commentd-mod-item")


def sent(page: Page) -> None:
    """Waits until every action shown done has been sent and answered (after the undo delay)."""
    expect(page.locator(".commentd-mod")).to_have_attribute("data-unsent", "0", timeout=20_000)


@pytest.fixture
def token(serve_env: dict[str, str]) -> str:
    return serve_env["COMMENTD_ADMIN_TOKEN"]


def test_the_author_approves_from_the_blogs_moderation_page_and_the_reader_sees_it_and_replies(
    site: Site, new_context: Any, token: str
) -> None:
    reader = new_context().new_page()
    reader.goto(site.page_url(ARTICLE))
    reader.get_by_role("textbox", name="Name", exact=True).fill("Dana")
    reader.get_by_role("textbox", name="Email", exact=True).fill("dana@example.com")
    reader.get_by_role("textbox", name="Website", exact=True).fill("https://dana.example")
    reader.get_by_role("textbox", name="Comment", exact=True).fill("Clamshells work!")
    reader.get_by_label("Save my name").check()
    reader.get_by_role("button", name="Post comment").click()
    expect(reader.locator(".commentd-pending")).to_have_count(1)
    author = new_context().new_page()

    open_queue(author, site.page_url("/moderate.html"), token)

    expect_counts(author, pending=1, approved=0, spam=0, rejected=0)
    item = items(author).first
    expect(item).to_contain_text("Clamshells work!")
    expect(item.get_by_role("link", name="dana@example.com")).to_have_attribute(
        "href", "mailto:dana@example.com"
    )
    expect(item.get_by_role("link", name="https://dana.example")).to_have_attribute(
        "rel", "nofollow ugc noopener noreferrer"
    )
    # The post by the title the widget sent from the page (its slug on hover).
    post = item.locator(".commentd-mod-meta").get_by_role("link")
    expect(post).to_have_text("3-Minute Muscles: Gluteus Medius · Revivified")
    expect(post).to_have_attribute("title", ARTICLE_SLUG)
    expect(post).to_have_attribute("href", site.page_url(ARTICLE))
    expect(item.locator(".commentd-mod-signals")).to_have_text("No spam signals.")
    item.get_by_role("button", name="Approve", exact=True).click()
    expect(items(author)).to_have_count(0)
    expect(author.get_by_role("status")).to_have_text("Approved 1 comment.")
    expect_counts(author, pending=0, approved=1)
    sent(author)
    [approved] = site.queue("approved")

    reader.reload()
    published = reader.locator(f"#comment-{approved['id']}")
    expect(published.locator(".commentd-body")).to_have_text("Clamshells work!")
    expect(reader.locator(".commentd-pending")).to_have_count(0)
    expect(reader.locator(".commentd-heading")).to_have_text("1 comment")
    expect(reader.locator(f"[data-commentd-count='{ARTICLE_SLUG}']")).to_have_text("1 comment")
    reader.get_by_role("button", name="Reply to Dana").click()
    reader.get_by_role("textbox", name="Comment", exact=True).fill("Thanks, glad they help.")
    reader.get_by_role("button", name="Post comment").click()
    expect(published.locator(".commentd-list .commentd-pending .commentd-body")).to_have_text(
        "Thanks, glad they help."
    )
    [reply] = site.queue("pending")
    assert reply["parent_id"] == approved["id"]


def test_bulk_selection_and_keyboard_shortcuts_move_comments_between_tabs(
    site: Site, page: Page, token: str
) -> None:
    ids = [site.post(name=name, body=f"From {name}")["id"] for name in ("Ann", "Ben", "Cy")]
    open_queue(page, site.page_url("/moderate.html"), token)
    expect(items(page)).to_have_count(3)  # newest first: Cy, Ben, Ann

    page.keyboard.press("j")
    expect(items(page).nth(0)).to_be_focused()
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator(".commentd-mod-bulk")).to_contain_text("2 selected")
    page.keyboard.press("s")

    expect(items(page)).to_have_count(1)
    expect(items(page).first).to_contain_text("From Ann")
    expect(items(page).first).to_be_focused()
    expect(page.get_by_role("status")).to_have_text("Marked 2 comments as spam.")
    expect_counts(page, pending=1, spam=2)
    sent(page)
    assert sorted(c["id"] for c in site.queue("spam")) == ids[1:]

    page.keyboard.press("a")
    expect(page.get_by_role("status")).to_have_text("Approved 1 comment.")
    expect_counts(page, pending=0, approved=1, spam=2)
    expect(page.locator(".commentd-mod-empty")).to_have_text(
        "Nothing waits for you. The queue is clear."
    )

    tab(page, "Spam").click()
    expect(items(page)).to_have_count(2)
    page.get_by_label("Select all shown").check()
    page.locator(".commentd-mod-bulk").get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_have_text("Rejected 2 comments.")
    expect_counts(page, spam=0, rejected=2)
    sent(page)
    assert sorted(c["id"] for c in site.queue("rejected")) == ids[1:]


def test_delete_asks_first_and_can_be_cancelled(site: Site, page: Page, token: str) -> None:
    comment_id = site.post(name="Zed")["id"]
    open_queue(page, site.page_url("/moderate.html"), token)
    item = items(page).first

    item.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete the comment by Zed for good?")
    page.keyboard.press("Escape")

    expect(dialog).to_be_hidden()
    expect(items(page)).to_have_count(1)
    assert site.comment(comment_id).status_code == 200

    item.focus()
    page.keyboard.press("d")
    dialog.get_by_role("button", name="Delete").click()

    expect(items(page)).to_have_count(0)
    expect(page.get_by_role("status")).to_have_text("Deleted 1 comment.")
    expect_counts(page, pending=0)
    sent(page)
    assert site.comment(comment_id).status_code == 404


def test_a_failed_action_puts_the_comment_back_with_a_message(
    site: Site, page: Page, token: str, live_server: Any
) -> None:
    for name in ("Ann", "Ben"):
        site.post(name=name)
    open_queue(page, site.page_url("/moderate.html"), token)
    expect(items(page)).to_have_count(2)
    live_server.stop()

    items(page).first.get_by_role("button", name="Approve", exact=True).click()
    sent(page)

    expect(page.get_by_role("status")).to_have_text(
        "Could not approve the comment by Ben: the server could not be reached. "
        "It is back in the list."
    )
    expect(items(page)).to_have_count(2)
    expect(items(page).first).to_contain_text("Ben")
    expect(items(page).first).to_be_focused()
    expect_counts(page, pending=2, approved=0)


def test_more_comments_load_by_cursor(site: Site, page: Page, token: str) -> None:
    for number in range(25):
        site.post(body=f"Comment {number}")
    open_queue(page, site.page_url("/moderate.html"), token)
    expect(items(page)).to_have_count(20)

    page.get_by_role("button", name="Load more").click()

    expect(items(page)).to_have_count(25)
    expect(items(page).nth(20)).to_be_focused()
    expect(items(page).last).to_contain_text("Comment 0")
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()


def test_spam_signals_are_shown(site: Site, page: Page, token: str) -> None:
    site.post(body="Cheap https://a.example and https://b.example")  # no form token, two links
    open_queue(page, site.page_url("/moderate.html"), token)

    signals = items(page).first.locator(".commentd-mod-signals li")

    expect(signals).to_have_text(
        ["no form token (not sent from the comment form)", "2 links, limit 2"]
    )


def test_the_hosted_page_keeps_the_token_for_the_session_and_forgets_it_on_request(
    site: Site, page: Page, token: str
) -> None:
    csp_errors: list[str] = []
    page.on(
        "console", lambda m: csp_errors.append(m.text) if "Content Security" in m.text else None
    )
    site.post(name="Ann")
    page.goto(site.service + f"/moderate?post_url={site.blog}/{{slug}}/")
    page.get_by_label("Moderation token").fill("not-the-token")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("That token was not accepted.")

    page.get_by_label("Moderation token").fill(token)
    page.keyboard.press("Enter")
    expect(items(page)).to_have_count(1)
    expect(items(page).get_by_role("link", name=ARTICLE_SLUG)).to_have_attribute(
        "href", f"{site.blog}/{ARTICLE_SLUG}/"
    )
    page.reload()
    expect(items(page)).to_have_count(1)  # still signed in: the session cookie, or sessionStorage
    page.get_by_role("button", name=re.compile("^(Sign out|Forget token)$")).click()

    expect(page.get_by_label("Moderation token")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    page.reload()
    expect(page.get_by_label("Moderation token")).to_be_visible()
    assert csp_errors == []


def test_not_spam_restores_a_caught_comment_from_the_spam_tab(
    site: Site, page: Page, token: str
) -> None:
    caught = site.post(body="A real question about clamshells", url2="filled by autofill")
    assert caught["status"] == "spam"
    open_queue(page, site.page_url("/moderate.html"), token)
    tab(page, "Spam").click()

    with page.expect_response(
        lambda r: r.url.endswith(f"/{caught['id']}/not-spam"), timeout=20_000
    ) as answer:
        items(page).first.get_by_role("button", name="Not spam").click()

    assert answer.value.status == 200
    expect(items(page)).to_have_count(0)
    expect_counts(page, spam=0, approved=1)
    stored = requests.get(
        f"{site.service}/api/moderation/comments/{caught['id']}", headers=site.moderator, timeout=5
    ).json()
    assert stored["status"] == "approved"


def slug_links(page: Page) -> list[str]:
    """Where the first comment's post link leads ("" when its slug is plain text)."""
    meta = items(page).first.locator(".commentd-mod-meta")
    expect(meta).to_contain_text(ARTICLE_SLUG)
    return [a.get_attribute("href") or "" for a in meta.get_by_role("link").all()] or [""]


def open_with_post_url(page: Page, url: str, post_url: str) -> None:
    page.goto(f"{url}?post_url={quote(post_url, safe='')}")
    expect(items(page)).to_have_count(1)


ELSEWHERE = [
    "https://evil.example/{slug}",
    "//evil.example/{slug}",
    "javascript:alert(document.domain)//{slug}",
    "data:text/html,{slug}",
    "{blog}@evil.example/{slug}",  # userinfo: the host is evil.example
    "{blog}.evil.example/{slug}",  # the blog's address as the start of another host
    "{blog}{slug}",  # a slug that could end the host ("x.evil.example")
    "https://evil.example/",  # no {slug}
]


def test_the_hosted_page_links_slugs_only_to_the_service_or_the_configured_blog(
    site: Site, page: Page, token: str
) -> None:
    site.post(name="Ann")
    open_queue(page, site.service + "/moderate", token)
    assert slug_links(page) == [""]  # nothing configured: the slug is text

    for post_url in ELSEWHERE:
        open_with_post_url(page, site.service + "/moderate", post_url.replace("{blog}", site.blog))
        assert slug_links(page) == [""], post_url
    assert page.locator("a[href*='evil'], a[href^='javascript'], a[href^='data']").count() == 0

    # The blog (an allowed origin) and the service itself are fine.
    for post_url, href in [
        (f"{site.blog}/p/{{slug}}.html", f"{site.blog}/p/{ARTICLE_SLUG}.html"),
        ("/p/{slug}/", f"{site.service}/p/{ARTICLE_SLUG}/"),
        (f"{site.service}/x?post={{slug}}", f"{site.service}/x?post={ARTICLE_SLUG}"),
    ]:
        open_with_post_url(page, site.service + "/moderate", post_url)
        assert slug_links(page) == [href], post_url


@pytest.mark.serve_env(COMMENTD_POST_URL="https://posts.example/{slug}/")
def test_the_hosted_page_links_to_commentd_post_url_and_its_origin(
    site: Site, page: Page, token: str
) -> None:
    site.post(name="Ann")
    open_queue(page, site.service + "/moderate", token)
    assert slug_links(page) == [f"https://posts.example/{ARTICLE_SLUG}/"]

    open_with_post_url(page, site.service + "/moderate", "https://evil.example/{slug}")
    assert slug_links(page) == [f"https://posts.example/{ARTICLE_SLUG}/"]
    open_with_post_url(page, site.service + "/moderate", "https://posts.example/old/{slug}")
    assert slug_links(page) == [f"https://posts.example/old/{ARTICLE_SLUG}"]


def test_on_the_blog_post_url_may_only_lead_within_the_blog(
    site: Site, page: Page, token: str
) -> None:
    site.post(name="Ann")
    open_queue(page, site.page_url("/moderate.html"), token)
    own = f"{site.blog}/posts/{ARTICLE_SLUG}.html"  # the page's data-post-url
    assert slug_links(page) == [own]

    for post_url in ELSEWHERE:
        open_with_post_url(
            page, site.page_url("/moderate.html"), post_url.replace("{blog}", site.blog)
        )
        assert slug_links(page) == [own], post_url
    open_with_post_url(page, site.page_url("/moderate.html"), "/archive/{slug}/")
    assert slug_links(page) == [f"{site.blog}/archive/{ARTICLE_SLUG}/"]
