"""Safe methods never act: GET, HEAD and OPTIONS of every route leave the database exactly as it
was, with real arguments (valid signed email links, real slugs and ids, a valid bearer token).
Mail scanners open links and probe them with HEAD; only the confirm page's POST may act."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from commentd.config import ModerationMode
from commentd.models import utcnow
from commentd.notify import spam_digest
from tests.helpers import (
    MODERATOR,
    SLUG,
    database_snapshot,
    deliver,
    link,
    moderate,
    post_comment,
    text_of,
)
from tests.receivers import Mailbox

AUTHOR = "author@blog.example"
DANA = {"name": "Dana", "email": "dana@example.com"}
ERIN = "erin@example.com"
FAY = "fay@example.com"
# Posts as the widget sends them; no name or email unless given.
submit = partial(post_comment, widget=True, anonymous=True)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class World:
    """A site with every kind of email link in a real mail: an author's notice (Approve,
    Reject, Spam), an address confirmation (known mode), a reply-notice confirmation (double
    opt-in), a reply notice (Unsubscribe), data links and a spam digest (Not spam)."""

    def __init__(self, app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
        first = submit(client, **DANA)
        moderate(client, first["id"], "approve")
        # Erin asks for reply notices and confirms her address; Bob's reply then reaches her.
        subscribed = submit(client, name="Erin", email=ERIN, body="Tell me", notify=True)
        deliver(app)
        [optin] = [m for m in mailbox.to(ERIN) if m["Subject"].startswith("Confirm reply")]
        assert client.post(link(optin, "Confirm")).status_code == 200
        moderate(client, subscribed["id"], "approve")
        reply = submit(
            client, name="Bob", email="bob@example.com", body="Agreed", parent_id=subscribed["id"]
        )
        moderate(client, reply["id"], "approve")
        # Fay asks for notices too, and has not confirmed yet.
        submit(client, name="Fay", email=FAY, body="Me too", notify=True)
        # Dana on a new device: waits, and her address gets a confirmation.
        self.pending = submit(client, body="From my phone", **DANA)
        # Dana asks for her data: an export link and an erasure link.
        for kind in ("export", "erase"):
            asked = client.post(
                "/api/privacy/requests", json={"email": DANA["email"], "kind": kind}
            )
            assert asked.status_code == 202
        # The defences catch one comment: the day's spam digest lists it (Not spam).
        caught = submit(client, name="Gil", email="gil@example.com", body="casino bonus")
        assert caught["status"] == "spam"
        deliver(app)
        day_end = spam_digest.period_of(utcnow(), "daily")[1] + spam_digest.GRACE
        deliver(app, later=day_end - utcnow())

        [notice] = [m for m in mailbox.to(AUTHOR) if "From my phone" in text_of(m)]
        [digest] = [m for m in mailbox.to(AUTHOR) if m["Subject"].startswith("Spam caught")]
        [confirmation] = [
            m for m in mailbox.to(DANA["email"]) if m["Subject"].startswith("Confirm your")
        ]
        [reply_notice] = [m for m in mailbox.to(ERIN) if "replied" in m["Subject"]]
        [fay_optin] = [m for m in mailbox.to(FAY) if m["Subject"].startswith("Confirm reply")]
        [export] = [m for m in mailbox.to(DANA["email"]) if m["Subject"].startswith("Download")]
        [erase] = [m for m in mailbox.to(DANA["email"]) if m["Subject"].startswith("Erase")]
        self.links = {
            "/email/moderate/": [link(notice, label) for label in ("Approve", "Reject", "Spam")],
            "/email/confirm/": [link(confirmation, "Confirm")],
            "/email/unsubscribe/": [link(reply_notice, "Unsubscribe")],
            "/email/notices/": [link(fay_optin, "Confirm")],
            "/email/privacy/": [link(export, "Download"), link(erase, "Erase")],
            "/email/not-spam/": [link(digest, "Not spam")],
        }
        self.subscribed_id = int(subscribed["id"])
        self.avatar_key = urlsplit(self.pending["comment"]["author"]["avatar"]).path.split("/")[-1]
        # An export being uploaded, one part of it sent.
        begun = client.post(
            "/api/moderation/imports", json={"format": "json", "size": 3}, headers=MODERATOR
        ).json
        assert begun is not None
        self.upload_id = begun["id"]
        sent = client.put(
            f"/api/moderation/imports/{self.upload_id}/parts/0", data=b"{}\n", headers=MODERATOR
        )
        assert sent.status_code == 204
        # A token made in the console, and this browser signed in with it (the hosted page's
        # session cookie rides along with every request below).
        made = client.post(
            "/api/moderation/tokens", json={"label": "console"}, headers=MODERATOR
        ).json
        assert made is not None
        self.token_id = made["id"]
        signed_in = client.post("/api/moderation/session", json={"token": made["token"]})
        assert signed_in.status_code == 200

    def urls_for(self, rule: Any) -> list[str]:
        """Real URLs for a url_map rule: each argument given a value that exists."""
        for prefix, paths in self.links.items():
            if rule.rule.startswith(prefix):
                return paths
        values: dict[str, Any] = {}
        for argument in rule.arguments:
            if argument == "slug":
                values[argument] = SLUG
            elif argument == "comment_id":
                values[argument] = self.pending["id"]
            elif argument == "key":
                values[argument] = self.avatar_key.removesuffix(".svg")
            elif argument == "upload_id":
                values[argument] = self.upload_id
            elif argument == "token_id":
                values[argument] = self.token_id
            elif argument == "number":
                values[argument] = 0
            elif argument == "language":
                values[argument] = "de"
            elif argument == "export_format":
                return [
                    rule.rule.replace("<any(json, wordpress):export_format>", f)
                    for f in ("json", "wordpress")
                ]
            else:
                raise AssertionError(f"give {rule.rule}'s <{argument}> a real value in this test")
        path = rule.rule
        for argument, value in values.items():
            path = re.sub(rf"<(?:[^:<>]+:)?{argument}>", str(value), path)
        return [path]


@pytest.fixture
def site(make_app: Callable[..., Flask], mailbox: Mailbox) -> Flask:
    return make_app(
        smtp_url=mailbox.url,
        notify_email=AUTHOR,
        moderation=ModerationMode.KNOWN,
        post_url="https://blog.example/{slug}/",
        disallowed_keywords=("casino",),
    )


# Reads the url_map does not hold (answered ahead of Flask) or that need a query to do work.
EXTRA_READS = (
    f"/api/posts/{SLUG}/comments",
    f"/api/posts/{SLUG}/comments.html?lang=de",
    f"/api/counts?slug={SLUG}",
    "/api/moderation/comments?status=pending",
    "/api/moderation/comments?status=approved&limit=1",
    "/api/moderation/session",  # the cookie alone, no bearer token
    "/api/moderation/comments?status=all&q=dana&links=1&first=1&edited=1&reason=form_token",
    f"/api/moderation/comments?status=all&q=AND%20OR%20NEAR(&slug={SLUG}&email={ERIN}",
    "/api/moderation/counts?q=pose&status=all",
    "/api/moderation/stats?days=365",
)


def test_get_head_and_options_of_every_route_change_nothing_stored(
    site: Flask, mailbox: Mailbox, migrated_engine: Engine
) -> None:
    client = site.test_client()
    world = World(site, client, mailbox)
    before = database_snapshot(migrated_engine)

    asked: list[tuple[str, str, int]] = []
    for rule in site.url_map.iter_rules():
        methods = SAFE_METHODS if "GET" in (rule.methods or ()) else ("OPTIONS",)
        for url in world.urls_for(rule):
            for method in methods:
                headers = MODERATOR | {"Accept": "text/html"}
                with client.open(url, method=method, headers=headers) as response:
                    asked.append((method, url, response.status_code))
    for url in EXTRA_READS:
        for method in SAFE_METHODS:
            asked.append(
                (method, url, client.open(url, method=method, headers=MODERATOR).status_code)
            )
            asked.append((method, url, client.open(url, method=method).status_code))

    assert database_snapshot(migrated_engine) == before
    assert [a for a in asked if a[2] >= 500] == []
    # The arguments were real: every email link page answered with its button page.
    for paths in world.links.values():
        for path in paths:
            assert ("GET", path, 200) in asked and ("HEAD", path, 200) in asked
    assert {m for m, _, _ in asked} == set(SAFE_METHODS)
    assert ("GET", "/api/moderation/session", 200) in asked  # the cookie was a live session
    # The feeds were read with a real slug that has comments.
    for feed in (f"/api/posts/{SLUG}/feed.atom", "/api/feed.atom"):
        assert ("GET", feed, 200) in asked and ("HEAD", feed, 200) in asked

    # ...and the same links act when their button is pressed.
    assert client.post(world.links["/email/unsubscribe/"][0]).status_code == 200
    assert client.post(world.links["/email/confirm/"][0]).status_code == 200
    assert client.post(world.links["/email/notices/"][0]).status_code == 200
    assert client.post(world.links["/email/privacy/"][0]).json["comments"] != []
    shown = client.get(f"/api/moderation/comments/{world.pending['id']}", headers=MODERATOR).json
    subscribed = client.get(
        f"/api/moderation/comments/{world.subscribed_id}", headers=MODERATOR
    ).json
    assert shown is not None and shown["status"] == "approved"
    assert subscribed is not None and subscribed["notify"] is False
    assert client.post(world.links["/email/privacy/"][1]).status_code == 200  # erased last


@pytest.mark.parametrize("label", ["Approve", "Reject", "Spam"])
def test_head_of_a_notice_link_leaves_the_comment_waiting_and_the_link_unspent(
    site: Flask, mailbox: Mailbox, label: str
) -> None:
    client = site.test_client()
    world = World(site, client, mailbox)
    path = world.links["/email/moderate/"][["Approve", "Reject", "Spam"].index(label)]

    for _ in range(3):  # a scanner may probe more than once
        assert client.head(path).status_code == 200
    shown = client.get(f"/api/moderation/comments/{world.pending['id']}", headers=MODERATOR).json

    assert shown is not None and shown["status"] == "pending"
    assert "</button>" in client.get(path).text  # not spent: the page still offers the button


@pytest.mark.parametrize("method", SAFE_METHODS)
def test_a_request_with_a_safe_method_cannot_commit_whatever_its_view_does(
    app: Flask, migrated_engine: Engine, method: str
) -> None:
    from commentd.db import SafeMethodWrite
    from commentd.models import SiteSetting
    from commentd.web.sessions import get_session

    before = database_snapshot(migrated_engine)
    with app.test_request_context("/anything", method=method):
        session = get_session(write=False)
        session.add(SiteSetting(key="written-by-a-read", value="x"))
        with pytest.raises(SafeMethodWrite):
            session.commit()

    assert database_snapshot(migrated_engine) == before


@pytest.mark.parametrize("method", SAFE_METHODS)
def test_a_request_with_a_safe_method_is_refused_a_writing_session(
    app: Flask, migrated_engine: Engine, method: str
) -> None:
    from commentd.db import SafeMethodWrite
    from commentd.models import SiteSetting
    from commentd.web.sessions import get_session

    before = database_snapshot(migrated_engine)
    with app.test_request_context("/anything", method=method):
        with pytest.raises(SafeMethodWrite):
            get_session(write=True)
        session = get_session(write=False)  # what the request may have: cannot commit either
        session.add(SiteSetting(key="written-by-a-read", value="x"))
        with pytest.raises(SafeMethodWrite):
            session.commit()

    assert database_snapshot(migrated_engine) == before


def test_every_answer_behind_the_moderation_token_is_kept_out_of_shared_caches(
    site: Flask, mailbox: Mailbox
) -> None:
    """Queues, settings, the outbox view and whole exports hold emails: no CDN or proxy may
    keep one, and a refused token's answer is not cached either."""
    client = site.test_client()
    world = World(site, client, mailbox)
    client.delete_cookie("commentd_session")  # signed out: the refusals are seen too
    answers: list[tuple[str, int, str | None]] = []
    for rule in site.url_map.iter_rules():
        if not rule.rule.startswith("/api/moderation") or "GET" not in (rule.methods or ()):
            continue
        for url in world.urls_for(rule):
            for headers in (MODERATOR, {}):
                with client.get(url, headers=headers) as response:
                    cache = response.headers.get("Cache-Control")
                    answers.append((url, response.status_code, cache))
    assert {status for _, status, _ in answers} >= {200, 401}
    assert [a for a in answers if a[2] != "private, no-store"] == []
