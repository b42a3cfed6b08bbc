"""embed.js adopting the thread a page already holds (progressive enhancement) in Chromium.

The page includes the thread fragment (`commentd export static`, or GET …/comments.html) inside
`<div id="comments">` (docs/embedding.md, "Comments already in the page"). `fragment()` writes
it by hand from the live JSON, following the fragment's contract (the markup every part of
commentd relies on: section.commentd-thread, li.commentd-comment with data-commentd-id and
-parent, .commentd-name, time[datetime], .commentd-body, form.commentd-form-noscript), so
these tests hold embed.js to the contract rather than to one renderer's details.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import quote

import pytest
import requests

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

from blogsite import ARTICLE_SLUG, Site  # noqa: E402

from commentd.comments.rendering import identicon_svg  # noqa: E402

pytestmark = pytest.mark.browser

Page = Any  # playwright.sync_api.Page, imported lazily above
PAGE = "/posts/adopted/"
COMMENTS_JSON = re.compile(r"/api/posts/[^?]+/comments(\?.*)?$")


def live(site: Site, slug: str = ARTICLE_SLUG) -> tuple[str, list[dict[str, Any]]]:
    """The post's version (its ETag is "<version>.<tag>") and its approved comments."""
    response = requests.get(f"{site.service}/api/posts/{slug}/comments", timeout=10)
    assert response.status_code == 200
    return response.headers["ETag"].strip('"').split(".")[0], response.json()["comments"]


def fragment(
    site: Site,
    version: str,
    comments: list[dict[str, Any]],
    slug: str = ARTICLE_SLUG,
    closed: bool | None = None,
) -> str:
    """The thread fragment of these comments, as its contract lays it out; `closed`: with the
    optional data-commentd-closed ("true"/"false") the service's renderer adds."""

    def item(c: dict[str, Any]) -> str:
        author = c["author"]
        key = author["avatar"].rsplit("/", 1)[-1].removesuffix(".svg")
        avatar = "data:image/svg+xml," + quote(identicon_svg(key))
        name = html.escape(author["name"])
        shown = (
            f'<a class="commentd-name" href="{html.escape(author["website"])}" '
            f'rel="nofollow ugc noopener">{name}</a>'
            if author["website"]
            else f'<span class="commentd-name">{name}</span>'
        )
        replies = [r for r in comments if r["parent_id"] == c["id"]]
        nested = (
            '<ol class="commentd-replies">' + "".join(map(item, replies)) + "</ol>"
            if replies
            else ""
        )
        return (
            f'<li class="commentd-comment" id="comment-{c["id"]}" data-commentd-id="{c["id"]}" '
            f'data-commentd-parent="{c["parent_id"] or ""}"><article>'
            f'<header class="commentd-meta"><img class="commentd-avatar" src="{avatar}" alt="" '
            f'width="40" height="40">{shown}'
            f'<a class="commentd-permalink" href="#comment-{c["id"]}">'
            f'<time datetime="{c["created_at"]}">24 November 2026</time></a></header>'
            f'<div class="commentd-body">{c["body_html"]}</div></article>{nested}</li>'
        )

    top = [c for c in comments if c["parent_id"] is None]
    options = "".join(
        f'<option value="{c["id"]}">{html.escape(c["author"]["name"])}</option>' for c in comments
    )
    return (
        f'<section class="commentd-thread" id="commentd-thread" lang="en" dir="ltr" '
        f'data-commentd-slug="{slug}" data-commentd-count="{len(comments)}" '
        f'data-commentd-version="{version}"'
        + ("" if closed is None else f' data-commentd-closed="{str(closed).lower()}"')
        + ">"
        f'<h2 class="commentd-thread-heading">{len(comments)} comments</h2>'
        f'<ol class="commentd-comments">{"".join(map(item, top))}</ol>'
        '<p class="commentd-pending-note" id="commentd-pending">Your comment is awaiting '
        "moderation.</p>"
        '<form class="commentd-form-noscript" id="commentd-form" method="post" '
        f'accept-charset="utf-8" action="{site.service}/api/posts/{slug}/comments">'
        '<label>Name <input name="name" required></label>'
        '<label>Email <input name="email" type="email" required></label>'
        '<label>Website <input name="website" type="url"></label>'
        '<label>Comment <textarea name="body" required></textarea></label>'
        '<label>Reply to <select name="parent_id"><option value="">nobody</option>'
        f"{options}</select></label>"
        '<input name="url2" tabindex="-1" autocomplete="off">'
        '<button type="submit">Post comment</button></form></section>'
    )


def blog_page(thread: str, slug: str = ARTICLE_SLUG, before: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" '
        'href="data:,"><title>Adopted</title><link rel="stylesheet" href="/style.css"></head>'
        f'<body><main><h1>A post</h1>{before}<div id="comments" data-slug="{slug}">{thread}</div>'
        '<script src="http://127.0.0.1:8080/embed.js" defer></script></main></body></html>'
    )


def conversation(site: Site) -> tuple[int, int]:
    """Dana's comment, approved, and the author's approved reply to it."""
    dana = site.post(name="Dana <b>", website="https://dana.example", body="Pigeon **pose**!")
    site.moderate(dana["id"], "approve")
    reply = site.post(
        name="Author", email="author@example.com", body="Thanks!", parent_id=dana["id"]
    )
    site.moderate(reply["id"], "approve")
    return dana["id"], reply["id"]


class HeldComments:
    """Holds the page's GETs of the comments JSON until released, so a test sees what the
    widget shows before any of them is answered."""

    def __init__(self, page: Page) -> None:
        self.held: list[Any] = []
        self.headers: list[dict[str, str]] = []
        page.route(COMMENTS_JSON, self.hold)

    def hold(self, route: Any) -> None:
        if route.request.method != "GET":
            route.continue_()
            return
        self.headers.append(route.request.headers)
        self.held.append(route)

    def asked(self, page: Page, times: int = 1) -> list[dict[str, str]]:
        """The headers of the held GETs once `times` have come (at most 10 s): the widget
        asks after drawing the page's copy, so the drawing alone does not say it asked. The
        route handler runs while Playwright waits, hence the short waits here."""
        for _ in range(200):
            if len(self.headers) >= times:
                break
            page.wait_for_timeout(50)
        return self.headers

    def release(self) -> None:
        while self.held:
            self.held.pop().continue_()


def test_the_widget_adopts_a_current_thread_without_waiting_for_the_service(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    dana, reply = conversation(site)
    version, comments = live(site)
    blog_pages[PAGE] = blog_page(fragment(site, version, comments))
    gets = HeldComments(page)
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: (
            statuses.append(r.status)
            if COMMENTS_JSON.search(r.url) and r.request.method == "GET"
            else None
        ),
    )

    page.goto(site.page_url(PAGE))

    # Shown with the widget's look while its one question to the service is still unanswered.
    expect(page.locator(".commentd .commentd-heading")).to_have_text("2 comments")
    expect(page.locator(".commentd-item")).to_have_count(2)
    expect(page.locator(f"#comment-{dana} .commentd-name").first).to_have_text("Dana <b>")
    expect(page.locator(f"#comment-{dana} .commentd-name").first).to_have_attribute(
        "href", "https://dana.example"
    )
    expect(page.locator(f"#comment-{dana} .commentd-body strong").first).to_have_text("pose")
    expect(page.locator(f"#comment-{dana} .commentd-list #comment-{reply}")).to_have_count(1)
    expect(page.get_by_role("button", name="Reply to Dana <b>")).to_be_visible()
    expect(page.locator(".commentd-thread, .commentd-form-noscript")).to_have_count(0)
    expect(page.locator("#comments form")).to_have_count(1)  # the widget's, not the page's
    expect(page.locator(f"#comment-{dana} time").first).not_to_have_text("24 November 2026")
    asked = gets.asked(page)
    assert len(asked) == 1 and asked[0]["if-none-match"] == f'"{version}"'
    page.locator(f"#comment-{dana}").evaluate("li => { li.dataset.seen = 'yes'; }")

    with page.expect_response(COMMENTS_JSON):
        gets.release()
    assert statuses == [304]  # current: nothing more fetched, nothing drawn again
    expect(page.locator(f"#comment-{dana}")).to_have_attribute("data-seen", "yes")

    # The reader replies, and reads the thanks where they were typing.
    page.get_by_role("button", name="Reply to Dana <b>").click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Sam")
    page.get_by_role("textbox", name="Email", exact=True).fill("sam@example.com")
    page.get_by_role("textbox", name="Comment", exact=True).fill("Knees too?")
    page.get_by_role("button", name="Post comment").click()
    thanks = page.locator(f"#comment-{dana} > .commentd-thanks")
    expect(thanks).to_have_text("Thanks! Your comment is awaiting moderation.")
    expect(page.locator(f"#comment-{dana} .commentd-item.commentd-pending")).to_have_count(1)
    [stored] = site.queue("pending")
    assert (stored["parent_id"], stored["author"]["name"]) == (dana, "Sam")

    # Back later: the same fragment (a pending comment moves no version), and their own reply.
    page.reload()
    expect(page.locator(".commentd-item")).to_have_count(3)
    pending = page.locator(f"#comment-{dana} .commentd-item.commentd-pending .commentd-body")
    expect(pending).to_have_text("Knees too?")
    gets.release()


def test_a_stale_thread_is_brought_up_to_date_and_a_reply_being_typed_stays_open(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    dana = site.post(name="Dana <b>", body="Pigeon **pose**!")["id"]
    site.moderate(dana, "approve")
    old_version, comments = live(site)
    blog_pages[PAGE] = blog_page(fragment(site, old_version, comments))  # built before a reply
    reply = site.post(name="Author", email="author@example.com", body="Hi", parent_id=dana)["id"]
    site.moderate(reply, "approve")
    gets = HeldComments(page)

    page.goto(site.page_url(PAGE))
    expect(page.locator(".commentd-item")).to_have_count(1)
    page.get_by_role("button", name="Reply to Dana <b>").click()
    page.get_by_role("textbox", name="Comment", exact=True).fill("Half a thought")
    with page.expect_response(COMMENTS_JSON) as answer:
        gets.release()

    assert answer.value.status == 200
    expect(page.locator(".commentd-item")).to_have_count(2)
    expect(page.locator(".commentd-heading")).to_have_text("2 comments")
    expect(page.locator(f"#comment-{dana} .commentd-list #comment-{reply}")).to_have_count(1)
    expect(page.locator(f"#comment-{dana} > form h3")).to_have_text("Reply to Dana <b>")
    expect(page.get_by_role("textbox", name="Comment", exact=True)).to_have_value("Half a thought")


def test_the_threads_anchors_still_lead_to_their_comment(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    _dana, reply = conversation(site)
    version, comments = live(site)
    tall = '<div style="height: 3000px">A long post.</div>'
    blog_pages[PAGE] = blog_page(fragment(site, version, comments), before=tall)

    page.goto(site.page_url(PAGE) + f"#comment-{reply}")

    target = page.locator(f"#comment-{reply}")
    expect(target.locator(".commentd-c")).to_be_visible()  # the widget's, in place
    expect(target).to_be_in_viewport()
    page.evaluate("window.scrollTo(0, 0)")
    page.locator(f"#comment-{reply} .commentd-date").click()
    expect(target).to_be_in_viewport()
    assert page.evaluate("location.hash") == f"#comment-{reply}"


def test_a_page_without_script_shows_the_thread_and_its_form(
    site: Site, new_context: Any, blog_pages: dict[str, str]
) -> None:
    conversation(site)
    version, comments = live(site)
    blog_pages[PAGE] = blog_page(fragment(site, version, comments))
    page = new_context(java_script_enabled=False).new_page()

    page.goto(site.page_url(PAGE))

    expect(page.locator(".commentd-comment")).to_have_count(2)
    expect(page.locator("form.commentd-form-noscript")).to_be_visible()
    expect(page.locator(".commentd")).to_have_count(0)


def test_text_typed_into_the_page_form_before_the_script_ran_is_kept(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    version, comments = live(site)
    blog_pages[PAGE] = blog_page(fragment(site, version, comments))
    # The script arrives late (a slow network): the reader has begun in the page's own form.
    release = HeldScript(page)
    page.goto(site.page_url(PAGE), wait_until="commit")  # the page's load waits for the script
    page.locator("form.commentd-form-noscript textarea").fill("Typed before the widget came")
    release()

    expect(page.get_by_role("textbox", name="Comment", exact=True)).to_have_value(
        "Typed before the widget came"
    )
    expect(page.locator("form.commentd-form-noscript")).to_have_count(0)


class HeldScript:
    """Holds embed.js until called."""

    def __init__(self, page: Page) -> None:
        self.routes: list[Any] = []
        page.route(re.compile(r"/embed\.js$"), self.hold)

    def hold(self, route: Any) -> None:
        self.routes.append(route)

    def __call__(self) -> None:
        while self.routes:
            self.routes.pop().continue_()


def test_a_thread_marked_closed_is_adopted_without_a_form(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    conversation(site)
    version, comments = live(site)
    blog_pages[PAGE] = blog_page(fragment(site, version, comments, closed=True))
    HeldComments(page)  # the service is not asked before the page shows it closed

    page.goto(site.page_url(PAGE))

    expect(page.locator(".commentd-item")).to_have_count(2)
    expect(page.locator(".commentd-closed")).to_have_text("Comments on this post are closed.")
    expect(page.locator("#comments form")).to_be_hidden()
    expect(page.get_by_role("button", name="Reply to Dana <b>")).to_have_count(0)


def test_the_services_own_fragment_is_adopted_the_same_way(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    """The fragment as GET …/comments.html serves it (a server-side include), not written here."""
    dana, reply = conversation(site)
    version, _comments = live(site)
    served = requests.get(f"{site.service}/api/posts/{ARTICLE_SLUG}/comments.html", timeout=10)
    assert served.status_code == 200 and "commentd-thread" in served.text
    blog_pages[PAGE] = blog_page(served.text)
    gets = HeldComments(page)

    page.goto(site.page_url(PAGE))

    expect(page.locator(".commentd .commentd-heading")).to_have_text("2 comments")
    expect(page.locator(f"#comment-{dana} .commentd-list #comment-{reply}")).to_have_count(1)
    expect(page.locator(".commentd-thread, .commentd-form-noscript")).to_have_count(0)
    expect(page.get_by_role("button", name="Reply to Dana <b>")).to_be_visible()
    avatar = page.locator(f"#comment-{dana} .commentd-avatar").first
    expect(avatar).to_have_attribute("src", re.compile(r"^data:image/svg\+xml,"))
    assert [h["if-none-match"] for h in gets.asked(page)] == [f'"{version}"']
    with page.expect_response(COMMENTS_JSON) as answer:
        gets.release()
    assert answer.value.status == 304
