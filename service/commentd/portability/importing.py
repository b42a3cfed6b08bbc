"""Storing what a reader read (API.md, "Moving comments in and out"): all or nothing,
idempotent, streaming, silent.

- **All or nothing:** the whole import is one transaction; a file that breaks half-way
  (ImportFileError) stores nothing. A dry run is the same import rolled back.
- **Idempotent:** each source comment's (format, id) is kept in `comment_sources`; one that is
  there already is counted and left alone, even when its comment was erased since.
- **Streaming:** records are stored in batches as they are read; threading is resolved at the
  end in SQL, from the kept source ids, so memory holds one batch and each post's id (by slug).
- **Silent:** no notice, no webhook, nothing learned unless `teach`. Each post that gained
  comments gets a new version and its approved count recounted, so a running service's page
  caches and counts are right at once.
"""

from __future__ import annotations

import multiprocessing
import queue
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple, cast
from urllib.parse import urlsplit

from sqlalchemy import (
    Boolean,
    Connection,
    Engine,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from commentd.comments import history
from commentd.comments import search
from commentd.comments.fast_path import new_version
from commentd.comments.identity import same_name_key
from commentd.comments.rendering import (
    paragraphs,
    plain_text_html,
    render_body,
    sanitise_html,
    shown_text,
)
from commentd.comments.validation import (
    EMAIL_MAX,
    NAME_MAX,
    check_website,
    has_visible_character,
)
from commentd.db import SQLITE_PAGE_CACHE_KB, writer
from commentd.errors import BadRequest
from commentd.keys import client_network, instance_id, keyed_hash
from commentd.models import (
    Comment,
    Commenter,
    CommentHistory,
    CommentSource,
    CommentStatus,
    Post,
    UTCDateTime,
    utcnow,
)
from commentd.portability.readers import READERS
from commentd.portability.records import (
    ImportFileError,
    Markup,
    NoProgress,
    Progress,
    Skip,
    SourceComment,
    SourcePost,
    utc,
)
from commentd.portability.slugs import SlugMap
from commentd.portability.spill import MEMORY_KEYS, SpillMap
from commentd.spam import learned
from commentd.spam.screening import body_key

BATCH = 500
IMPORT_LOCK = 0x636F6D6D656E7464  # "commentd": PostgreSQL's advisory lock of imports
AHEAD = 2  # prepared batches that may wait for the database
IMPORT_CACHE_KB = 16 * 1024
NATIVE = "json"  # commentd's own export
COMMENTERS_REMEMBERED = 10_000
ANONYMOUS = "Anonymous"
# Skip reasons the importer adds to the readers' (records.Skip).
NO_SLUG = "no_slug"  # the page has no path (a site's front page): give it one with --map
DUPLICATE = "duplicate_id"  # the file gives the same id to two comments: the first is kept

SHOWN_ORDER = (
    CommentStatus.APPROVED,
    CommentStatus.PENDING,
    CommentStatus.SPAM,
    CommentStatus.REJECTED,
)

_COMMENTS = cast(Table, Comment.__table__)
_SOURCES = cast(Table, CommentSource.__table__)
_COMMENTERS = cast(Table, Commenter.__table__)
_POSTS = cast(Table, Post.__table__)
_HISTORY = cast(Table, CommentHistory.__table__)
_NEW_POSTS = text(
    "INSERT INTO posts (slug, approved_count, version, closed, created_at)"
    " VALUES (:slug, 0, :version, :closed, :created_at) ON CONFLICT (slug) DO NOTHING"
).bindparams(bindparam("closed", type_=Boolean()), bindparam("created_at", type_=UTCDateTime()))
_POSTS_BY_SLUG = select(_POSTS.c.slug, _POSTS.c.id).where(
    _POSTS.c.slug.in_(bindparam("slugs", expanding=True))
)


@dataclass
class ImportSummary:
    """What an import did, by status and skip reason; `lines()` for people, `as_json()` for
    the moderation API (API shape in docs/api-additions.md)."""

    format: str
    dry_run: bool = False
    read: int = 0
    imported: Counter[str] = field(default_factory=Counter)  # status value → comments
    posts: int = 0  # posts that gained comments
    already_imported: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # Skip value or NO_SLUG → comments
    orphans: int = 0  # replies whose parent was not imported, now top-level
    ids_kept: bool = False  # commentd's own export: the comments kept their ids

    def as_json(self) -> dict[str, Any]:
        """{"format", "dry_run", "read", "imported": {status: n}, "posts", "already_imported",
        "skipped": {reason: n}, "orphans"}: every status and reason present, zero or not."""
        return {
            "format": self.format,
            "dry_run": self.dry_run,
            "read": self.read,
            "imported": {s.value: self.imported[s.value] for s in SHOWN_ORDER},
            "posts": self.posts,
            "already_imported": self.already_imported,
            "skipped": {r: self.skipped[r] for r in [*(s.value for s in Skip), NO_SLUG, DUPLICATE]},
            "orphans": self.orphans,
        }

    def lines(self, file_name: str) -> list[str]:
        """The summary `commentd import` prints, one fact a line."""
        total = sum(self.imported.values())
        by_status = ", ".join(
            f"{self.imported[s.value]} {s.value}" for s in SHOWN_ORDER if self.imported[s.value]
        )
        lines = [
            f"Read {self.read} comments from {file_name} ({self.format}).",
            f"Imported {total} on {self.posts} {'post' if self.posts == 1 else 'posts'}"
            + (f": {by_status}." if total else "."),
            f"Already imported before: {self.already_imported}.",
        ]
        skipped = sum(self.skipped.values())
        if skipped:
            reasons = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in self.skipped.items() if n)
            lines.append(f"Skipped {skipped}: {reasons}.")
        if self.orphans:
            lines.append(f"Replies whose parent is missing, now top-level: {self.orphans}.")
        if self.ids_kept:
            lines.append("Comment ids were kept: #comment-<id> links still work.")
        if self.dry_run:
            lines.append("Dry run: nothing was stored.")
        return lines


def run_import(
    engine: Engine,
    source: str,
    path: Path,
    *,
    secret: str,
    dry_run: bool = False,
    slug_map: SlugMap | None = None,
    teach: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Read the `source` format's file at `path` (a readers.READERS name) and import it in one
    transaction, committed unless `dry_run`; returns the summary. `secret` is the site's
    (COMMENTD_SECRET_KEY, else keys.load_or_create_secret): addresses and avatars are keyed
    with it, as for new comments.

    Raises KeyError for an unknown format, ImportFileError for a file that cannot be read as
    it (nothing stored), OSError when it cannot be opened.
    """
    if source not in READERS:
        raise KeyError(source)
    own = instance_id(engine) if source == NATIVE else None
    with Session(writer(engine)) as session:
        if engine.dialect.name == "sqlite":
            # One long transaction writes every index: a bigger page cache than a request's
            # keeps them in memory (counted in the import's peak RSS, BENCHMARKS.md).
            session.connection().exec_driver_sql(f"PRAGMA cache_size=-{IMPORT_CACHE_KB}")
        try:
            if engine.dialect.name == "postgresql":
                # One import at a time (SQLite's write lock does this there): two imports of
                # one file would both find its comments new, and the second fail on them.
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})
            summary = _store_all(
                session,
                _read_in_child(
                    source, path, secret, slug_map or SlugMap({}), progress or NoProgress()
                ),
                source=source,
                secret=secret,
                teach=teach,
                own_instance=own,
                dry_run=dry_run,
            )
            summary.dry_run = dry_run
            if dry_run:
                session.rollback()
            else:
                session.commit()
        finally:
            if engine.dialect.name == "sqlite":
                session.rollback()
                session.connection().exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_PAGE_CACHE_KB}")
                session.rollback()
    return summary


def _store_all(
    session: Session,
    batches: Iterable[list[_Prepared]],
    *,
    source: str,
    secret: str,
    teach: bool = False,
    own_instance: str | None = None,
    dry_run: bool = False,
) -> ImportSummary:
    """Store the prepared records as comments of the posts their pages map to; returns the
    summary. Flushes, never commits: the caller commits the whole import, or rolls it back.

    `source` names the source system the ids belong to (the format's name). `secret` is the
    site's (keys.load_or_create_secret). `own_instance` is this service's instance id, when
    importing commentd's own export: its comments keep their ids if the service has never had
    a comment. Raises what the batches raise (ImportFileError, naming the record).
    """
    summary = ImportSummary(format=source)
    importer = _Importer(session, summary, source, secret, teach)
    importer.keep_ids = own_instance is not None and _never_had_comments(session)
    importer.own_instance = own_instance
    importer.dry_run = dry_run
    summary.ids_kept = importer.keep_ids
    # SQLite: the search index takes the imported comments in one go at the end, not row by
    # row from its triggers (comments/search.py; 4 times faster).
    paused = search.pause_indexing(session)
    for batch in batches:
        importer.store(batch)
    importer.finish()
    search.resume_indexing(session, paused, importer.first_id, importer.last_id)
    return summary


class _Prepared(NamedTuple):
    """A record made ready in the reading process: what storing it needs, in builtins only (a
    tuple crosses the pipe 5 times faster than the reader's dataclass). `values`: the row's
    values that need no database, None when it is skipped for the reason `skip`."""

    is_post: bool  # a SourcePost: a page to create, no comment
    slug: str | None
    closed: bool
    source_id: str = ""
    parent_id: str | None = None
    markup: str = ""
    skip: str | None = None
    values: dict[str, Any] | None = None
    extra: dict[str, object] | None = None  # commentd's own export: what it kept
    created_at: datetime | None = None  # a SourcePost's, when the source says
    ip: str | None = None  # the source's address of the sender, keyed in row(), never stored
    title: str | None = None  # a SourcePost's title (commentd's own export)


class _Preparer:
    """What can be done to a record without the database: rendering, cleaning, keyed hashes,
    the slug. Runs in the reading process (see _read_in_child)."""

    def __init__(self, source: str, secret: str, slug_map: SlugMap) -> None:
        self.source = source
        self.secret = secret
        self.slug_map = slug_map
        self.slugs: SpillMap[str] = SpillMap()  # page → slug ("": none); memory stays flat

    def slug(self, record: SourceComment | SourcePost) -> str | None:
        """The slug of the record's page (the map's, or its own); None when it has none."""
        given = record.extra.get("slug") if isinstance(record, SourceComment) else None
        page = str(given) if given else record.page
        known = self.slugs.get(page)
        if known is not None:
            return known or None
        try:
            slug = self.slug_map.slug(page)
        except BadRequest:
            slug = ""
        self.slugs[page] = slug
        return slug or None

    def prepare(self, record: SourceComment | SourcePost) -> _Prepared:
        """The record, its slug, and its row's values (or why it is skipped)."""
        if isinstance(record, SourcePost):
            return _Prepared(
                True,
                self.slug(record),
                record.closed,
                created_at=record.created_at,
                title=record.title,
            )
        if record.skip is not None:
            return _Prepared(False, None, record.closed, skip=record.skip.value)
        slug = self.slug(record)
        if slug is None:
            return _Prepared(False, None, record.closed, skip=NO_SLUG)
        extra = record.extra
        body_html = _rendered(record) if "body_html" not in extra else _kept_html(extra)
        if not has_visible_character(shown_text(body_html)):
            return _Prepared(False, slug, record.closed, skip=Skip.EMPTY.value)
        name = _name(record.name)
        email = _email(record.email)
        created_at = utc(record.created_at, record.record)
        identity = email.lower() or "name\0" + same_name_key(name)
        values: dict[str, Any] = {
            "parent_id": None,
            "commenter_id": None,
            "status": record.status,
            "name": name,
            "email": email,
            "website": _website(record.website),
            "body": record.text,
            "body_html": body_html,
            "avatar_key": _keyed(self.secret, "avatar", f"imported\0{identity}"),
            "client_key": None,  # keyed in the importing process (row()), from `ip`
            "notify": False,
            "notify_approved": False,
            "spam_score": 0.0,
            "reasons": [f"imported from {self.source}"],
            "lesson": None,
            "body_key": None,  # keyed in the importing process (row())
            "created_at": created_at,
            "moderated_at": None,
            "edited_at": None,
            "is_owner": False,
            "pinned_at": None,
        }
        if extra:
            values |= _kept_columns(extra)
        site = _site(record.page)
        return _Prepared(
            False,
            slug,
            record.closed,
            f"{site}{record.source_id}"[:255],
            f"{site}{record.parent_id}"[:255] if record.parent_id else None,
            record.markup.value,
            None,
            values,
            extra or None,
            ip=record.ip or None,
        )


def _read_in_child(
    source: str, path: Path, secret: str, slug_map: SlugMap, progress: Progress
) -> Iterator[list[_Prepared]]:
    """Batches of prepared records, read and prepared in a process of its own while this one
    stores the batches before them: parsing and rendering take the second core, the database
    work this one (threads would not do: both halves are mostly Python, which holds the GIL;
    measured, a thread made the import slower). At most AHEAD batches wait in the pipe, so
    memory stays bounded. What the reader raises (ImportFileError, OSError) is raised here;
    when this side stops (an error, a database failure), the child is stopped."""
    context = multiprocessing.get_context("spawn")  # never fork a process with threads
    pipe: multiprocessing.Queue[tuple[str, Any, int]] = context.Queue(maxsize=AHEAD)
    child = context.Process(
        target=_reading_process,
        args=(source, path, secret, slug_map, pipe),
        name="commentd-import-reader",
        daemon=True,
    )
    child.start()
    try:
        while True:
            try:
                kind, payload, advanced = pipe.get(timeout=1)
            except queue.Empty:
                if not child.is_alive():
                    raise ImportFileError(
                        "", f"the process reading the file stopped (exit code {child.exitcode})"
                    ) from None
                continue
            if advanced:
                progress.advance(advanced)
            if kind == "start":
                progress.start(*payload)
            elif kind == "batch":
                yield payload
            elif kind == "error":
                raise payload
            else:
                return
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        pipe.close()


class _RelayedProgress:
    """The reading process's Progress: a bar's start is sent at once, advances ride along
    with the next batch."""

    def __init__(self, pipe: multiprocessing.Queue[tuple[str, Any, int]]) -> None:
        self._pipe = pipe
        self._advanced = 0

    def start(self, total: int | None, unit: str) -> None:
        self._pipe.put(("start", (total, unit), self.take()))

    def advance(self, amount: int) -> None:
        self._advanced += amount

    def take(self) -> int:
        """What was advanced since last taken."""
        advanced, self._advanced = self._advanced, 0
        return advanced


class _Tracked(Iterator[SourceComment | SourcePost]):
    """A reader's records, remembering the last one read: what a failure names when the reader
    itself did not say where it was."""

    def __init__(self, records: Iterator[SourceComment | SourcePost]) -> None:
        self._records = records
        self._last: str | None = None

    def __next__(self) -> SourceComment | SourcePost:
        record = next(self._records)
        self._last = record.record or self._last
        return record

    def place(self) -> str:
        """Where the failure is: after the last record read, or at the start."""
        return f"after {self._last}" if self._last else "the first record"


def _reading_process(
    source: str,
    path: Path,
    secret: str,
    slug_map: SlugMap,
    pipe: multiprocessing.Queue[tuple[str, Any, int]],
) -> None:
    """The reading process: the reader's records, prepared, a batch at a time into `pipe`;
    then ("end", ...), or ("error", the exception, ...)."""
    progress = _RelayedProgress(pipe)
    preparer = _Preparer(source, secret, slug_map)
    records = _Tracked(READERS[source](path, progress))
    try:
        for batch in _batches(records, BATCH):
            pipe.put(("batch", [preparer.prepare(record) for record in batch], progress.take()))
        pipe.put(("end", None, progress.take()))
    except (ImportFileError, OSError) as error:  # handed to the importing process, raised there
        pipe.put(("error", error, progress.take()))
    except MemoryError:
        pipe.put(("error", ImportFileError(records.place(), "a record is too large"), 0))
    except Exception as error:  # a reader's blind spot: still the file's fault, named by place
        reason = f"{type(error).__name__}: {error}"[:300]
        pipe.put(("error", ImportFileError(records.place(), f"cannot be read ({reason})"), 0))
    finally:
        preparer.slugs.close()
    pipe.close()
    pipe.join_thread()


class _IdAllocator:
    """New comment ids for an import, never handed out before and never again.

    SQLite: the import holds the database's write lock from its first statement to its commit,
    so the ids after the highest ever given (AUTOINCREMENT's sqlite_sequence) are its own; the
    inserts move sqlite_sequence past them. PostgreSQL: taken from the comments' sequence, which
    concurrent posts share safely.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._sqlite = session.get_bind().dialect.name == "sqlite"
        self._next: int | None = None

    def allocate(self, count: int) -> list[int]:
        """`count` new ids, ascending."""
        if count == 0:
            return []
        if not self._sqlite:
            return list(
                self._session.execute(
                    text("SELECT nextval('comments_id_seq') FROM generate_series(1, :n)"),
                    {"n": count},
                ).scalars()
            )
        if self._next is None:
            self._next = 1 + int(
                self._session.execute(
                    text(
                        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE"
                        " name = 'comments'), 0), coalesce((SELECT max(id) FROM comments), 0))"
                    )
                ).scalar_one()
            )
        first, self._next = self._next, self._next + count
        return list(range(first, first + count))


def _batches(
    records: Iterator[SourceComment | SourcePost], size: int
) -> Iterator[list[SourceComment | SourcePost]]:
    while batch := list(islice(records, size)):
        yield batch


def _never_had_comments(session: Session) -> bool:
    """Whether no comment id was ever handed out here (so an import may choose them)."""
    if session.scalar(select(func.count()).select_from(Comment)):
        return False
    if session.get_bind().dialect.name == "sqlite":
        seq = session.execute(text("SELECT seq FROM sqlite_sequence WHERE name = 'comments'"))
        return not (seq.scalar() or 0)
    row = session.execute(
        text("SELECT is_called FROM comments_id_seq")  # PostgreSQL's serial sequence
    ).one()
    return not row.is_called


class _Importer:
    """One import's state: the posts it met (slug → id), and the range of ids it stored."""

    def __init__(
        self,
        session: Session,
        summary: ImportSummary,
        source: str,
        secret: str,
        teach: bool,
    ) -> None:
        self.session = session
        self.connection = session.connection()
        self.summary = summary
        self.source = source
        self.secret = secret
        self.teach = teach
        self.keep_ids = False
        self.dry_run = False  # rolled back at the end: nothing outside the transaction moves
        self.ids = _IdAllocator(session)
        # slug → id of the posts met last (MEMORY_KEYS at most: the others are looked up again)
        self.post_ids: OrderedDict[str, int] = OrderedDict()
        self.commenters: dict[str, int] = {}  # token hash → id, at most COMMENTERS_REMEMBERED
        self.own_instance: str | None = None
        self.stored = 0  # comments stored so far
        self.analyze_at = 1000  # PostgreSQL: when the statistics are next refreshed
        self.first_id: int | None = None
        self.last_id: int | None = None

    # -- posts ----------------------------------------------------------------------------

    def ensure_posts(self, wanted: dict[str, tuple[bool, datetime]]) -> None:
        """Make sure each slug of `wanted` (slug → (closed at the source, its first comment's
        date)) has a post, known in `post_ids`: one query for those not met yet, one insert for
        those that are new."""
        for slug in wanted:
            if slug in self.post_ids:
                self.post_ids.move_to_end(slug)
        while len(self.post_ids) > MEMORY_KEYS:
            self.post_ids.popitem(last=False)
        missing = [slug for slug in wanted if slug not in self.post_ids]
        if not missing:
            return
        self.post_ids.update(
            {
                row.slug: row.id
                for row in self.connection.execute(_POSTS_BY_SLUG, {"slugs": missing})
            }
        )
        new = [slug for slug in missing if slug not in self.post_ids]
        if new:
            # A reader's first comment may create the same post meanwhile (PostgreSQL): that
            # one is as good as ours.
            self.connection.execute(
                _NEW_POSTS,
                [
                    {
                        "slug": slug,
                        "version": new_version(),
                        "closed": wanted[slug][0],
                        "created_at": wanted[slug][1],
                    }
                    for slug in new
                ],
            )
            self.post_ids.update(
                {
                    row.slug: row.id
                    for row in self.connection.execute(_POSTS_BY_SLUG, {"slugs": new})
                }
            )

    def keep_titles(self, titles: dict[str, str]) -> None:
        """Give the posts of `titles` (slug → title) those titles, where they have none."""
        self.connection.execute(
            update(_POSTS)
            .where(_POSTS.c.slug == bindparam("the_slug"), _POSTS.c.title.is_(None))
            .values(title=bindparam("the_title")),
            [{"the_slug": slug, "the_title": title} for slug, title in titles.items()],
        )

    def store(self, batch: list[_Prepared]) -> None:
        """Store one batch of prepared records: the new ones, with their source ids."""
        comments: list[_Prepared] = []
        wanted: dict[str, tuple[bool, datetime]] = {}
        titles: dict[str, str] = {}
        for prepared in batch:
            if prepared.is_post:
                if prepared.slug is not None:
                    wanted[prepared.slug] = (prepared.closed, prepared.created_at or utcnow())
                    if prepared.title:
                        titles[prepared.slug] = prepared.title
                continue
            self.summary.read += 1
            if prepared.slug is not None:
                created_at = prepared.values["created_at"] if prepared.values else utcnow()
                first = wanted.get(prepared.slug)
                if first is None or created_at < first[1]:
                    wanted[prepared.slug] = (prepared.closed, created_at)
            if prepared.skip is not None:
                self.summary.skipped[prepared.skip] += 1
            else:
                comments.append(prepared)
        self.ensure_posts(wanted)
        if titles:
            self.keep_titles(titles)
        if not comments:
            return
        known = self.known_ids([prepared.source_id for prepared in comments])
        rows: list[dict[str, Any]] = []
        sources: list[dict[str, Any]] = []
        now = utcnow()
        seen: set[str] = set()
        for prepared in comments:
            if prepared.source_id in seen or (
                prepared.source_id in known and self.duplicate(known[prepared.source_id])
            ):
                self.summary.skipped[DUPLICATE] += 1
                continue
            seen.add(prepared.source_id)
            if prepared.source_id in known:
                self.summary.already_imported += 1
                continue
            rows.append(self.row(prepared))
            sources.append(
                {
                    "source": self.source,
                    "source_id": prepared.source_id,
                    "parent_source_id": prepared.parent_id,
                    "markup": prepared.markup,
                    "imported_at": now,
                }
            )
            for other, other_id in _other_sources(prepared.extra):
                sources.append(
                    {
                        "source": other,
                        "source_id": other_id,
                        "parent_source_id": None,
                        "markup": prepared.markup,
                        "imported_at": now,
                    }
                )
        if not rows:
            return
        ids = self.insert(rows)
        by_row = iter(ids)
        comment_of_record = None
        for source_row in sources:
            if source_row["source"] == self.source:
                comment_of_record = next(by_row)
            source_row["comment_id"] = comment_of_record
        _bulk_insert(self.connection, _SOURCES, sources)
        for row in rows:
            self.summary.imported[row["status"].value] += 1
        _bulk_insert(
            self.connection,
            _HISTORY,
            history.imported_rows(
                ids, [row["status"] for row in rows], [row["reasons"] for row in rows]
            ),
        )
        if self.teach:
            self.learn(ids, [row["status"] for row in rows])
        self.stored += len(rows)
        self.analyze_if_due()

    def analyze_if_due(self, *, now: bool = False) -> None:
        """PostgreSQL: refresh the planner's statistics of the tables this import fills, at
        1,000, 10,000 and 100,000 comments and every 100,000 after (and before threading).
        Rows written in this transaction are never auto-analysed, and without statistics the
        planner chose sequential scans for the id lookups: an import quadratic in its size
        (20,000 comments in 34 s against 6.8 s once analysed, bench/import_bench.py)."""
        if self.connection.dialect.name != "postgresql":
            return
        if now or self.stored >= self.analyze_at:
            self.connection.exec_driver_sql("ANALYZE comment_sources, comments, posts")
            self.analyze_at = min(self.stored * 10, self.stored + 100_000) if self.stored else 1000

    def known_ids(self, source_ids: list[str]) -> dict[str, int | None]:
        """Which of these source ids are stored already, with the comment each became (None:
        erased since); for commentd's own export, also this very service's comments
        ("<own>/<id>")."""
        known: dict[str, int | None] = {
            row.source_id: row.comment_id
            for row in self.connection.execute(
                select(_SOURCES.c.source_id, _SOURCES.c.comment_id).where(
                    _SOURCES.c.source == self.source, _SOURCES.c.source_id.in_(source_ids)
                )
            )
        }
        if self.own_instance is not None:
            mine = {
                int(tail): source_id
                for source_id in source_ids
                for head, _, tail in [source_id.partition("/")]
                if head == self.own_instance and tail.isdigit()
            }
            if mine:
                here = self.connection.execute(
                    select(_COMMENTS.c.id).where(_COMMENTS.c.id.in_(list(mine)))
                ).scalars()
                known.update({mine[i]: None for i in here})
        return known

    def duplicate(self, comment_id: int | None) -> bool:
        """Whether a known source id became a comment of this very import: the file gives one
        id twice (counted apart from what earlier imports stored)."""
        return comment_id is not None and self.first_id is not None and comment_id >= self.first_id

    def row(self, prepared: _Prepared) -> dict[str, Any]:
        """The comments row of a prepared record: its values, with what the database says
        (its post, its commenter for commentd's own export, its id when ids are kept)."""
        assert prepared.values is not None and prepared.slug is not None
        row = prepared.values | {"post_id": self.post_ids[prepared.slug]}
        # Two keyed hashes made here rather than in the reading process, which is the slower
        # of the two (bench/import_profile.py: they were a fifth of its time).
        if row["body_key"] is None:
            row["body_key"] = body_key(self.secret, row["body"])
        if prepared.ip and row["client_key"] is None:
            row["client_key"] = _client_key(self.secret, prepared.ip)
        extra = prepared.extra or {}
        commenter = extra.get("commenter")
        if isinstance(commenter, dict):
            row["commenter_id"] = self.commenter_id(commenter)
        if self.keep_ids and isinstance(extra.get("id"), int):
            row["id"] = extra["id"]
        return row

    def commenter_id(self, commenter: dict[str, Any]) -> int:
        """commentd's own export: the commenter a comment was posted by, found by its token's
        hash or stored, so the token in the commenter's browser still proves it is theirs."""
        token = commenter["token_hash"]
        known = self.commenters.get(token)
        if known is None:
            known = self.connection.execute(
                select(_COMMENTERS.c.id).where(_COMMENTERS.c.token_hash == token)
            ).scalar_one_or_none()
        if known is None:
            known = self.connection.execute(
                insert(_COMMENTERS).returning(_COMMENTERS.c.id),
                {
                    "email": commenter["email"].lower()[:EMAIL_MAX],
                    "token_hash": token,
                    "created_at": commenter["created_at"],
                    "confirmed_at": commenter["confirmed_at"],
                },
            ).scalar_one()
        if len(self.commenters) >= COMMENTERS_REMEMBERED:
            self.commenters.clear()
        self.commenters[token] = int(known)
        return int(known)

    def insert(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert the rows, each with an id: its own (commentd's export, ids kept) or one
        allocated here; returns the ids in order. Ids are allocated rather than read back
        because a bulk insert cannot return them in order on SQLite without one INSERT a row
        (5 times slower)."""
        fresh = [row for row in rows if "id" not in row]
        for row, new_id in zip(fresh, self.ids.allocate(len(fresh)), strict=True):
            row["id"] = new_id
        _bulk_insert(self.connection, _COMMENTS, rows)
        ids = [int(row["id"]) for row in rows]
        self.first_id = min(ids) if self.first_id is None else min(self.first_id, *ids)
        self.last_id = max(ids) if self.last_id is None else max(self.last_id, *ids)
        return ids

    def learn(self, ids: list[int], statuses: list[CommentStatus]) -> None:
        """--teach: the approved teach ham and the spam spam, as the author's decisions do."""
        for comment_id, status in zip(ids, statuses, strict=True):
            lesson = learned.lesson_for(status)
            if lesson is not None:
                comment = self.session.get(Comment, comment_id)
                assert comment is not None
                learned.teach(self.session, comment, lesson)

    # -- after the last batch -------------------------------------------------------------

    def finish(self) -> None:
        """Thread the new comments, cut any loop, and give each touched post its count."""
        if self.first_id is not None and self.last_id is not None:
            self.analyze_if_due(now=True)
            self.thread(self.first_id, self.last_id)
            self.recount(self.first_id, self.last_id)
        postgresql = self.session.get_bind().dialect.name == "postgresql"
        # setval() is not undone by a rollback: a dry run must leave the sequence as it was,
        # or the real run would find ids handed out and renumber.
        if self.keep_ids and postgresql and not self.dry_run:
            self.session.execute(
                text(
                    "SELECT setval('comments_id_seq', "
                    "(SELECT coalesce(max(id), 1) FROM comments), "
                    "(SELECT count(*) > 0 FROM comments))"
                )
            )

    def thread(self, first: int, last: int) -> None:
        """Each new comment's parent: the comment its source parent became, on the same post
        (from this import or an earlier one), and older than it (an earlier date, or the same
        date and a smaller id). A reply whose parent is not here, or is dated after it, is
        top-level. Only an older parent is taken so that no loop of replies can form whatever
        the file says: each parent link goes back in time. (A recursive search for loops
        instead went quadratic on PostgreSQL past 300,000 comments.)"""
        self.connection.execute(
            text(
                "UPDATE comments SET parent_id = link.parent FROM ("
                " SELECT mine.comment_id AS child, parent.id AS parent, parent.post_id,"
                "  parent.created_at AS parent_created_at"
                " FROM comment_sources AS mine"
                " JOIN comment_sources AS theirs"
                "   ON theirs.source = mine.source AND theirs.source_id = mine.parent_source_id"
                " JOIN comments AS parent ON parent.id = theirs.comment_id"
                " WHERE mine.source = :source AND mine.parent_source_id IS NOT NULL"
                "   AND mine.comment_id BETWEEN :first AND :last) AS link"
                " WHERE comments.id = link.child AND comments.post_id = link.post_id"
                " AND (link.parent_created_at < comments.created_at"
                "  OR (link.parent_created_at = comments.created_at AND link.parent < comments.id))"
            ),
            {"source": self.source, "first": first, "last": last},
        )
        self.summary.orphans = int(
            self.connection.execute(
                text(
                    "SELECT count(*) FROM comment_sources AS mine"
                    " JOIN comments ON comments.id = mine.comment_id"
                    " WHERE mine.source = :source AND mine.parent_source_id IS NOT NULL"
                    " AND comments.parent_id IS NULL"
                    " AND comments.id BETWEEN :first AND :last"
                ),
                {"source": self.source, "first": first, "last": last},
            ).scalar_one()
        )

    def recount(self, first: int, last: int) -> None:
        """Every post that gained comments (ids `first` to `last`): its approved count
        recounted, and a new version, so every process's page cache and counts see them."""
        posts_of_import = (
            "SELECT DISTINCT comments.post_id FROM comments JOIN comment_sources AS mine"
            " ON mine.comment_id = comments.id AND mine.source = :source"
            " WHERE comments.id BETWEEN :first AND :last"
        )
        bounds = {"source": self.source, "first": first, "last": last}
        self.summary.posts = int(
            self.connection.execute(
                text(f"SELECT count(*) FROM ({posts_of_import}) AS touched"), bounds
            ).scalar_one()
        )
        self.connection.execute(
            text(
                "UPDATE posts SET approved_count = (SELECT count(*) FROM comments"
                "  WHERE comments.post_id = posts.id AND comments.status = :approved),"
                f" version = :version WHERE id IN ({posts_of_import})"
            ),
            bounds | {"approved": CommentStatus.APPROVED.value, "version": new_version()},
        )


def _bulk_insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT the rows (each with the same keys) in one executemany on the driver, each value
    converted by its column's type for this dialect, as SQLAlchemy would. The one seam past
    SQLAlchemy's execute(): its per-row parameter processing was a third of an import's
    database time (SQLite, 50,000 Disqus posts: 1.1 s of 3.2 s).
    """
    if not rows:
        return
    columns = tuple(rows[0])
    dialect = connection.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    order = compiled.positiontup if compiled.positional else columns
    assert order is not None
    values = []
    for name in order:
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        column = [row[name] for row in rows]
        values.append([process(value) for value in column] if process is not None else column)
    if compiled.positional:
        connection.exec_driver_sql(str(compiled), list(zip(*values, strict=True)))
    else:
        connection.exec_driver_sql(
            str(compiled), [dict(zip(order, row, strict=True)) for row in zip(*values, strict=True)]
        )


@lru_cache(maxsize=4096)
def _site(page: str) -> str:
    """What a source id is remembered under besides its format: the host of the page's URL
    ("blog.example " for https://www.blog.example/p/, "www." and case ignored), "" for a
    bare path. Sources number comments per site (WordPress, Artalk), so two blogs' exports
    both have a comment 5; the host keeps them apart, and the same file imported again still
    meets its own ids."""
    try:
        host = (urlsplit(page.strip()).hostname or "").lower()
    except ValueError:
        return ""
    host = host.removeprefix("www.")
    return f"{host} " if host else ""


@lru_cache(maxsize=4096)
def _keyed(secret: str, purpose: str, value: str) -> str:
    """keyed_hash, remembered: a source's commenters and addresses come back again and again."""
    return keyed_hash(secret, purpose, value)


@lru_cache(maxsize=4096)
def _client_key(secret: str, ip: str) -> str:
    return keyed_hash(secret, "client", client_network(ip))


# -- the fields -------------------------------------------------------------------------------


def _rendered(record: SourceComment) -> str:
    """A record's text as a rendered comment's HTML, by how the source wrote it."""
    match record.markup:
        case Markup.HTML:
            return sanitise_html(record.text)
        case Markup.WORDPRESS:
            return sanitise_html(paragraphs(record.text))
        case Markup.MARKDOWN:
            return render_body(record.text)
        case Markup.PLAIN:
            return sanitise_html(plain_text_html(record.text))


def _kept_html(extra: dict[str, object]) -> str:
    """commentd's own export: the stored HTML, sanitised again (a file is not trusted)."""
    return sanitise_html(str(extra["body_html"]))


_KEPT = (
    "avatar_key",
    "client_key",
    "notify",
    "notify_approved",
    "spam_score",
    "reasons",
    "body_key",
    "moderated_at",
    "edited_at",
    "is_owner",
    "pinned_at",
)


def _kept_columns(extra: dict[str, object]) -> dict[str, Any]:
    """commentd's own export: the columns it keeps as they were (readers/native.py checked
    their types)."""
    return {key: extra[key] for key in _KEPT if key in extra}


def _other_sources(extra: dict[str, object] | None) -> list[tuple[str, str]]:
    """commentd's own export: where each comment had come from before (kept, so importing
    that original file here later stores nothing twice)."""
    others = (extra or {}).get("sources")
    if not isinstance(others, list):
        return []
    return [(str(s), str(i)[:255]) for s, i in others]


def _clean(text: str) -> str:
    """No control or format characters (bidi controls, zero-width), white space runs as one."""
    if text.isascii() and text.isprintable():
        return " ".join(text.split())
    kept = "".join(
        c for c in text if unicodedata.category(c) not in ("Cc", "Cf", "Cs") or c in "\t\n"
    )
    return " ".join(kept.split())


def _name(raw: str) -> str:
    """A display name as a new comment's would be: cleaned, at most NAME_MAX characters, and
    "Anonymous" when the source had none."""
    name = _clean(raw)[:NAME_MAX].strip()
    return name if has_visible_character(name) else ANONYMOUS


def _email(raw: str) -> str:
    """The source's address if it looks like one (kept private, as for any comment); ""."""
    email = raw.strip()
    if (
        not email
        or len(email) > EMAIL_MAX
        or email.count("@") != 1
        or any(c.isspace() for c in email)
        or _clean(email) != email
    ):
        return ""
    return email


def _website(raw: str | None) -> str | None:
    """The source's website if it passes a new comment's check (validation.check_website)
    and names its scheme: a bare `dana.example` from a file is not guessed at."""
    website = (raw or "").strip()
    if "://" not in website:
        return None
    errors: dict[str, str] = {}
    return check_website(website, errors) or None


__all__ = ["ImportFileError", "ImportSummary", "run_import"]
