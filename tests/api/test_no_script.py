"""Pages without JavaScript (API.md; docs/no-script.md) through the Flask test client, on SQLite
and PostgreSQL: the thread's HTML fragment, `GET comments.html`, and the plain HTML form's
post (preview without a form token, 303 back to the page, refusals as pages)."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from commentd import i18n
from commentd.comments.rendering import identicon_svg
from commentd.config import ModerationMode, Settings
from commentd.db import make_engine
from commentd.models import CommentStatus
from commentd.ops.migrate import upgrade
from commentd.web.app import create_app
from commentd.web.services import of as services_of
from tests.helpers import FORM, MODERATOR, SLUG
from tests.private_servers import private_postgres

MakeComment = Callable[..., int]
BLOG_PAGE = "https://blog.example/2026/gluteus-medius/"
# What a browser sends with a form it submits (Chromium's Accept for a navigation).
BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Origin": "https://blog.example",
    "Referer": BLOG_PAGE,
}
HOSTILE = '<script>alert("x")</script>'
EMAIL = "reader.private@example.com"


# --- a small DOM, from the standard library's HTML parser --------------------------------

VOID = frozenset({"meta", "img", "input", "br", "link", "hr", "source", "wbr"})


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element] = []
        self.text_parts: list[str] = []
        self.content: list[str | Element] = []  # text and children, in document order

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return "".join(part if isinstance(part, str) else part.text() for part in self.content)

    def iter(self) -> list[Element]:
        found = [self]
        for child in self.children:
            found.extend(child.iter())
        return found

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Element]:
        return [
            e
            for e in self.iter()[1:]
            if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
        ]

    def by_id(self, id_: str) -> Element:
        [found] = [e for e in self.iter() if e.attrs.get("id") == id_]
        return found

    def ancestors(self) -> list[Element]:
        chain, node = [], self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        self.current.content.append(element)
        if tag not in VOID:
            self.current = element

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"stray </{tag}>"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        # HTML drops one newline right after <textarea> (WHATWG HTML, "in body" insertion mode).
        if self.current.tag in ("textarea", "pre") and not self.current.text_parts:
            data = data.removeprefix("\n")
        self.current.text_parts.append(data)
        self.current.content.append(data)


def parse(markup: str) -> Element:
    builder = _Builder()
    builder.feed(markup)
    builder.close()
    assert builder.current is builder.root, "an element was left open"
    return builder.root


# --- helpers ------------------------------------------------------------------------------


def fragment(client: FlaskClient, slug: str = SLUG, **query: str) -> TestResponse:
    suffix = f"?{urlencode(query)}" if query else ""
    return client.get(f"/api/posts/{slug}/comments.html{suffix}")


def form_post(
    client: FlaskClient, fields: dict[str, str], slug: str = SLUG, **headers: str
) -> TestResponse:
    return client.post(
        f"/api/posts/{slug}/comments",
        data=urlencode(fields).encode(),
        content_type=FORM,
        headers=BROWSER | headers,
    )


def typed(**overrides: str) -> dict[str, str]:
    fields = {"name": "Dana", "email": EMAIL, "body": "Pigeon pose *helped*.", "lang": "en"}
    return fields | overrides


def form_token(client: FlaskClient) -> str:
    answer = client.get("/api/form-token").json
    assert answer is not None
    return str(answer["form_token"])


def queue(client: FlaskClient, status: str = "pending") -> list[dict[str, Any]]:
    answer = client.get(f"/api/moderation/comments?status={status}", headers=MODERATOR).json
    assert answer is not None
    return list(answer["comments"])


def input_value(page: Element, name: str) -> str:
    [field] = [e for e in page.find_all() if e.attrs.get("name") == name and e.tag != "label"]
    return field.text() if field.tag == "textarea" else field.attrs.get("value", "")


def assert_whole_page(response: TestResponse, status: int) -> Element:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    markup = response.get_data(as_text=True)
    assert markup.startswith("<!doctype html>")
    page = parse(markup)
    [html] = page.find_all("html")
    assert html.attrs["lang"] == "en" and html.attrs["dir"] == "ltr"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "unsafe-inline" not in policy
    # Nothing fetched from anywhere: no script, no stylesheet link, images inline only.
    assert not page.find_all("script") and not page.find_all("link")
    assert all(img.attrs["src"].startswith("data:") for img in page.find_all("img"))
    assert response.headers["Cache-Control"] == "no-store"
    return page


def honeypot_is_hidden(page: Element) -> None:
    [trap] = [e for e in page.find_all("input") if e.attrs.get("name") == "url2"]
    hidden = [a for a in trap.ancestors() if "commentd-hp" in a.classes]
    assert hidden and hidden[0].attrs.get("aria-hidden") == "true"
    assert trap.attrs.get("tabindex") == "-1"


# --- the fragment -------------------------------------------------------------------------


def test_the_fragment_nests_replies_under_their_parents_and_shows_only_approved_comments(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    first = make_comment(body="First!")
    reply = make_comment(body="A reply", parent_id=first)
    deeper = make_comment(body="A reply to the reply", parent_id=reply)
    second = make_comment(body="Second, top level")
    waiting = make_comment(CommentStatus.PENDING, body="Still waiting")

    response = fragment(client)
    assert response.status_code == 200
    page = parse(response.get_data(as_text=True))
    [section] = page.find_all("section", "commentd-thread")
    assert section.attrs["data-commentd-slug"] == SLUG
    assert section.attrs["data-commentd-count"] == "4"
    assert section.attrs["data-commentd-version"]
    [top] = section.find_all("ol", "commentd-comments")
    assert [li.attrs["id"] for li in top.children] == [f"comment-{first}", f"comment-{second}"]
    reply_li = page.by_id(f"comment-{reply}")
    assert reply_li.parent is not None and "commentd-replies" in reply_li.parent.classes
    assert reply_li.parent.parent is page.by_id(f"comment-{first}")
    deeper_li = page.by_id(f"comment-{deeper}")
    assert deeper_li.parent is not None and deeper_li.parent.parent is reply_li
    assert deeper_li.attrs["data-commentd-parent"] == str(reply)
    assert page.by_id(f"comment-{first}").attrs["data-commentd-parent"] == ""
    assert "Still waiting" not in response.get_data(as_text=True)
    assert f"comment-{waiting}" not in response.get_data(as_text=True)
    # The reply choice lists every public comment, and nothing else.
    [select] = page.find_all("select")
    assert [o.attrs["value"] for o in select.children] == [
        "",
        str(first),
        str(reply),
        str(deeper),
        str(second),
    ]


def test_the_fragment_shows_names_as_text_and_never_an_email(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(
        name=HOSTILE, email=EMAIL, website="https://dana.example/?a=1&b=2", body="Hi <b>there</b>"
    )
    make_comment(name="No Site", body="Plain")
    markup = fragment(client).get_data(as_text=True)
    page = parse(markup)
    assert "<script" not in markup
    assert EMAIL not in markup and "reader.private" not in markup
    names = page.find_all(cls="commentd-name")
    assert [n.text() for n in names] == [HOSTILE, "No Site"]
    linked, plain = names
    assert linked.tag == "a" and linked.attrs["href"] == "https://dana.example/?a=1&b=2"
    assert linked.attrs["rel"] == "nofollow ugc noopener"
    assert plain.tag == "span"
    # The body is the service's sanitised HTML, byte for byte as in the JSON.
    listed = client.get(f"/api/posts/{SLUG}/comments").json
    assert listed is not None
    for comment in listed["comments"]:
        assert f'<div class="commentd-body">{comment["body_html"]}</div>' in markup


def test_the_fragment_inlines_each_avatar_and_writes_dates_as_text(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment()
    listed = client.get(f"/api/posts/{SLUG}/comments").json
    assert listed is not None
    [comment] = listed["comments"]
    key = comment["author"]["avatar"].rsplit("/", 1)[1].removesuffix(".svg")
    page = parse(fragment(client).get_data(as_text=True))
    [img] = page.find_all("img", "commentd-avatar")
    prefix = "data:image/svg+xml,"
    assert img.attrs["src"].startswith(prefix)
    assert unquote(img.attrs["src"][len(prefix) :]) == identicon_svg(key)
    assert "#" not in img.attrs["src"]  # a raw # would end the URI
    [time] = page.find_all("time")
    assert time.attrs["datetime"] == comment["created_at"]
    year, month, day = (int(part) for part in comment["created_at"][:10].split("-"))
    assert time.text() == f"{day} {i18n.translate('en', f'month_{month}')} {year}"


def test_the_fragment_of_a_closed_post_has_no_form(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment()
    closed = client.put(f"/api/moderation/posts/{SLUG}", json={"closed": True}, headers=MODERATOR)
    assert closed.status_code == 200
    page = parse(fragment(client).get_data(as_text=True))
    assert not page.find_all("form")
    assert page.find_all("p", "commentd-closed")


# --- GET comments.html --------------------------------------------------------------------


def test_comments_html_is_cached_and_revalidated_like_the_json_list(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment()
    first = fragment(client)
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "text/html; charset=utf-8"
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    as_json = client.get(f"/api/posts/{SLUG}/comments")
    assert first.headers["Cache-Control"] == as_json.headers["Cache-Control"]
    etag = first.headers["ETag"]
    assert etag != as_json.headers["ETag"]  # another representation, another tag
    again = client.get(
        f"/api/posts/{SLUG}/comments.html", headers={"If-None-Match": etag, "Origin": "https://x"}
    )
    assert again.status_code == 304 and again.data == b""
    assert again.headers["Access-Control-Allow-Origin"] == "*"

    make_comment(body="A new one")
    changed = client.get(f"/api/posts/{SLUG}/comments.html", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert "A new one" in changed.get_data(as_text=True)


def test_head_of_comments_html_has_the_headers_and_no_body(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment()
    got, head = fragment(client), client.head(f"/api/posts/{SLUG}/comments.html")
    assert head.status_code == 200 and head.data == b""
    for name in ("ETag", "Content-Type", "Content-Length", "Cache-Control"):
        assert head.headers[name] == got.headers[name]


def test_an_unknown_post_has_an_empty_thread_with_the_form(client: FlaskClient) -> None:
    page = parse(fragment(client, "never-commented").get_data(as_text=True))
    [section] = page.find_all("section")
    assert section.attrs["data-commentd-count"] == "0"
    assert section.attrs["data-commentd-version"] == ""
    [form] = page.find_all("form")
    assert form.attrs["action"] == "https://comments.example/api/posts/never-commented/comments"
    assert "form_token" not in {e.attrs.get("name") for e in form.find_all("input")}
    honeypot_is_hidden(page)


def test_a_bad_slug_is_the_json_400_of_every_read(client: FlaskClient) -> None:
    response = client.get("/api/posts/" + "x" * 300 + "/comments.html")
    assert response.status_code == 400
    assert response.json is not None and response.json["error"] == "bad_request"


def test_the_words_follow_lang_then_the_site_language(
    make_app: Callable[..., Flask], make_comment: MakeComment
) -> None:
    other = next((name for name in i18n.languages() if name != "en"), None)
    if other is None:
        pytest.skip("only English ships yet: nothing to choose between")
    site = make_app(site_language=other).test_client()
    section = parse(fragment(site).get_data(as_text=True)).find_all("section")[0]
    assert section.attrs["lang"] == other
    assert section.attrs["dir"] == i18n.direction(other)
    english = parse(fragment(site, lang="en-GB").get_data(as_text=True)).find_all("section")[0]
    assert english.attrs["lang"] == "en"
    # A tag of no language of ours is the site's language, not English.
    unknown = parse(fragment(site, lang="xx").get_data(as_text=True)).find_all("section")[0]
    assert unknown.attrs["lang"] == other
    assert fragment(site).headers["ETag"] != fragment(site, lang="en").headers["ETag"]


def test_lang_of_a_language_we_lack_falls_back_to_the_site_language(client: FlaskClient) -> None:
    section = parse(fragment(client, lang="xx-YY").get_data(as_text=True)).find_all("section")[0]
    assert section.attrs["lang"] == "en" and section.attrs["dir"] == "ltr"


# --- the plain HTML form's post -----------------------------------------------------------


def test_a_form_post_without_a_token_is_previewed_and_not_stored(client: FlaskClient) -> None:
    response = form_post(client, typed(website="dana.example"))
    page = assert_whole_page(response, 200)
    assert queue(client) == []  # nothing stored yet
    [preview] = page.find_all(cls="commentd-preview")
    assert "<em>helped</em>" in response.get_data(as_text=True)
    assert [n.text() for n in preview.find_all(cls="commentd-name")] == ["Dana"]
    # Every field kept, editable; a fresh token; the honeypot; the page to go back to.
    assert input_value(page, "name") == "Dana"
    assert input_value(page, "email") == EMAIL
    assert input_value(page, "website") == "dana.example"
    assert input_value(page, "body") == "Pigeon pose *helped*."
    assert input_value(page, "return_to") == BLOG_PAGE
    token = input_value(page, "form_token")
    assert token
    honeypot_is_hidden(page)
    # The email is only ever in the reader's own field.
    assert response.get_data(as_text=True).count(EMAIL) == 1


def test_publishing_the_preview_stores_it_and_goes_back_to_the_page(client: FlaskClient) -> None:
    preview = parse(form_post(client, typed()).get_data(as_text=True))
    fields = {
        name: input_value(preview, name)
        for name in ("name", "email", "body", "lang", "return_to", "form_token")
    }
    # Posted from the preview page: the Referer is the service's own address.
    response = form_post(
        client,
        fields,
        Origin="https://comments.example",
        Referer=f"https://comments.example/api/posts/{SLUG}/comments",
    )
    assert response.status_code == 303
    assert response.headers["Location"] == BLOG_PAGE + "#commentd-pending"
    [stored] = queue(client)
    assert stored["body"] == "Pigeon pose *helped*." and stored["email"] == EMAIL


def test_a_published_comment_goes_back_to_its_own_anchor(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(moderation=ModerationMode.NONE).test_client()
    response = form_post(client, typed(form_token=form_token(client)))
    assert response.status_code == 303
    [published] = queue(client, "approved")
    assert response.headers["Location"] == f"{BLOG_PAGE}#comment-{published['id']}"


def test_spam_is_told_it_waits_like_anyone(client: FlaskClient) -> None:
    response = form_post(client, typed(form_token=form_token(client), url2="http://spam.example"))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("#commentd-pending")
    [caught] = queue(client, "spam")
    assert caught["body"] == "Pigeon pose *helped*."


def test_a_forged_or_expired_token_is_previewed_too(client: FlaskClient) -> None:
    response = form_post(client, typed(form_token="forged.token.value"))
    page = assert_whole_page(response, 200)
    assert input_value(page, "form_token") not in ("", "forged.token.value")
    assert queue(client) == []


def test_a_referer_on_another_origin_gets_a_page_not_a_redirect(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(post_url="https://blog.example/{slug}/").test_client()
    response = form_post(
        client,
        typed(form_token=form_token(client), return_to="https://evil.example/x"),
        Referer="https://evil.example/phish",
        Origin="https://blog.example",
    )
    page = assert_whole_page(response, 200)
    assert "Location" not in response.headers
    assert "evil.example" not in response.get_data(as_text=True)
    assert page.find_all("h1")[0].text() == i18n.translate("en", "thanksPending")
    [back] = page.find_all("a")
    assert back.attrs["href"] == f"https://blog.example/{SLUG}/#commentd-pending"
    assert len(queue(client)) == 1


def test_without_a_referer_and_post_url_the_page_says_what_happened(client: FlaskClient) -> None:
    response = client.post(
        f"/api/posts/{SLUG}/comments",
        data=urlencode(typed(form_token=form_token(client))),
        content_type=FORM,
        headers={"Accept": "text/html"},
    )
    page = assert_whole_page(response, 200)
    assert page.find_all("h1")[0].text() == i18n.translate("en", "thanksPending")
    assert not page.find_all("a")


@pytest.mark.parametrize(
    ("public_url", "return_to"),
    [
        ("https://comments.example", "https://comments.example/%61pi/posts/x/comments"),
        ("https://comments.example", "https://comments.example//api/posts/x/comments"),
        ("https://comments.example", "https://comments.example/%2561pi/form-token"),
        ("https://comments.example/c", "https://comments.example/c/api/posts/x/comments"),
        ("https://comments.example/c", "https://comments.example/c/%61pi/form-token"),
    ],
)
def test_a_return_to_naming_the_services_api_in_any_spelling_is_not_followed(
    make_app: Callable[..., Flask], public_url: str, return_to: str
) -> None:
    client = make_app(public_url=public_url).test_client()
    response = form_post(client, typed(form_token=form_token(client), return_to=return_to))
    assert response.status_code == 303
    assert response.headers["Location"] == BLOG_PAGE + "#commentd-pending"  # the Referer


def test_a_referer_naming_only_the_origin_goes_back_to_the_post_url(
    make_app: Callable[..., Flask],
) -> None:
    # Browsers send only the origin across origins by default (strict-origin-when-cross-origin).
    client = make_app(post_url="https://blog.example/{slug}/").test_client()
    response = form_post(
        client, typed(form_token=form_token(client)), Referer="https://blog.example/"
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"https://blog.example/{SLUG}/#commentd-pending"


def test_refused_fields_get_a_page_naming_them_that_keeps_what_was_typed(
    client: FlaskClient,
) -> None:
    long_name = "N" * 81
    response = form_post(
        client, typed(name=long_name, email="not-an-address", website="ftp://x", body="Kept!")
    )
    page = assert_whole_page(response, 422)
    [errors] = page.find_all("ul", "commentd-errors")
    named = [li.find_all("a")[0].text() for li in errors.children]
    assert named == [i18n.translate("en", key) for key in ("name", "email", "website")]
    assert input_value(page, "name") == long_name
    assert input_value(page, "email") == "not-an-address"
    assert input_value(page, "website") == "ftp://x"
    assert input_value(page, "body") == "Kept!"
    assert input_value(page, "form_token")
    invalid = {e.attrs["name"] for e in page.find_all("input") if e.attrs.get("aria-invalid")}
    assert invalid == {"name", "email", "website"}
    assert response.get_data(as_text=True).count("not-an-address") == 1
    assert queue(client) == []


def test_an_empty_form_names_every_required_field(client: FlaskClient) -> None:
    page = assert_whole_page(form_post(client, {"name": " ", "email": "", "body": ""}), 422)
    [errors] = page.find_all("ul", "commentd-errors")
    assert [li.find_all("a")[0].attrs["href"] for li in errors.children] == [
        "#commentd-page-form-name",
        "#commentd-page-form-email",
        "#commentd-page-form-body",
    ]
    assert [li.text().split(": ", 1)[1] for li in errors.children] == [
        i18n.translate("en", key) for key in ("nameMissing", "emailMissing", "bodyMissing")
    ]


def test_a_reply_to_a_comment_that_is_not_public_is_a_field_page(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    waiting = make_comment(CommentStatus.PENDING)
    response = form_post(client, typed(form_token=form_token(client), parent_id=str(waiting)))
    page = assert_whole_page(response, 422)
    [errors] = page.find_all("ul", "commentd-errors")
    assert errors.children[0].find_all("a")[0].text() == i18n.translate("en", "field_parent")
    assert input_value(page, "body") == "Pigeon pose *helped*."


def test_a_reply_to_a_comment_that_is_not_public_is_refused_before_the_preview(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    waiting = make_comment(CommentStatus.PENDING)
    for parent in (str(waiting), "999999"):
        page = assert_whole_page(form_post(client, typed(parent_id=parent)), 422)
        [errors] = page.find_all("ul", "commentd-errors")
        assert errors.children[0].find_all("a")[0].text() == i18n.translate("en", "field_parent")
    unknown_post = form_post(client, typed(parent_id=str(waiting)), slug="another-post")
    assert_whole_page(unknown_post, 422)
    assert [c["id"] for c in queue(client)] == [waiting]


def test_a_page_on_an_origin_not_allowed_gets_a_403_page_with_the_text_to_copy(
    client: FlaskClient,
) -> None:
    response = form_post(
        client, typed(), Origin="https://evil.example", Referer="https://evil.example/"
    )
    page = assert_whole_page(response, 403)
    assert not page.find_all("form")  # no way around the origin from our own page
    [kept] = page.find_all("textarea")
    assert kept.text() == "Pigeon pose *helped*." and "readonly" in kept.attrs
    assert EMAIL not in response.get_data(as_text=True)
    assert queue(client) == []


def test_bytes_that_are_not_utf8_get_a_400_page_keeping_what_could_be_read(
    client: FlaskClient,
) -> None:
    body = b"name=Dana&email=dana%40example.com&body=Caf%E9+au+lait&lang=en"
    response = client.post(
        f"/api/posts/{SLUG}/comments", data=body, content_type=FORM, headers=BROWSER
    )
    page = assert_whole_page(response, 400)
    assert input_value(page, "body") == "Caf\ufffd au lait"
    assert input_value(page, "name") == "Dana"
    assert input_value(page, "form_token")
    assert queue(client) == []


def test_a_body_at_the_limit_is_read_and_one_byte_more_is_a_413_page(
    client: FlaskClient,
) -> None:
    limit = 64 * 1024
    start = urlencode({"name": "Dana", "email": EMAIL, "lang": "en", "body": ""}).encode()
    at_limit = start + b"x" * (limit - len(start))
    assert len(at_limit) == limit
    read = client.post(
        f"/api/posts/{SLUG}/comments", data=at_limit, content_type=FORM, headers=BROWSER
    )
    page = assert_whole_page(read, 422)  # read: only the comment is too long
    assert input_value(page, "body") == "x" * (limit - len(start))
    too_large = client.post(
        f"/api/posts/{SLUG}/comments", data=at_limit + b"x", content_type=FORM, headers=BROWSER
    )
    page = assert_whole_page(too_large, 413)
    assert page.find_all("h1")[0].text() == i18n.translate("en", "failed")
    assert not page.find_all("form")  # nothing was read: back to the page, where the text is
    [back] = page.find_all("a")
    assert back.attrs["href"] == BLOG_PAGE
    assert queue(client) == []


def test_a_reader_over_the_rate_limit_gets_a_429_page_with_the_form_kept(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(post_rate_limit="1 per minute").test_client()
    assert form_post(client, typed(form_token=form_token(client))).status_code == 303
    response = form_post(client, typed(form_token=form_token(client), body="Second"))
    page = assert_whole_page(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
    assert input_value(page, "body") == "Second"
    assert input_value(page, "form_token")


def test_a_closed_post_gets_a_403_page_with_the_text(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment()
    client.put(f"/api/moderation/posts/{SLUG}", json={"closed": True}, headers=MODERATOR)
    for fields in (typed(), typed(form_token=form_token(client))):  # previewed or not
        page = assert_whole_page(form_post(client, fields), 403)
        assert page.find_all("p", "commentd-intro")[0].text() == i18n.translate("en", "closed")
        assert page.find_all("textarea")[0].text() == "Pigeon pose *helped*."
        assert not page.find_all("form")


def test_scripts_posting_a_form_still_get_json(client: FlaskClient) -> None:
    for accept in (None, "*/*", "application/json", "application/json, text/html;q=0.5"):
        headers = {"Accept": accept} if accept else {}
        response = client.post(
            f"/api/posts/{SLUG}/comments",
            data=urlencode(typed()),
            content_type=FORM,
            headers=headers,
        )
        assert response.status_code == 201, accept
        assert response.json is not None and response.json["status"] == "pending"
    refused = client.post(
        f"/api/posts/{SLUG}/comments",
        data=urlencode(typed(name="")),
        content_type=FORM,
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 422 and refused.json is not None
    assert refused.json["fields"]["name"]


def test_a_preview_page_lets_its_303_through_its_own_policy(
    app: Flask, client: FlaskClient
) -> None:
    # Browsers check a form's redirect against the form page's form-action.
    policy = form_post(client, typed()).headers["Content-Security-Policy"]
    targets = re.search(r"form-action ([^;]+)", policy)
    assert targets is not None
    sources = targets.group(1).split()
    assert "https://blog.example" in sources
    assert services_of(app).settings.public_url in sources


@pytest.mark.postgres
def test_a_database_that_is_down_gets_a_503_page_keeping_the_form() -> None:
    with private_postgres() as postgres:
        engine = make_engine(postgres.url)
        upgrade(engine)
        engine.dispose()
        app = create_app(
            Settings(
                database_url=postgres.url,
                public_url="https://comments.example",
                allowed_origins=("https://blog.example",),
                secret_key="s" * 32,  # not read from the database that will be down
            )
        )
        client = app.test_client()
        token = form_token(client)
        postgres.stop()
        try:
            response = form_post(client, typed(form_token=token, body="Still mine."))
            page = assert_whole_page(response, 503)
            assert input_value(page, "body") == "Still mine."
            assert input_value(page, "form_token")
            assert not page.find_all("select")  # the thread could not be read
        finally:
            services_of(app).engine.dispose()
