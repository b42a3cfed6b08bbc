"""The author's console, server side (API.md "The author's console", issue 16): reply as the
author, edit, pin, each comment's history, post titles, the posts list and moving a post. On
SQLite and PostgreSQL, through the Flask client."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commentd.comments.fast_path import insert_comment
from commentd.comments.posts import move_post, open_post
from commentd.db import writer
from commentd.models import CommentHistory, CommentStatus, utcnow
from commentd.web.auth import create_token
from commentd.web.services import of as services_of
from tests.helpers import MODERATOR, SLUG, comment_fields, waits_behind

MakeComment = Callable[..., int]
PostComment = Callable[..., dict[str, Any]]


def public(client: FlaskClient, slug: str = SLUG) -> dict[str, Any]:
    response = client.get(f"/api/posts/{slug}/comments")
    assert response.status_code == 200
    assert response.json is not None
    return dict(response.json)


def shown(client: FlaskClient, comment_id: int) -> dict[str, Any]:
    response = client.get(f"/api/moderation/comments/{comment_id}", headers=MODERATOR)
    assert response.status_code == 200, response.json
    return dict(response.json or {})


def history_of(client: FlaskClient, comment_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/moderation/comments/{comment_id}/history", headers=MODERATOR)
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "private, no-store"
    return list((response.json or {})["events"])


def brief(events: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str | None]]:
    return [(e["action"], e["actor"], e["from"], e["to"]) for e in events]


def stored_comment_values(post_id: int) -> dict[str, Any]:
    """The columns of a pending comment on `post_id`, as the posting path stores them."""
    return {
        "post_id": post_id,
        "parent_id": None,
        "commenter_id": None,
        "status": CommentStatus.PENDING,
        "name": "Erin",
        "email": "erin@example.com",
        "website": None,
        "body": "Mid-move",
        "body_html": "<p>Mid-move</p>",
        "avatar_key": "0" * 32,
        "client_key": None,
        "notify": False,
        "notify_approved": False,
        "spam_score": 0.0,
        "reasons": [],
        "body_key": None,
        "created_at": utcnow(),
        "is_owner": False,
        "pinned_at": None,
    }


def reply(client: FlaskClient, comment_id: int, **body: Any) -> Any:
    return client.post(f"/api/moderation/comments/{comment_id}/reply", json=body, headers=MODERATOR)


# --- reply as the author -----------------------------------------------------------------


def test_the_authors_reply_is_published_at_once_and_marked_as_the_owners(
    make_app: Callable[..., Flask], make_comment: MakeComment
) -> None:
    app = make_app(author_name="Sam (author)")
    client = app.test_client()
    parent = make_comment(body="Does pigeon pose help?")
    before = client.get(f"/api/posts/{SLUG}/comments").headers["ETag"]

    response = reply(client, parent, body="It does, *gently*.")

    assert response.status_code == 201, response.json
    answer = response.json
    assert answer is not None
    assert answer == {
        "id": answer["id"],
        "parent_id": parent,
        "author": {
            "name": "Sam (author)",
            "website": None,
            "avatar": answer["author"]["avatar"],
            "is_owner": True,
        },
        "body_html": "<p>It does, <em>gently</em>.</p>",
        "created_at": answer["created_at"],
        "pinned": False,
        "post_title": None,
        "parent": {"id": parent, "name": "Dana", "excerpt": "Does pigeon pose help?"},
        "slug": SLUG,
        "status": "approved",
        "email": "",
        "body": "It does, *gently*.",
        "notify": False,
        "spam_score": 0.0,
        "reasons": [],
        "moderated_at": None,
        "edited_at": None,
    }
    listing = client.get(f"/api/posts/{SLUG}/comments")
    assert listing.headers["ETag"] != before
    assert listing.json is not None
    assert [(c["id"], c["author"]["is_owner"]) for c in listing.json["comments"]] == [
        (parent, False),
        (answer["id"], True),
    ]
    assert listing.json["count"] == 2


def test_approve_and_reply_publishes_a_waiting_comment_first(
    client: FlaskClient, post_comment: PostComment
) -> None:
    waiting = post_comment(body="Is this thing on?")["id"]

    response = reply(client, waiting, body="It is.")

    assert response.status_code == 201, response.json
    assert shown(client, waiting)["status"] == "approved"
    assert [c["id"] for c in public(client)["comments"]] == [waiting, response.json["id"]]
    assert brief(history_of(client, waiting)) == [
        ("submitted", "rules", None, "pending"),
        ("approved", "admin token", "pending", "approved"),
        ("replied", "admin token", "approved", "approved"),
    ]
    assert history_of(client, waiting)[2]["detail"] == f"the author replied #{response.json['id']}"
    assert brief(history_of(client, response.json["id"])) == [
        ("submitted", "admin token", None, "approved")
    ]


def test_a_reply_without_approving_leaves_the_parent_waiting(
    client: FlaskClient, post_comment: PostComment
) -> None:
    waiting = post_comment(body="Is this thing on?")["id"]

    response = reply(client, waiting, body="Soon.", approve_parent=False)

    assert response.status_code == 201, response.json
    assert shown(client, waiting)["status"] == "pending"
    # Its parent is not public: the reply shows at the top level until it is.
    [only] = public(client)["comments"]
    assert (only["id"], only["parent_id"]) == (response.json["id"], None)


def test_replying_to_a_rejected_or_spam_comment_is_a_conflict(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    rejected = make_comment(CommentStatus.REJECTED)
    spam = make_comment(CommentStatus.SPAM)

    refused = [reply(client, rejected, body="Hm."), reply(client, spam, body="Hm.")]

    assert [r.status_code for r in refused] == [409, 409]
    assert [(r.json or {})["error"] for r in refused] == ["parent_not_public"] * 2
    assert public(client)["comments"] == []


def test_a_reply_is_checked_like_a_readers_comment(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    parent = make_comment()

    missing = reply(client, parent)
    empty = reply(client, parent, body="   ")
    long = reply(client, parent, body="x" * 5001)
    not_bool = reply(client, parent, body="ok", approve_parent="yes")
    unknown = reply(client, 999_999, body="Hello")
    not_json = client.post(
        f"/api/moderation/comments/{parent}/reply", data="body=x", headers=MODERATOR
    )

    assert [r.status_code for r in (missing, empty, long, not_bool)] == [422] * 4
    assert set((missing.json or {})["fields"]) == {"body"}
    assert set((long.json or {})["fields"]) == {"body"}
    assert set((not_bool.json or {})["fields"]) == {"approve_parent"}
    assert (unknown.status_code, (unknown.json or {})["error"]) == (404, "not_found")
    assert not_json.status_code == 400
    assert len(public(client)["comments"]) == 1


def test_the_authors_reply_never_needs_a_token_other_than_the_moderators(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    parent = make_comment()

    response = client.post(f"/api/moderation/comments/{parent}/reply", json={"body": "Hi"})

    assert response.status_code == 401
    assert len(public(client)["comments"]) == 1


# --- edit ----------------------------------------------------------------------------------


def test_the_author_edits_text_name_and_website_and_the_etag_moves(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    comment = make_comment(body="Teh typo", website="https://dana.example")
    etag = client.get(f"/api/posts/{SLUG}/comments").headers["ETag"]

    response = client.patch(
        f"/api/moderation/comments/{comment}",
        json={"body": "The *typo*", "name": "Dana R.", "website": None},
        headers=MODERATOR,
    )

    assert response.status_code == 200, response.json
    edited = response.json or {}
    assert (edited["body"], edited["body_html"], edited["status"]) == (
        "The *typo*",
        "<p>The <em>typo</em></p>",
        "approved",
    )
    assert edited["author"]["name"] == "Dana R." and edited["author"]["website"] is None
    assert edited["edited_at"] is not None
    again = client.get(f"/api/posts/{SLUG}/comments", headers={"If-None-Match": etag})
    assert again.status_code == 200
    assert (again.json or {})["comments"][0]["body_html"] == "<p>The <em>typo</em></p>"
    [last] = history_of(client, comment)[-1:]
    assert (last["action"], last["actor"], last["detail"]) == (
        "edited",
        "admin token",
        "body, name, website",
    )


def test_an_edit_is_checked_like_a_readers_comment(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    comment = make_comment(body="Fine as it is")

    def patch(body: object) -> Any:
        return client.patch(f"/api/moderation/comments/{comment}", json=body, headers=MODERATOR)

    nothing = patch({})
    bad = patch({"body": "", "name": "x" * 81, "website": "javascript:alert(1)"})
    unknown_field = patch({"status": "approved"})
    not_text = patch({"name": 5})
    not_object = patch(["body"])
    missing = client.patch("/api/moderation/comments/999999", json={"body": "x"}, headers=MODERATOR)

    assert [r.status_code for r in (nothing, bad, unknown_field, not_text, not_object)] == [422] * 5
    assert set((bad.json or {})["fields"]) == {"body", "name", "website"}
    assert set((unknown_field.json or {})["fields"]) == {"status", "body"}
    assert set((not_text.json or {})["fields"]) == {"name"}
    assert missing.status_code == 404
    assert shown(client, comment)["body"] == "Fine as it is"
    assert shown(client, comment)["edited_at"] is None


# --- pin -----------------------------------------------------------------------------------


def test_pinned_comments_are_marked_and_listed_newest_pin_first(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    first = make_comment(body="first")
    second = make_comment(body="second")
    answer = make_comment(body="an answer", parent_id=first)
    etag = client.get(f"/api/posts/{SLUG}/comments").headers["ETag"]

    pinned = [
        client.post(f"/api/moderation/comments/{c}/pin", headers=MODERATOR) for c in (first, second)
    ]

    assert [r.status_code for r in pinned] == [200, 200]
    assert (pinned[0].json or {})["pinned"] is True
    page = public(client)
    assert page["pinned"] == [second, first]
    assert [(c["id"], c["pinned"]) for c in page["comments"]] == [
        (first, True),
        (second, True),
        (answer, False),
    ]
    assert (
        client.get(f"/api/posts/{SLUG}/comments", headers={"If-None-Match": etag}).status_code
        == 200
    )

    unpinned = client.post(f"/api/moderation/comments/{second}/unpin", headers=MODERATOR)

    assert unpinned.status_code == 200 and (unpinned.json or {})["pinned"] is False
    assert public(client)["pinned"] == [first]
    assert [e["action"] for e in history_of(client, second)][-2:] == ["pinned", "unpinned"]


def test_only_a_top_level_comment_can_be_pinned(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    parent = make_comment()
    answer = make_comment(parent_id=parent)

    refused = client.post(f"/api/moderation/comments/{answer}/pin", headers=MODERATOR)
    unknown = client.post("/api/moderation/comments/999999/pin", headers=MODERATOR)

    assert (refused.status_code, (refused.json or {})["error"]) == (422, "not_top_level")
    assert unknown.status_code == 404
    assert public(client)["pinned"] == []


# --- history -------------------------------------------------------------------------------


def test_history_names_each_decision_its_actor_and_the_rules_reasons(
    app: Flask, client: FlaskClient, post_comment: PostComment, db_session: Session
) -> None:
    labelled = create_token(db_session, "laptop")
    unlabelled = create_token(db_session, "")
    db_session.commit()
    comment = post_comment(body="Pigeon pose!")  # no form token: a reason the rules give

    client.post(
        f"/api/moderation/comments/{comment['id']}/spam",
        headers={"Authorization": f"Bearer {labelled}"},
    )
    client.post(
        f"/api/moderation/comments/{comment['id']}/not-spam",
        headers={"Authorization": f"Bearer {unlabelled}"},
    )
    client.post(f"/api/moderation/comments/{comment['id']}/reject", headers=MODERATOR)

    events = history_of(client, comment["id"])
    assert brief(events)[0] == ("submitted", "rules", None, "pending")
    assert events[0]["reasons"] == ["no form token (not sent from the comment form)"]
    assert isinstance(events[0]["score"], float)
    assert brief(events)[1:3] == [
        ("spam", "token: laptop", "pending", "spam"),
        ("not_spam", events[2]["actor"], "spam", "approved"),
    ]
    assert events[2]["actor"].startswith("token #")
    assert brief(events)[3] == ("rejected", "admin token", "approved", "rejected")
    assert all(e["at"].endswith("Z") for e in events)


def test_a_readers_own_edit_is_in_the_history_and_erasing_erases_it(
    client: FlaskClient, post_comment: PostComment, db_session: Session
) -> None:
    posted = post_comment(widget=True, body="Teh typo")
    edit = client.patch(
        f"/api/posts/{SLUG}/comments/{posted['id']}",
        json={"body": "The typo"},
        headers={"Authorization": f"Commenter {posted['commenter_token']}"},
    )
    assert edit.status_code == 200, edit.json
    assert [(e["action"], e["actor"]) for e in history_of(client, posted["id"])] == [
        ("submitted", "rules"),
        ("edited", "reader"),
    ]

    deleted = client.delete(f"/api/moderation/comments/{posted['id']}", headers=MODERATOR)

    assert deleted.status_code == 204
    gone = client.get(f"/api/moderation/comments/{posted['id']}/history", headers=MODERATOR)
    assert gone.status_code == 404
    count = db_session.scalar(select(func.count()).where(CommentHistory.comment_id == posted["id"]))
    assert count == 0


# --- posts: titles, list, move -------------------------------------------------------------


def test_the_widgets_title_is_kept_until_the_author_sets_one(
    client: FlaskClient, post_comment: PostComment
) -> None:
    first = post_comment(title="  Gluteus\u202e medius\n — a guide  ")["id"]
    post_comment(title="Another title entirely")

    assert shown(client, first)["post_title"] == "Gluteus medius — a guide"

    response = client.put(
        f"/api/moderation/posts/{SLUG}", json={"title": "Glute med"}, headers=MODERATOR
    )

    assert response.status_code == 200, response.json
    assert response.json == {"slug": SLUG, "closed": False, "count": 0, "title": "Glute med"}
    post_comment(title="Yet another")
    assert shown(client, first)["post_title"] == "Glute med"
    cleared = client.put(f"/api/moderation/posts/{SLUG}", json={"title": None}, headers=MODERATOR)
    assert (cleared.json or {})["title"] is None


def test_a_bad_title_is_refused_by_the_author_and_ignored_from_a_page(
    client: FlaskClient, post_comment: PostComment
) -> None:
    posted = post_comment(title=["not", "text"])
    post_comment(title="x" * 1000)

    long = client.put(f"/api/moderation/posts/{SLUG}", json={"title": "x" * 301}, headers=MODERATOR)
    empty = client.put(f"/api/moderation/posts/{SLUG}", json={"title": " "}, headers=MODERATOR)
    neither = client.put(f"/api/moderation/posts/{SLUG}", json={}, headers=MODERATOR)
    both_bad = client.put(
        f"/api/moderation/posts/{SLUG}", json={"closed": "yes", "title": "ok"}, headers=MODERATOR
    )

    assert [r.status_code for r in (long, empty, neither, both_bad)] == [422] * 4
    assert set((long.json or {})["fields"]) == {"title"}
    # The page's over-long title was cut, never refused.
    assert shown(client, posted["id"])["post_title"] == "x" * 300


def test_posts_are_listed_newest_activity_first_with_counts_and_paged(
    client: FlaskClient, make_comment: MakeComment, post_comment: PostComment
) -> None:
    make_comment(slug="old-post", title="An old post")
    make_comment(CommentStatus.SPAM, slug="busy-post", title="Busy")
    make_comment(slug="busy-post")
    post_comment(slug="busy-post")
    make_comment(CommentStatus.REJECTED, slug="newest")

    first = client.get("/api/moderation/posts?limit=2", headers=MODERATOR)

    assert first.status_code == 200 and first.headers["Cache-Control"] == "private, no-store"
    page = first.json or {}
    assert page["posts"] == [
        {
            "slug": "newest",
            "title": None,
            "closed": False,
            "counts": {"pending": 0, "approved": 0, "rejected": 1, "spam": 0},
            "last_comment_at": page["posts"][0]["last_comment_at"],
        },
        {
            "slug": "busy-post",
            "title": "Busy",
            "closed": False,
            "counts": {"pending": 1, "approved": 1, "rejected": 0, "spam": 1},
            "last_comment_at": page["posts"][1]["last_comment_at"],
        },
    ]
    rest = client.get(
        f"/api/moderation/posts?limit=2&cursor={page['next_cursor']}", headers=MODERATOR
    )
    assert [p["slug"] for p in (rest.json or {})["posts"]] == ["old-post"]
    assert (rest.json or {})["next_cursor"] is None
    by_title = client.get("/api/moderation/posts?q=OLD", headers=MODERATOR)
    assert [p["slug"] for p in (by_title.json or {})["posts"]] == ["old-post"]
    by_slug = client.get("/api/moderation/posts?q=busy-", headers=MODERATOR)
    assert [p["slug"] for p in (by_slug.json or {})["posts"]] == ["busy-post"]
    wildcard = client.get("/api/moderation/posts?q=%25", headers=MODERATOR)
    assert (wildcard.json or {})["posts"] == []


def test_bad_paging_of_the_posts_is_a_clear_400(client: FlaskClient) -> None:
    answers = [
        client.get(f"/api/moderation/posts?{query}", headers=MODERATOR)
        for query in ("cursor=nonsense", "limit=0", "limit=101", "q=" + "x" * 201)
    ]

    assert [a.status_code for a in answers] == [400] * 4
    assert all((a.json or {})["error"] == "bad_request" for a in answers)


def test_moving_a_post_to_a_new_slug_takes_its_comments_title_and_flag(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    top = make_comment(slug="old/url", title="The post")
    make_comment(slug="old/url", parent_id=top)
    client.put("/api/moderation/posts/old/url", json={"closed": True}, headers=MODERATOR)
    old_before = public(client, "old/url")

    response = client.post(
        "/api/moderation/posts/old/url/move", json={"to": "/new/url/"}, headers=MODERATOR
    )

    assert response.status_code == 200, response.json
    assert response.json == {
        "from": "old/url",
        "to": "new/url",
        "moved": 2,
        "merged": False,
        "title_taken": False,  # a rename keeps the post: nothing taken over
        "title": "The post",
    }
    moved = public(client, "new/url")
    assert moved["comments"] == old_before["comments"] and moved["closed"] is True
    assert public(client, "old/url") == {
        "slug": "old/url",
        "count": 0,
        "closed": False,
        "pinned": [],
        "comments": [],
    }
    assert shown(client, top)["slug"] == "new/url"
    assert shown(client, top)["post_title"] == "The post"
    [last] = history_of(client, top)[-1:]
    assert (last["action"], last["detail"]) == ("moved", "from old/url to new/url")


def test_moving_onto_a_post_with_comments_merges_them(
    client: FlaskClient, make_comment: MakeComment, post_comment: PostComment
) -> None:
    old = make_comment(slug="old", title="Old title")
    waiting = post_comment(slug="old")["id"]
    new = make_comment(slug="new")
    target_etag = client.get("/api/posts/new/comments").headers["ETag"]

    response = client.post("/api/moderation/posts/old/move", json={"to": "new"}, headers=MODERATOR)

    assert response.json == {
        "from": "old",
        "to": "new",
        "moved": 2,
        "merged": True,
        "title_taken": True,  # the console says so
        "title": "Old title",
    }
    merged = public(client, "new")
    assert [c["id"] for c in merged["comments"]] == [old, new]
    assert merged["count"] == 2
    assert shown(client, waiting)["slug"] == "new"
    assert shown(client, new)["post_title"] == "Old title"  # the target had none
    again = client.get("/api/posts/new/comments", headers={"If-None-Match": target_etag})
    assert again.status_code == 200
    listed = client.get("/api/moderation/posts", headers=MODERATOR).json or {}
    assert [(p["slug"], p["counts"]["approved"]) for p in listed["posts"]] == [("new", 2)]
    counts = client.get("/api/counts?slug=new&slug=old").json
    assert counts == {"new": 2, "old": 0}


def test_a_merge_onto_a_titled_post_keeps_its_title_and_says_none_was_taken(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(slug="old", title="Old title")
    make_comment(slug="new", title="New title")

    response = client.post("/api/moderation/posts/old/move", json={"to": "new"}, headers=MODERATOR)

    assert response.status_code == 200, response.json
    assert response.json is not None
    assert (response.json["merged"], response.json["title_taken"]) == (True, False)
    assert response.json["title"] == "New title"


def test_a_move_is_refused_clearly(client: FlaskClient, make_comment: MakeComment) -> None:
    make_comment(slug="here")

    def move(slug: str, body: object) -> Any:
        return client.post(f"/api/moderation/posts/{slug}/move", json=body, headers=MODERATOR)

    unknown = move("nowhere", {"to": "here"})
    same = move("here", {"to": "/here/"})
    invalid = move("here", {"to": "x" * 300})
    missing = move("here", {})

    assert (unknown.status_code, (unknown.json or {})["error"]) == (404, "post_not_found")
    assert [r.status_code for r in (same, invalid, missing)] == [422] * 3
    assert all(set((r.json or {})["fields"]) == {"to"} for r in (same, invalid, missing))
    assert public(client, "here")["count"] == 1


def test_a_comment_posted_while_a_merge_move_runs_waits_and_is_kept(
    app: Flask, client: FlaskClient, make_comment: MakeComment
) -> None:
    # The move holds its transaction open while a reader posts to the old slug: the post
    # waits for it, then lands on a post that exists (on PostgreSQL it used to meet the
    # deleted post's foreign key: a 500).
    make_comment(slug="old")
    make_comment(slug="new")
    with Session(writer(services_of(app).engine)) as mover:
        assert move_post(mover, "old", "new", actor="test").merged
        waited, answer = waits_behind(
            mover.commit,
            lambda: client.post("/api/posts/old/comments", json=comment_fields(body="Late reader")),
        )

    assert waited
    assert answer.status_code == 201, answer.json
    assert shown(client, (answer.json or {})["id"])["slug"] == "old"
    assert public(client, "new")["count"] == 2


def test_a_comment_stored_before_a_move_commits_goes_along(
    app: Flask, client: FlaskClient, make_comment: MakeComment
) -> None:
    # The other order: a reader's comment is being stored (its transaction still open) when
    # the author moves the post. The move waits for it and takes it along.
    make_comment(slug="old")
    make_comment(slug="new")
    with Session(writer(services_of(app).engine)) as reader:
        post_id = open_post(reader, "old")
        late = insert_comment(reader, stored_comment_values(post_id))
        waited, answer = waits_behind(
            reader.commit,
            lambda: client.post(
                "/api/moderation/posts/old/move", json={"to": "new"}, headers=MODERATOR
            ),
        )

    assert waited
    assert answer.status_code == 200, answer.json
    assert answer.json == {
        "from": "old",
        "to": "new",
        "moved": 2,
        "merged": True,
        "title_taken": False,
        "title": None,
    }
    assert shown(client, late.id)["slug"] == "new"


def test_readers_posting_through_a_move_never_meet_an_error(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(slug="old")
    make_comment(slug="new")

    def post(n: int) -> int:
        return client.post(
            "/api/posts/old/comments", json=comment_fields(body=f"Reader {n}")
        ).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        posted = [pool.submit(post, n) for n in range(30)]
        time.sleep(0.05)
        moved = client.post("/api/moderation/posts/old/move", json={"to": "new"}, headers=MODERATOR)
        statuses = [future.result(timeout=60) for future in posted]

    assert moved.status_code == 200, moved.json
    assert statuses == [201] * 30
    every = client.get("/api/moderation/comments?status=all&limit=100", headers=MODERATOR).json
    assert len((every or {})["comments"]) == 32
