"""The thread's HTML fragment from a public list (publishing/fragment.py), without a database:
nesting and its depth limit, what is escaped, where the form posts and goes back to."""

from __future__ import annotations

import re
from typing import Any

import pytest

from commentd.comments.public import avatar_data_uri
from commentd.publishing.fragment import (
    MAX_DEPTH,
    comments_path,
    format_date,
    markup_revision,
    render_thread,
)

PUBLIC_URL = "https://comments.example"


def comment(id_: int, parent_id: int | None = None, **author: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "parent_id": parent_id,
        "author": {"name": f"Reader {id_}", "website": None, "avatar": avatar_data_uri("k")}
        | author,
        "body_html": f"<p>Comment {id_}</p>",
        "created_at": "2026-11-24T09:30:00Z",
    }


def thread(*comments: dict[str, Any], slug: str = "blog/x", closed: bool = False) -> str:
    page = {"slug": slug, "count": len(comments), "closed": closed, "comments": list(comments)}
    return render_thread(page, version="v1", language="en", public_url=PUBLIC_URL)


def depth_of(markup: str, comment_id: int) -> int:
    """How many reply lists enclose a comment's <li>."""
    before = markup[: markup.index(f'id="comment-{comment_id}"')]
    return before.count('<ol class="commentd-replies">') - before.count("</ol>")


def test_a_chain_of_replies_nests_to_the_limit_then_lines_up() -> None:
    chain = [comment(1)] + [comment(n, n - 1) for n in range(2, MAX_DEPTH + 5)]
    markup = thread(*chain)
    depths = [depth_of(markup, c["id"]) for c in chain]
    assert depths == [min(n, MAX_DEPTH) for n in range(len(chain))]
    # Each still names its real parent.
    assert f'id="comment-{MAX_DEPTH + 3}" data-commentd-id="{MAX_DEPTH + 3}" ' in markup
    assert f'data-commentd-parent="{MAX_DEPTH + 2}"' in markup
    assert markup.count("<li") == markup.count("</li>") == len(chain)


def test_replies_to_a_comment_not_in_the_list_are_top_level() -> None:
    markup = thread(comment(5, parent_id=3))
    assert depth_of(markup, 5) == 0


@pytest.mark.parametrize(
    "website",
    ["javascript:alert(1)", "data:text/html,x", "//evil.example", "ftp://x.example", ""],
)
def test_only_http_websites_become_links(website: str) -> None:
    markup = thread(comment(1, website=website))
    assert '<span class="commentd-name">Reader 1</span>' in markup
    assert "javascript:" not in markup and "ftp:" not in markup


def test_names_websites_and_slugs_are_escaped() -> None:
    hostile = "\"><script>alert('x')</script>"
    markup = thread(
        comment(1, name=hostile, website='https://x.example/"onmouseover="x'),
        slug='a"b<c>',
    )
    assert "<script>" not in markup and 'onmouseover="x' not in markup
    assert "&lt;script&gt;" in markup
    assert 'data-commentd-slug="a&#34;b&lt;c&gt;"' in markup


def test_the_form_posts_to_the_slugs_path_escaped_segment_by_segment() -> None:
    assert comments_path("blog/读书") == "/api/posts/blog/%E8%AF%BB%E4%B9%A6/comments"
    assert comments_path("a/../b") == "/api/posts/a/%2E%2E/b/comments"
    assert comments_path("q?x#y") == "/api/posts/q%3Fx%23y/comments"
    markup = thread(slug="a/../b")
    assert f'action="{PUBLIC_URL}/api/posts/a/%2E%2E/b/comments"' in markup


def test_a_page_url_goes_back_with_the_form_and_none_is_no_field() -> None:
    page = {"slug": "x", "count": 0, "closed": False, "comments": []}
    without = render_thread(page, version=None, language="en", public_url=PUBLIC_URL)
    assert 'name="return_to"' not in without
    with_page = render_thread(
        page,
        version=None,
        language="en",
        public_url=PUBLIC_URL,
        page_url="https://b.example/x/?a=1&b",
    )
    assert 'name="return_to" value="https://b.example/x/?a=1&amp;b"' in with_page


def test_a_closed_thread_has_no_form_and_an_open_one_a_hidden_honeypot() -> None:
    assert "<form" not in thread(comment(1), closed=True)
    markup = thread(comment(1))
    assert re.search(
        r'<p class="commentd-hp" aria-hidden="true">\s*<label>[^<]*<input name="url2"', markup
    )
    assert ".commentd-hp{position:absolute" in markup


def test_dates_are_words_and_a_bad_timestamp_is_refused() -> None:
    assert format_date("2026-01-02T00:00:00Z", "en") == "2 January 2026"
    with pytest.raises(ValueError):
        format_date("yesterday", "en")


def test_the_markup_revision_is_stable() -> None:
    assert markup_revision() == markup_revision()
    assert re.fullmatch(r"[0-9a-f]{12}", markup_revision())


def test_pinned_comments_come_first_in_pin_order_and_the_authors_are_badged() -> None:
    first, second, third = comment(1), comment(2) | {"pinned": True}, comment(3) | {"pinned": True}
    owner = comment(4, parent_id=1, is_owner=True)
    page = {
        "slug": "blog/x",
        "count": 4,
        "closed": False,
        "pinned": [3, 2],
        "comments": [first, second, third, owner],
    }

    markup = render_thread(page, version="v1", language="de", public_url=PUBLIC_URL)

    order = [int(n) for n in re.findall(r'<li class="[^"]*" id="comment-(\d+)"', markup)]
    assert order == [3, 2, 1, 4]
    assert markup.count('data-commentd-pinned="true"') == 2
    assert markup.count('<span class="commentd-badge commentd-pin">Angeheftet</span>') == 2
    assert '<li class="commentd-comment commentd-pinned" id="comment-3"' in markup
    assert markup.count('data-commentd-owner="true"') == 1
    assert '<span class="commentd-badge commentd-owner">Autor</span>' in markup
    # A page without the new fields (an older export) renders as before.
    assert "commentd-pin" not in thread(first, comment(5, parent_id=1))
