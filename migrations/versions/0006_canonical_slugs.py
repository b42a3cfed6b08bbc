"""every stored slug in its canonical form; posts whose slugs were spellings of one merged

Before this, a slug was stored as it reached the service: `blog/%E8%AF%BB%E4%B9%A6`,
`blog/%e8%af%bb%e4%b9%a6` and `blog/读书` were three posts of one page. Now a slug has one
canonical form (validation.normalize_slug): percent-escapes decoded, Unicode NFC, runs of
`/` as one, no leading or trailing `/`. This gives every stored post that form; posts that
turn out to be one are merged into the oldest (its comments move, the count is recounted,
it stays closed if any of them was). A stored slug with no canonical form (escapes that are
not UTF-8, a control character) is left as it is.

The rules are copied here, not imported: a migration must do tomorrow what it did today.

Revision ID: 0005_canonical_slugs
Revises: 0004_confirmed_commenters
Create Date: 2026-11-30 18:00:00
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Sequence
from urllib.parse import unquote_to_bytes

import sqlalchemy as sa
from alembic import op

revision: str = "0006_canonical_slugs"
down_revision: str | Sequence[str] | None = "0005_never_reuse_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLUG_MAX = 255
_ESCAPES = re.compile("(?:%[0-9A-Fa-f]{2})+")
_SLASHES = re.compile("/{2,}")
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def _decode_run(match: re.Match[str]) -> str:
    text = unquote_to_bytes(match.group()).decode("utf-8", errors="surrogateescape")
    return re.sub("[\udc80-\udcff]", lambda s: f"%{ord(s.group()) - 0xDC00:02X}", text)


def canonical_slug(slug: str) -> str | None:
    """The slug as normalize_slug of revision 0006 makes it, or None if it has none."""
    while True:  # runs of escapes that spell UTF-8 are decoded; others stay, in capitals
        decoded = _ESCAPES.sub(_decode_run, slug)
        if decoded == slug:
            break
        slug = decoded
    slug = _SLASHES.sub("/", unicodedata.normalize("NFC", slug)).strip("/")
    if not slug or len(slug) > SLUG_MAX or _REFUSED.search(slug):
        return None
    return slug


def upgrade() -> None:
    connection = op.get_bind()
    posts = connection.execute(sa.text("SELECT id, slug, closed FROM posts ORDER BY id")).all()
    groups: dict[str, list[sa.Row[tuple[int, str, bool]]]] = {}
    for post in posts:
        canonical = canonical_slug(post.slug)
        if canonical is not None:
            groups.setdefault(canonical, []).append(post)
    for canonical, group in groups.items():
        if len(group) == 1 and group[0].slug == canonical:
            continue
        keeper, others = group[0], group[1:]  # the oldest post keeps its id (and links to it)
        for other in others:
            connection.execute(
                sa.text("UPDATE comments SET post_id = :keeper WHERE post_id = :other"),
                {"keeper": keeper.id, "other": other.id},
            )
            connection.execute(sa.text("DELETE FROM posts WHERE id = :id"), {"id": other.id})
        approved = connection.execute(
            sa.text("SELECT COUNT(*) FROM comments WHERE post_id = :id AND status = 'approved'"),
            {"id": keeper.id},
        ).scalar_one()
        connection.execute(
            sa.text(
                "UPDATE posts SET slug = :slug, approved_count = :count, closed = :closed, "
                "version = :version WHERE id = :id"
            ),
            {
                "slug": canonical,
                "count": approved,
                "closed": any(post.closed for post in group),
                "version": secrets.token_hex(8),  # every cached page of it is stale
                "id": keeper.id,
            },
        )


def downgrade() -> None:
    # The spellings the slugs had are gone; canonical slugs are valid slugs for the revision
    # before, so there is nothing to undo.
    pass
