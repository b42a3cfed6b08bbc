"""The moderation console's search: filters over every comment (words in its text, name,
email or website; its post, status, spam reason, links, first from its writer, edited), the
pages and counts of what matches, the ids a bulk action takes, and the glance's days.

Words go to the database's own full-text index: FTS5 on SQLite (the table `comments_fts`,
kept in step by triggers), PostgreSQL's text search on the generated column
`comments.search_vector` (GIN index). Both come from migration 0010_search, which keeps
them in step with every write, so no operation has to call anything here. Reads only.

A search is user input: it never reaches either query language as written. It is cut into
words (runs of letters and digits), each word quoted, so `"`, `AND OR NEAR(` or `*` search for
words or for nothing, never raise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    Text,
    and_,
    case,
    cast,
    column,
    exists,
    func,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from commentd.comments.validation import normalize_slug
from commentd.errors import BadRequest, TooMany
from commentd.models import Comment, CommentStatus, Post

MAX_QUERY_CHARS = 200
MAX_WORDS = 20  # whitespace-separated terms of `q`; each must match
MAX_EMAIL_CHARS = 254
# Between words: white space and ASCII punctuation (what PostgreSQL's document drops too, see
# migration 0010_search). So `alice@example.com` is the words alice, example, com in a row.
_SEPARATORS = re.compile(r"[!-/:-@\[-`{-~]+")
FLAG_TRUE = frozenset({"1", "true", "yes", "on"})
FLAG_FALSE = frozenset({"0", "false", "no", "off", ""})
FLAGS = ("links", "first", "edited")
FILTER_NAMES = frozenset({"q", "slug", "email", "reason", "status", *FLAGS})
ALL_STATUSES = "all"

# Every reason a comment can carry in `reasons` (spam.assess writes them in words, a review
# request and an import add theirs), by code: LIKE patterns over the stored JSON list, whose
# strings each start with a quote. The console's reason filter (static/moderation.js, REASONS)
# has words for each code; tests/unit/test_reason_codes.py holds the two lists together.
REASON_PATTERNS: dict[str, tuple[str, ...]] = {
    "honeypot": ('%"honeypot filled"%',),
    "disallowed_keyword": ('%"matched disallowed keyword %',),
    "keyword": ('%"matched keyword %',),
    "duplicate": ('%"same text as comment %',),
    "duplicate_spam": ('%"same text as spam comment %',),
    "form_token": ('%"no form token %', '%"form token forged%', '%"form token expired"%'),
    "too_fast": ('%"sent % s after the form loaded, minimum %',),
    "links": ('%"% link, limit %', '%"% links, limit %'),
    "filter": ('%"filter score %',),
    "pow_missing": ('%"no proof of work (pow_missing%',),
    "pow_invalid": ('%"proof of work wrong or forged (pow_invalid)"%',),
    "pow_expired": ('%"proof of work expired (pow_expired%',),
    "pow_replayed": ('%"proof of work used before (pow_replayed)"%',),
    "review_requested": ('%"review_requested"%',),
    "imported": ('%"imported from %',),
}


@dataclass(frozen=True)
class Filters:
    """What the author searches for; every field narrows (all must hold).

    `status` None means any status; `words` are the search's terms, each a tuple of the
    words that must follow each other (the last one a prefix); `addresses` the terms that
    hold an @, lower case: each the whole address of the writer (through the index on
    lower(email): an address's words, "example" and "com", are in nearly every comment, so as
    words they were the slowest search of all); `email` is lower case.
    """

    status: CommentStatus | None = CommentStatus.PENDING
    words: tuple[tuple[str, ...], ...] = ()
    addresses: tuple[str, ...] = ()
    slug: str | None = None
    email: str | None = None
    reason: str | None = None
    links: bool = False
    first: bool = False
    edited: bool = False


def email_terms(query: str) -> tuple[str, ...]:
    """The terms of `query` that hold an @: email addresses, lower case, without the quotes
    or brackets around them. At most MAX_WORDS."""
    found = (raw.strip("\"'<>()[],;").lower() for raw in query.split() if "@" in raw)
    return tuple(found)[:MAX_WORDS]


def search_terms(query: str) -> tuple[tuple[str, ...], ...]:
    """`query` cut into terms (at white space) of words (at ASCII punctuation); a term with
    no letter or digit is dropped, and so is one with an @ (email_terms). `zed.q ice` →
    (("zed", "q"), ("ice",)). At most MAX_WORDS terms are kept."""
    terms = []
    for raw in query.split():
        if "@" in raw:
            continue
        words = tuple(w for w in _SEPARATORS.split(raw) if any(ch.isalnum() for ch in w))
        if words:
            terms.append(words)
    return tuple(terms[:MAX_WORDS])


# C0 controls (but tab, line feed, carriage return: white space between words) and DEL.
# PostgreSQL refuses a NUL in text and FTS5 ends its query at one, so they never get that far.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def search_text(value: str, name: str) -> str:
    """`value` (a search or filter's text, named `name` in the message) as it is; raises
    BadRequest (400) if it holds a control character (NUL, say) that no text to find has."""
    if _CONTROL.search(value):
        raise BadRequest(f"{name} must not contain control characters.")
    return value


def _text(raw: Mapping[str, object], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be text.")
    return search_text(value, name)


def _flag(raw: Mapping[str, object], name: str) -> bool:
    value = raw.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in FLAG_TRUE | FLAG_FALSE:
        return value.strip().lower() in FLAG_TRUE
    raise BadRequest(f"{name} must be 1 or 0 (true or false).")


def parse_filters(
    raw: Mapping[str, object],
    *,
    default_status: CommentStatus | None = CommentStatus.PENDING,
    strict: bool = False,
) -> Filters:
    """The filters named in `raw` (a query string's arguments, or a JSON object's members:
    text, and true/false or "1"/"0" for the flags). Raises BadRequest (400) naming the first
    bad value; with `strict`, also for a name that is no filter (a bulk action's `match`, where
    a misspelt filter must not widen the selection).

    Names: q (≤ 200 characters), slug, email, reason (a code of REASON_PATTERNS), status
    (pending, approved, rejected, spam or all; `default_status` when absent), links, first,
    edited.
    """
    if strict:
        unknown = sorted(set(raw) - FILTER_NAMES)
        if unknown:
            raise BadRequest(
                f"Unknown filter {unknown[0]!r}; filters are {', '.join(sorted(FILTER_NAMES))}."
            )
    status = default_status
    raw_status = _text(raw, "status")
    if raw_status is not None:
        if raw_status == ALL_STATUSES:
            status = None
        else:
            try:
                status = CommentStatus(raw_status)
            except ValueError:
                raise BadRequest(
                    "status must be pending, approved, rejected, spam or all."
                ) from None
    query = _text(raw, "q") or ""
    if len(query) > MAX_QUERY_CHARS:
        raise BadRequest(f"A search (q) is at most {MAX_QUERY_CHARS} characters.")
    raw_slug = _text(raw, "slug")
    slug = normalize_slug(raw_slug) if raw_slug else None
    email = (_text(raw, "email") or "").strip()
    if len(email) > MAX_EMAIL_CHARS:
        raise BadRequest(f"An email address is at most {MAX_EMAIL_CHARS} characters.")
    reason = _text(raw, "reason") or None
    if reason is not None and reason not in REASON_PATTERNS:
        raise BadRequest(f"reason must be one of {', '.join(REASON_PATTERNS)}.")
    return Filters(
        status=status,
        words=search_terms(query),
        addresses=email_terms(query),
        slug=slug,
        email=email.lower() or None,
        reason=reason,
        links=_flag(raw, "links"),
        first=_flag(raw, "first"),
        edited=_flag(raw, "edited"),
    )


def fts5_query(terms: tuple[tuple[str, ...], ...]) -> str:
    """An FTS5 MATCH expression for `terms`: each a quoted phrase, its last word a prefix, all
    required. Words hold no quote (ASCII punctuation separates them); doubled anyway."""
    phrases = (" ".join(word.replace('"', '""') for word in term) for term in terms)
    return " ".join(f'"{phrase}"*' for phrase in phrases)


def _tsquery_word(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery(terms: tuple[tuple[str, ...], ...]) -> str:
    """A PostgreSQL to_tsquery() text for `terms`: words of a term follow each other (<->),
    the last one a prefix (:*), every term required (&); each word quoted."""
    return " & ".join("(" + " <-> ".join(_tsquery_word(w) for w in term) + ":*)" for term in terms)


def _postgres_words(terms: tuple[tuple[str, ...], ...]) -> ColumnElement[bool]:
    condition = text("comments.search_vector @@ to_tsquery('simple', :ts_query)")
    return and_(condition.bindparams(ts_query=tsquery(terms)))


# The FTS5 table as a FROM item: a search on SQLite reads it first, in descending rowid
# (= comment id) order, which FTS5 delivers without sorting, and joins each match to its
# comment, so a page stops after `limit` matches. (As `comments.id IN (SELECT rowid ...)`,
# SQLite collected and sorted every match first: 1.3 s for a word in 9 % of 1M comments.)
_FTS = table("comments_fts", column("rowid", Integer))


def _matching(
    session: Session, filters: Filters, *columns: Any, with_status: bool = True
) -> tuple[Any, ColumnElement[int]]:
    """SELECT `columns` FROM the comments that match `filters`, and the column that is the
    comment's id to order and page by."""
    where: list[ColumnElement[bool]] = []
    by_id: ColumnElement[int] = Comment.__table__.c.id
    if filters.words and session.get_bind().dialect.name == "sqlite":
        query = (
            select(*columns)
            .select_from(_FTS)
            .join(Comment, Comment.id == _FTS.c.rowid)
            .where(
                text("comments_fts MATCH :fts_query").bindparams(
                    fts_query=fts5_query(filters.words)
                )
            )
        )
        by_id = _FTS.c.rowid
    else:
        query = select(*columns).select_from(Comment)
        if filters.words:
            where.append(_postgres_words(filters.words))
    if with_status and filters.status is not None:
        where.append(Comment.status == filters.status)
    if filters.slug is not None:
        where.append(
            Comment.post_id == select(Post.id).where(Post.slug == filters.slug).scalar_subquery()
        )
    if filters.email is not None:
        where.append(func.lower(Comment.email) == filters.email)
    for address in filters.addresses:
        where.append(func.lower(Comment.email) == address)
    if filters.reason is not None:
        stored = cast(Comment.reasons, Text)
        where.append(or_(*(stored.like(p) for p in REASON_PATTERNS[filters.reason])))
    if filters.links:
        # rendering makes every link, typed or bare, an anchor (spam.count_links).
        where.append(Comment.body_html.like("%<a %"))
    if filters.edited:
        where.append(Comment.edited_at.is_not(None))
    if filters.first:
        earlier = aliased(Comment)
        where.append(
            ~exists().where(
                func.lower(earlier.email) == func.lower(Comment.email), earlier.id < Comment.id
            )
        )
    return query.where(*where), by_id


# PostgreSQL cannot tell how many comments a prefix (`word:*`) matches, and guesses 0.5 %:
# it then walks the primary key newest first, filtering, until a page is full. Right for a
# common word (3 ms over 1M comments), a walk through the whole table for a rare one (0.6 s).
# So a search there first looks among the newest WINDOW ids only, which that walk does fast;
# when they hold less than a page, the match is rare, and the full search is made to read the
# GIN index (ordering by `id + 0`, which no index gives) and sort what few rows it finds.
POSTGRES_WINDOW = 20_000


def search(
    session: Session, filters: Filters, *, limit: int, before_id: int | None = None
) -> tuple[list[tuple[Comment, str]], int | None]:
    """One page of the comments matching `filters`, newest first, as (comment, slug) pairs,
    and the id to continue below (keyset paging on the id) if there is more."""
    query, by_id = _matching(session, filters, Comment, Post.slug)
    query = query.join(Post, Post.id == Comment.post_id).limit(limit + 1)
    if before_id is not None:
        query = query.where(by_id < before_id)
    newest_first: ColumnElement[Any] = by_id.desc()
    if filters.words and session.get_bind().dialect.name == "postgresql":
        top = before_id if before_id is not None else session.scalar(select(func.max(Comment.id)))
        window = query.where(Comment.id >= (top or 0) - POSTGRES_WINDOW).order_by(newest_first)
        rows = [(row[0], row[1]) for row in session.execute(window)]
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1][0].id
        newest_first = (Comment.id + 0).desc()
    rows = [(row[0], row[1]) for row in session.execute(query.order_by(newest_first))]
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1][0].id
    return rows, None


def count_matching(session: Session, filters: Filters) -> dict[str, int]:
    """How many comments match `filters` in each status (their status filter aside), by
    status value, zeros kept: the tabs of a search."""
    query, _ = _matching(session, filters, Comment.status, func.count(), with_status=False)
    rows = session.execute(query.group_by(Comment.status)).all()
    counts = {status.value: 0 for status in CommentStatus}
    counts.update({row[0].value: row[1] for row in rows})
    return counts


def matching_ids(session: Session, filters: Filters, *, at_most: int) -> list[int]:
    """The ids of every comment matching `filters`, newest first; raises TooMany (422) when
    more than `at_most` match."""
    query, by_id = _matching(session, filters, Comment.id)
    ids = list(session.scalars(query.order_by(by_id.desc()).limit(at_most + 1)))
    if len(ids) > at_most:
        raise TooMany(
            f"More than {at_most} comments match; narrow the search, or act in several steps."
        )
    return ids


def existing_ids(session: Session, ids: list[int]) -> set[int]:
    """Which of `ids` are comments."""
    return set(session.scalars(select(Comment.id).where(Comment.id.in_(ids))))


def daily_counts(session: Session, days: int, today: date) -> list[dict[str, Any]]:
    """Comments received and spam caught (comments now filed as spam) per UTC day, for the
    `days` days ending with `today`, oldest first, every day present:
    [{"date": "2026-11-01", "comments": n, "spam": n}, ...]."""
    first = today - timedelta(days=days - 1)
    day: ColumnElement[Any]
    if session.get_bind().dialect.name == "sqlite":
        day = func.substr(cast(Comment.created_at, Text), 1, 10)  # stored as "YYYY-MM-DD ..."
    else:
        day = cast(func.date(func.timezone("UTC", Comment.created_at)), Text)
    rows = session.execute(
        select(
            day.label("day"),
            func.count(),
            func.sum(case((Comment.status == CommentStatus.SPAM, 1), else_=0)),
        )
        .where(Comment.created_at >= datetime.combine(first, time(), UTC))
        .group_by(day)
    ).all()
    found = {str(row[0]): (int(row[1]), int(row[2] or 0)) for row in rows}
    answer = []
    for offset in range(days):
        key = (first + timedelta(days=offset)).isoformat()
        received, spam = found.get(key, (0, 0))
        answer.append({"date": key, "comments": received, "spam": spam})
    return answer


def forget_erased_words(session: Session) -> None:
    """Rewrite the SQLite search index without the words of erased comments; flushes nothing,
    never commits. FTS5 marks an erased comment's entries deleted and drops them only when
    their index segment is next merged: until then its words stay in the file. Optimising
    merges every segment (seconds per million comments): the retention run (purge) does it.
    Nothing to do on PostgreSQL, whose deleted rows leave at VACUUM like the table's."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("INSERT INTO comments_fts(comments_fts) VALUES ('optimize')"))


def pause_indexing(session: Session) -> list[str]:
    """For a bulk insert on SQLite (an import): drop the triggers that index each new comment
    as it comes, and return their SQL for resume_indexing. Indexing 20,000 comments row by row
    from the triggers took 10 s, once after they were stored 2.7 s. Within the caller's
    transaction (SQLite's DDL is transactional: a rollback puts them back), which holds the
    write lock, so no other comment can arrive unindexed. Nothing to do on PostgreSQL (its
    generated column): returns []."""
    if session.get_bind().dialect.name != "sqlite":
        return []
    found = session.execute(
        text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name = 'comments' AND name LIKE 'comments_fts_%'"
        )
    ).all()
    for name, _ in found:
        session.execute(text(f'DROP TRIGGER "{name}"'))
    return [sql for _, sql in found]


def resume_indexing(
    session: Session, paused: list[str], first_id: int | None, last_id: int | None
) -> None:
    """After pause_indexing: index the comments stored meanwhile (ids first_id to last_id,
    both included; None when none was) in one statement, and put the triggers back."""
    if not paused:
        return
    if first_id is not None and last_id is not None:
        session.execute(
            text(
                "INSERT INTO comments_fts(rowid, body, name, email, website) "
                "SELECT id, body, name, email, website FROM comments "
                "WHERE id BETWEEN :first AND :last"
            ),
            {"first": first_id, "last": last_id},
        )
    for sql in paused:
        session.execute(text(sql))
