"""The hosted page's session cookie in Chromium: HttpOnly (no script reads it), shared by the
tabs of one browser, and useless to the blog's pages, although the blog (another port of
127.0.0.1) is the same *site* as the service, so that the browser does attach the
SameSite=Strict cookie to what the blog sends."""

from __future__ import annotations

from typing import Any

import pytest
import requests

sync_api = pytest.importorskip("playwright.sync_api")

from blogsite import Site  # noqa: E402

pytestmark = pytest.mark.browser

Page = Any  # playwright.sync_api.Page, imported lazily above

FETCH = """async ([url, init]) => {
    try {
        const answer = await fetch(url, init);
        return {status: answer.status, body: await answer.text()};
    } catch (error) {
        return {status: 0, body: String(error)};
    }
}"""


def fetch(page: Page, url: str, **init: Any) -> dict[str, Any]:
    return dict(page.evaluate(FETCH, [url, init]))


def test_the_hosted_session_is_httponly_shared_by_tabs_and_needs_the_csrf_header(
    site: Site, new_context: Any
) -> None:
    comment_id = site.post()["id"]
    context = new_context()
    page = context.new_page()
    page.goto(f"{site.service}/healthz")  # any page of the service's own origin
    token = site.moderator["Authorization"].removeprefix("Bearer ")

    signed_in = fetch(
        page,
        "/api/moderation/session",
        method="POST",
        headers={"Content-Type": "application/json"},
        body=f'{{"token": "{token}"}}',
    )
    csrf = page.evaluate("(body) => JSON.parse(body).csrf", signed_in["body"])
    queue = fetch(page, "/api/moderation/comments")
    without = fetch(page, f"/api/moderation/comments/{comment_id}/approve", method="POST")

    assert signed_in["status"] == 200
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script sees it
    [cookie] = context.cookies()
    assert cookie["name"] == "commentd_session" and cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert queue["status"] == 200 and str(comment_id) in queue["body"]
    assert without["status"] == 403 and "csrf_failed" in without["body"]

    second_tab = context.new_page()
    second_tab.goto(f"{site.service}/healthz")
    again = fetch(second_tab, "/api/moderation/session")
    assert again["status"] == 200
    assert second_tab.evaluate("(body) => JSON.parse(body).csrf", again["body"]) == csrf
    approved = fetch(
        second_tab,
        f"/api/moderation/comments/{comment_id}/approve",
        method="POST",
        headers={"X-Commentd-CSRF": csrf},
    )
    assert approved["status"] == 200


def test_the_blog_on_the_same_site_cannot_use_the_session(site: Site, new_context: Any) -> None:
    comment_id = site.post()["id"]
    context = new_context()
    own = context.new_page()
    own.goto(f"{site.service}/healthz")
    token = site.moderator["Authorization"].removeprefix("Bearer ")
    assert (
        fetch(
            own,
            "/api/moderation/session",
            method="POST",
            headers={"Content-Type": "application/json"},
            body=f'{{"token": "{token}"}}',
        )["status"]
        == 200
    )

    blog = context.new_page()
    blog.goto(site.page_url("/"))
    queue = f"{site.service}/api/moderation/comments"
    approve = f"{site.service}/api/moderation/comments/{comment_id}/approve"
    read = fetch(blog, queue, credentials="include")
    simple_post = fetch(blog, approve, method="POST", credentials="include", mode="no-cors")
    sign_in = fetch(
        blog,
        f"{site.service}/api/moderation/session",
        method="POST",
        credentials="include",
        mode="no-cors",
        headers={"Content-Type": "text/plain"},
        body=f'{{"token": "{token}"}}',
    )
    # A form the blog's page submits (a top-level navigation, same site: the cookie goes).
    blog.set_content(f'<form method="post" action="{approve}"><button>Go</button></form>')
    with blog.expect_navigation():
        blog.get_by_role("button", name="Go").click()
    form_answer = blog.content()

    assert read["status"] == 0  # CORS: no Access-Control-Allow-Credentials, the read fails
    assert simple_post["status"] == 0 and sign_in["status"] == 0  # opaque answers
    assert "unauthorized" in form_answer  # the cookie came along and let nothing in
    assert site.comment(comment_id).json()["status"] == "pending"
    # The service's own page is still signed in, and signing in from the blog set nothing new.
    assert fetch(own, "/api/moderation/session")["status"] == 200
    assert len(context.cookies()) == 1
    assert requests.get(queue, timeout=10).status_code == 401
