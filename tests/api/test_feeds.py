"""Atom 1.0 feeds of approved comments (API.md, "Pages without JavaScript, and feeds"), read
back with feedparser as a feed reader would: per post and for the whole site, newest first,
names as text, sanitised bodies, stable ids, no email in any form, cached like the JSON read."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import feedparser
from flask import Flask
from flask.testing import FlaskClient

from commentd.models import CommentStatus
from commentd.publishing.feeds import FEED_ENTRIES
from tests.helpers import MODERATOR, moderate

ATOM = "{http://www.w3.org/2005/Atom}"
MakeComment = Callable[..., int]


def feed_of(client: FlaskClient, url: str) -> tuple[Any, bytes]:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")  # well-formed, as a reader sees it
    assert parsed.version == "atom10"
    return parsed, response.data


def test_a_posts_feed_lists_its_approved_comments_newest_first(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    first = make_comment(slug="2024/glute", name="Dana", body="Pigeon *pose*")
    second = make_comment(
        slug="2024/glute", name="Bob", website="https://bob.example", parent_id=first
    )
    make_comment(slug="2024/glute", status=CommentStatus.PENDING, body="waiting text")
    make_comment(slug="2024/glute", status=CommentStatus.REJECTED, body="rejected text")
    make_comment(slug="elsewhere", body="another post")

    parsed, body = feed_of(client, "/api/posts/2024/glute/feed.atom")
    assert [e.id for e in parsed.entries] == [
        entry.id for entry in sorted(parsed.entries, key=lambda e: e.published, reverse=True)
    ]
    assert [e.link.rsplit("#", 1)[1] for e in parsed.entries] == [
        f"comment-{second}",
        f"comment-{first}",
    ]
    dana = parsed.entries[1]
    assert dana.author == "Dana"
    assert dana.content[0].type == "text/html"
    assert dana.content[0].value == "<p>Pigeon <em>pose</em></p>"
    assert dana.id.startswith("tag:comments.example,") and dana.id.endswith(f":comment-{first}")
    assert dana.published_parsed is not None and dana.updated_parsed is not None
    assert parsed.entries[0].author_detail.href == "https://bob.example"
    # No post URL template: links go to the thread's fragment at the service.
    assert dana.link == (
        f"https://comments.example/api/posts/2024/glute/comments.html#comment-{first}"
    )
    assert parsed.feed.title == "Comments on 2024/glute"
    assert b"waiting text" not in body and b"rejected text" not in body
    assert b"another post" not in body
    # The ids do not move: the same feed again is the same bytes.
    assert client.get("/api/posts/2024/glute/feed.atom").data == body


def test_entry_links_follow_the_post_url_template(
    make_app: Callable[..., Flask], make_comment: MakeComment
) -> None:
    comment = make_comment(slug="2024/读书")
    client = make_app(post_url="https://blog.example/posts/{slug}/").test_client()
    parsed, _ = feed_of(client, "/api/posts/2024/读书/feed.atom")
    assert parsed.entries[0].link == (
        f"https://blog.example/posts/2024/%E8%AF%BB%E4%B9%A6/#comment-{comment}"
    )
    site, _ = feed_of(client, "/api/feed.atom")
    assert site.entries[0].link == parsed.entries[0].link
    assert site.feed.link == "https://blog.example/"


def test_the_site_feed_holds_the_newest_of_every_post_and_is_bounded(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    ids = [make_comment(slug=f"post-{n % 7}", body=f"comment {n}") for n in range(FEED_ENTRIES + 5)]
    make_comment(slug="post-1", status=CommentStatus.PENDING, body="not yet")
    parsed, body = feed_of(client, "/api/feed.atom")
    assert len(parsed.entries) == FEED_ENTRIES
    shown = [int(e.link.rsplit("-", 1)[1]) for e in parsed.entries]
    assert shown == sorted(ids, reverse=True)[:FEED_ENTRIES]
    assert b"not yet" not in body
    assert parsed.feed.links[0].href  # an alternate link
    assert any(link.rel == "self" for link in parsed.feed.links)


def test_hostile_names_and_bodies_stay_text_and_no_email_appears(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    email = "Eve.Hostile@Example.com"
    name = '<script>alert(1)</script> & "Eve" ]]>'
    make_comment(
        slug="hostile",
        name=name,
        email=email,
        body="<img src=x onerror=alert(1)> [link](javascript:alert(1)) ]]> &amp;",
    )
    for url in ("/api/posts/hostile/feed.atom", "/api/feed.atom"):
        parsed, body = feed_of(client, url)
        [entry] = [e for e in parsed.entries if "hostile" in e.link]
        assert entry.author == name  # exactly the text typed, decoded by the reader
        root = ElementTree.fromstring(body)  # one well-formed document
        [xml_entry] = [
            e for e in root.iter(f"{ATOM}entry") if "hostile" in (e.find(f"{ATOM}title").text or "")
        ]
        assert xml_entry.find(f"{ATOM}author/{ATOM}name").text == name  # type: ignore[union-attr]
        assert xml_entry.find(f"{ATOM}author/{ATOM}email") is None
        content = xml_entry.find(f"{ATOM}content").text or ""  # type: ignore[union-attr]
        listed = client.get("/api/posts/hostile/comments").json
        assert listed is not None
        assert content == listed["comments"][0]["body_html"]  # the API's sanitised HTML
        assert "<img" not in content and 'href="javascript' not in content
        assert "<script" not in body.decode()
        lowered = body.lower()
        for form in (
            email,
            email.lower(),
            hashlib.md5(email.lower().encode()).hexdigest(),  # Gravatar's
            hashlib.sha256(email.lower().encode()).hexdigest(),
            hashlib.md5(email.encode()).hexdigest(),
            hashlib.sha1(email.lower().encode()).hexdigest(),
        ):
            assert form.lower().encode() not in lowered
        assert b"<email>" not in body and b"@example.com" not in lowered


def test_an_unknown_post_has_an_empty_feed(client: FlaskClient) -> None:
    parsed, body = feed_of(client, "/api/posts/no/such/post/feed.atom")
    assert parsed.entries == []
    assert parsed.feed.updated_parsed is not None
    assert client.get("/api/posts/no/such/post/feed.atom").data == body
    assert client.get("/api/posts/%00/feed.atom").status_code == 400


def test_feeds_are_cached_and_read_like_the_json(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    first = make_comment(slug="cached")
    for url in ("/api/posts/cached/feed.atom", "/api/feed.atom"):
        response = client.get(url, headers={"Origin": "https://anywhere.example"})
        etag = response.headers["ETag"]
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Cache-Control"].startswith("public")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.data == b""
        head = client.head(url)
        assert head.status_code == 200 and head.data == b""
        assert head.headers["ETag"] == etag
    old = client.get("/api/posts/cached/feed.atom").headers["ETag"]
    old_site = client.get("/api/feed.atom").headers["ETag"]
    moderate(client, first, "reject")
    changed = client.get("/api/posts/cached/feed.atom", headers={"If-None-Match": old})
    assert changed.status_code == 200 and feedparser.parse(changed.data).entries == []
    assert client.get("/api/feed.atom", headers={"If-None-Match": old_site}).status_code == 200
    assert client.delete("/api/moderation/comments/999999", headers=MODERATOR).status_code == 404
