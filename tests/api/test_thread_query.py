"""The page cache rebuilds a post's list from one query on the driver (PageCache.thread,
comments.public.thread_sql), not through the ORM: every representation it builds (the JSON
list, the HTML fragment in any language, the reply choices) is byte for byte what the ORM's
rows make (queries.approved_comments + parent_links, as `commentd export static` reads them),
over threads of every shape: replies, pins, the author's comments, edits, parents no longer
public or erased, unicode, closed posts, posts without comments."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from commentd import comments
from commentd.comments.public import needs_links, public_json, public_page
from commentd.comments.rendering import render_body
from commentd.models import Comment, CommentStatus, Post
from commentd.publishing import fragment
from commentd.web.no_script import fragment_variant
from commentd.web.page_cache import EMPTY_VERSION, PageCache
from commentd.web.services import of as services_of
from tests.helpers import MODERATOR, moderate

NAMES = ["Dana", "Zoë 🌸", "محمد", "李小龙", "O'Brien <b>", "Åsa & Jörg", 'Quote "me"']
BODIES = [
    "Pigeon pose!",
    "Try *the* block under the hip.\n\n> quoted\n\n- a\n- b",
    "Ünïcödé ✓ — “quotes”, emoji 🧘‍♀️ and RTL: مرحبا",
    "A link: https://example.org/a?b=c&d=e and `code` <script>alert(1)</script>",
    "Line\nbreaks\n\nand paragraphs",
]
WEBSITES = [None, "https://example.org", "https://bücher.example/ü?q=1"]
LANGUAGES = ["en", "de", "ar", "ja"]


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(post_url="https://blog.example/posts/{slug}/")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def orm_page(session: Session, slug: str, public_url: str, *, inline: bool) -> dict[str, Any]:
    """The public list as the ORM's rows make it (the static export's way)."""
    post = session.scalars(select(Post).where(Post.slug == slug)).one_or_none()
    rows = comments.approved_comments(session, post.id) if post is not None else []
    links = None
    if post is not None and needs_links(rows):
        links = comments.parent_links(session, post.id)
    return public_page(
        slug,
        rows,
        closed=bool(post is not None and post.closed),
        public_url=public_url,
        links=links,
        inline_avatars=inline,
    )


def assert_built_alike(app: Flask, client: FlaskClient, slugs: list[str]) -> None:
    """For every slug: the JSON over HTTP, the fragment of every language, and both
    representations built straight from PageCache.thread, against the ORM's."""
    services = services_of(app)
    cache = services.page_cache
    public_url = services.settings.public_url
    post_url = services.settings.post_url
    with services.read_sessions() as session:
        for slug in slugs:
            post_id, version = cache.current_version(slug)
            thread = cache.thread(slug)
            assert (thread.post_id, thread.version or EMPTY_VERSION) == (post_id, version)
            page = orm_page(session, slug, public_url, inline=False)
            inline = orm_page(session, slug, public_url, inline=True)
            assert thread.page(slug, public_url) == page, slug
            assert thread.page(slug, public_url, inline_avatars=True) == inline, slug
            response = client.get(f"/api/posts/{slug}/comments")
            assert response.status_code == 200
            assert response.data == public_json(page), slug
            page_url = post_url.replace("{slug}", fragment.slug_path(slug)) if post_url else None
            for language in LANGUAGES:
                expected = fragment.render_thread(
                    inline,
                    version=version if post_id is not None else "",
                    language=language,
                    public_url=public_url,
                    page_url=page_url,
                ).encode()
                variant = fragment_variant(language, post_url)
                assert variant.build(thread, slug, public_url) == expected
                html = client.get(f"/api/posts/{slug}/comments.html?lang={language}")
                assert html.status_code == 200 and html.data == expected, (slug, language)


def test_a_thread_shaped_through_the_api_is_built_alike_from_one_query(
    app: Flask, client: FlaskClient, post_comment: Callable[..., dict[str, Any]]
) -> None:
    slug = "gluteus-medius"

    def approved(**fields: Any) -> int:
        comment_id = int(post_comment(slug, **fields)["id"])
        moderate(client, comment_id, "approve")
        return comment_id

    first = approved(name=NAMES[1], body=BODIES[2], website=WEBSITES[2])
    second = approved(name=NAMES[2], body=BODIES[1], website=WEBSITES[1])
    reply = approved(body=BODIES[0], parent_id=first)
    approved(name=NAMES[3], body=BODIES[3], parent_id=reply)
    # The author's reply (is_owner), an edit, and two pins (the newest pin shows first).
    owner = client.post(
        f"/api/moderation/comments/{second}/reply", json={"body": "Thanks!"}, headers=MODERATOR
    )
    assert owner.status_code == 201, owner.json
    edited = client.patch(
        f"/api/moderation/comments/{first}", json={"body": "Edited ✎ *text*"}, headers=MODERATOR
    )
    assert edited.status_code == 200, edited.json
    moderate(client, second, "pin")
    moderate(client, first, "pin")
    # A chain whose two upper comments are no longer public: its last reply climbs to the top.
    top = approved(body="soon rejected")
    middle = approved(body="soon spam", parent_id=top)
    approved(body="climbs to the top", parent_id=middle)
    moderate(client, top, "reject")
    moderate(client, middle, "spam")
    # An erased parent: its reply moves up to the parent's parent.
    erased = approved(body="erased soon", parent_id=second)
    approved(body="moves up", parent_id=erased)
    assert client.delete(f"/api/moderation/comments/{erased}", headers=MODERATOR).status_code == 204
    post_comment(slug, body="still waiting", parent_id=first)  # pending: never public
    # A closed post with comments, a post with none public, and a post never stored.
    approved_elsewhere = int(post_comment("closed-post", body=BODIES[4])["id"])
    moderate(client, approved_elsewhere, "approve")
    closing = client.put(
        "/api/moderation/posts/closed-post", json={"closed": True}, headers=MODERATOR
    )
    assert closing.status_code == 200, closing.json
    post_comment("only-pending", body="waiting")

    assert_built_alike(app, client, [slug, "closed-post", "only-pending", "never-stored"])
    served = client.get(f"/api/posts/{slug}/comments").json
    assert served is not None and served["pinned"] == [first, second]
    assert any(c["author"]["is_owner"] for c in served["comments"])


def random_threads(session: Session, seed: int, posts: int) -> list[str]:
    """`posts` posts of random threads written straight through the ORM: random statuses,
    depths, pins, the author's comments, edits and unicode."""
    randomly = random.Random(seed)
    start = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    slugs = []
    for number in range(posts):
        slug = f"random/{seed}/{number}-ü"
        post = Post(slug=slug, version=f"v{number}", closed=randomly.random() < 0.2)
        session.add(post)
        session.flush()
        made: list[Comment] = []
        for index in range(randomly.randrange(0, 25)):
            parent = randomly.choice(made) if made and randomly.random() < 0.6 else None
            status = randomly.choice(
                [CommentStatus.APPROVED] * 5
                + [CommentStatus.PENDING, CommentStatus.REJECTED, CommentStatus.SPAM]
            )
            body = randomly.choice(BODIES)
            created = start + timedelta(seconds=randomly.randrange(10**7), microseconds=index)
            pinned = parent is None and randomly.random() < 0.3
            comment = Comment(
                post_id=post.id,
                parent_id=parent.id if parent is not None else None,
                status=status,
                name=randomly.choice(NAMES),
                email="reader@example.org",
                website=randomly.choice(WEBSITES),
                body=body,
                body_html=render_body(body),
                avatar_key=f"{randomly.getrandbits(128):032x}",
                is_owner=randomly.random() < 0.15,
                created_at=created,
                edited_at=created + timedelta(hours=1) if randomly.random() < 0.2 else None,
                pinned_at=start + timedelta(minutes=randomly.randrange(60)) if pinned else None,
            )
            session.add(comment)
            session.flush()
            made.append(comment)
        slugs.append(slug)
    session.commit()
    return slugs


@pytest.fixture
def orm_session(migrated_engine: Engine) -> Iterator[Session]:
    with Session(migrated_engine) as session:
        yield session


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_threads_are_built_alike_from_one_query(
    app: Flask, client: FlaskClient, orm_session: Session, seed: int
) -> None:
    assert_built_alike(app, client, random_threads(orm_session, seed, posts=8))


def test_a_post_not_cached_costs_one_query_and_a_cached_one_its_version(
    app: Flask, client: FlaskClient, orm_session: Session
) -> None:
    slug = random_threads(orm_session, 4, posts=1)[0]
    services = services_of(app)
    fetched: list[str] = []

    class Counting(PageCache):
        def _fetch(self, sql: str, params: tuple[str | int, ...]) -> list[tuple[Any, ...]]:
            fetched.append(sql)
            return super()._fetch(sql, params)

    cache = Counting(services.engine, services.settings.public_url)
    through_orm: list[str] = []

    def count(*args: Any) -> None:
        through_orm.append(str(args[2]))

    event.listen(services.engine, "before_cursor_execute", count)
    try:
        first = cache.answer(slug, None)  # not cached: the thread's one query
        assert len(fetched) == 1 and "JOIN comments" in fetched[0]
        again = cache.answer(slug, None)  # cached: its version
        assert len(fetched) == 2 and "JOIN" not in fetched[1]
        etag = dict(first.headers)["ETag"]
        # A copy named by a read this cache has not built: the version alone, then a 304.
        fresh = Counting(services.engine, services.settings.public_url)
        assert fresh.answer(slug, etag).status == 304 and len(fetched) == 3
        unknown = cache.answer("never-stored", None)
    finally:
        event.remove(services.engine, "before_cursor_execute", count)
    assert first.status == again.status == 200 and first.body == again.body
    assert dict(again.headers)["ETag"] == etag
    assert unknown.status == 200 and b'"count":0' in unknown.body
    assert through_orm == []
