"""`commentd export static <dir>`: every post with approved comments as files a static site
serves or builds in (API.md, "Moving comments in and out"; layout in docs/export-format.md):

    <dir>/posts/<slug path>.json   the body of GET /api/posts/<slug>/comments, byte for byte
    <dir>/posts/<slug path>.html   the thread's HTML fragment (publishing.fragment)
    <dir>/avatars/<key>.svg        each commenter's identicon, for serving without the service
    <dir>/counts.json              {"<slug>": approved comments, ...}
    <dir>/manifest.jsonl           what the last run wrote: its parameters, then one line per post

`<slug path>` is slug_paths.path_for_slug (a slug's `/` makes folders; anything a file system
could read otherwise is escaped). Both files come from comments.public.public_page, the very
function of the public read, on rows of one ordered query per batch of posts.

Incremental: a post is written again only when its public version (posts.version) differs from
the manifest's, or a parameter did (public URL, language, case folding, the renderer's output);
the files of posts that lost their last approved comment are removed. Memory stays bounded:
posts are read in batches by id and merged with the manifest, which is kept in id order.

Nothing lands outside `<dir>`: `<dir>` and every folder below it are opened without following
symbolic links (O_NOFOLLOW, relative to the parent's descriptor), files are written to a new
temporary file in their own folder and renamed over the old one (which replaces a link, never
writes through it), and a symbolic link or a file where a folder must be refuses that post.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from commentd import comments
from commentd.comments.public import needs_links, public_json, public_page
from commentd.comments.rendering import identicon_svg
from commentd.comments.validation import normalize_slug
from commentd.errors import BadRequest
from commentd.models import Comment, CommentStatus, Post
from commentd.publishing.fragment import render_thread
from commentd.publishing.slug_paths import path_for_slug, slug_for_path

MANIFEST = "manifest.jsonl"
COUNTS = "counts.json"
POSTS = "posts"
AVATARS = "avatars"
# Bumped when the layout changes: a manifest of another format makes every file be rewritten.
FORMAT = 1
BATCH = 500  # posts read, compared and written per round trip
FILE_MODE = 0o644  # published files: readable by the web server whatever the umask
FOLDER_MODE = 0o755
AVATAR_FILE = re.compile(r"[0-9a-f]{1,64}\.svg")
_OPEN_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class ExportRefused(Exception):
    """`<dir>` cannot be exported to (a symbolic link, not a folder, or not writable)."""


class Progress(Protocol):
    """Where the export reports how far it is (a progress bar on a terminal, or nothing)."""

    def start(self, total: int | None, unit: str) -> None:
        """The work ahead: `total` posts."""

    def advance(self, amount: int) -> None:
        """`amount` more posts are done."""


@dataclass
class Summary:
    """What one run did, by post: written, unchanged, removed; refused (a link or a file in
    the way, named in `problems`) and skipped (a slug the API would never answer for)."""

    written: int = 0
    unchanged: int = 0
    removed: int = 0
    refused: int = 0
    skipped: int = 0
    avatars_written: int = 0
    avatars_removed: int = 0
    full: bool = False  # every post was rewritten (first run, or a parameter changed)
    problems: list[str] = field(default_factory=list)

    def lines(self, target: str) -> list[str]:
        """The summary as printed on standard output."""
        out = [
            f"Exported static files to {target}: {self.written} posts written, "
            f"{self.unchanged} unchanged, {self.removed} removed.",
            f"Avatars: {self.avatars_written} written, {self.avatars_removed} removed.",
        ]
        if self.full:
            out.append("Every post was written: first run, or a parameter changed.")
        if self.refused:
            out.append(f"Refused {self.refused} (see the messages above).")
        if self.skipped:
            out.append(f"Skipped {self.skipped} posts whose slug is not canonical.")
        return out


@dataclass(frozen=True)
class _Entry:
    """One post in the manifest: as of the run that wrote its files."""

    id: int
    slug: str
    version: str
    count: int
    path: str
    raw: str | None = field(default=None, compare=False)  # as read from the manifest

    def line(self) -> str:
        if self.raw is not None:
            return self.raw
        return json.dumps(
            {
                "id": self.id,
                "slug": self.slug,
                "version": self.version,
                "count": self.count,
                "path": self.path,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class _PostRow:
    id: int
    slug: str
    version: str
    closed: bool


def renderer_fingerprint(public_url: str, language: str) -> str:
    """A hash of what this commentd writes for a sample post (its JSON, fragment and an
    identicon): when an upgrade changes the output, every file is written again."""
    sample = {
        "slug": "sample/post",
        "count": 1,
        "closed": False,
        "comments": [
            {
                "id": 1,
                "parent_id": None,
                "author": {
                    "name": "Sample <b>",
                    "website": "https://example.org",
                    "avatar": "data:image/svg+xml,x",
                },
                "body_html": "<p>Sample</p>",
                "created_at": "2026-01-02T03:04:05Z",
            }
        ],
    }
    digest = hashlib.sha256(public_json(sample))
    digest.update(
        render_thread(sample, version="1", language=language, public_url=public_url).encode()
    )
    digest.update(identicon_svg("0123456789abcdef").encode())
    return digest.hexdigest()[:16]


def parameters(public_url: str, language: str, fold_case: bool) -> dict[str, Any]:
    """The export's parameters, kept in the manifest: any change rewrites every post."""
    return {
        "format": FORMAT,
        "public_url": public_url,
        "language": language,
        "fold_case": fold_case,
        "renderer": renderer_fingerprint(public_url, language),
    }


class _Folder:
    """`<dir>`, opened once without following a link; every path below it is walked one
    component at a time, relative to descriptors, never following a link."""

    def __init__(self, path: str) -> None:
        created = False
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            os.mkdir(path, FOLDER_MODE)
            created = True
        except FileExistsError:
            pass
        except OSError as error:
            raise ExportRefused(f"{path}: {error.strerror}") from None
        try:
            self.fd = os.open(path, _OPEN_FOLDER)
            if created:
                os.fchmod(self.fd, FOLDER_MODE)  # published: whatever the umask
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise ExportRefused(
                    f"{path} is a symbolic link or not a folder: give the real folder's path"
                ) from None
            raise ExportRefused(f"{path}: {error.strerror}") from None

    def close(self) -> None:
        os.close(self.fd)

    @contextmanager
    def folder(self, parts: Sequence[str], *, create: bool) -> Iterator[int]:
        """A descriptor of the folder `parts` below `<dir>` (created with `create`). Raises
        FileNotFoundError (not `create`), or NotADirectoryError naming the component that is
        a link or a file."""
        opened: list[int] = []
        current = self.fd
        try:
            for index, part in enumerate(parts):
                created = False
                if create:
                    with suppress(FileExistsError):
                        os.mkdir(part, FOLDER_MODE, dir_fd=current)
                        created = True
                try:
                    current = os.open(part, _OPEN_FOLDER, dir_fd=current)
                    if created:
                        os.fchmod(current, FOLDER_MODE)  # published: whatever the umask
                except OSError as error:
                    if error.errno in (errno.ELOOP, errno.ENOTDIR):
                        where = "/".join(parts[: index + 1])
                        raise NotADirectoryError(
                            f"{where} is a symbolic link or a file, not a folder: not followed"
                        ) from None
                    raise
                opened.append(current)
            yield current
        finally:
            for fd in reversed(opened):
                os.close(fd)

    def write(self, folder_fd: int, name: str, data: bytes) -> None:
        """`name` in the folder holds `data`, atomically: a new temporary file, renamed over."""
        temporary = f".commentd-{secrets.token_hex(6)}.tmp"
        fd = os.open(temporary, _NEW_FILE, FILE_MODE, dir_fd=folder_fd)
        try:
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.rename(temporary, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except BaseException:
            with suppress(OSError):
                os.unlink(temporary, dir_fd=folder_fd)
            raise

    def open_file(self, name: str) -> IO[bytes] | None:
        """A regular file of `<dir>` opened for reading (never through a link), None when it
        is not there or is something else."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)
        except OSError:
            return None
        file = os.fdopen(fd, "rb")
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            file.close()
            return None
        return file

    def exists(self, folder_fd: int, name: str) -> bool:
        """Whether `name` is there (a link counts: it is not looked through)."""
        try:
            os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def remove(self, parts: Sequence[str], names: Sequence[str]) -> None:
        """Unlink `names` in the folder `parts` (a link itself, never its target), then the
        folders that this left empty, up to but not including parts[0]."""
        try:
            with self.folder(parts, create=False) as folder_fd:
                for name in names:
                    with suppress(FileNotFoundError):
                        os.unlink(name, dir_fd=folder_fd)
        except (FileNotFoundError, NotADirectoryError):
            return
        for depth in range(len(parts) - 1, 0, -1):
            try:
                with self.folder(parts[:depth], create=False) as parent_fd:
                    os.rmdir(parts[depth], dir_fd=parent_fd)
            except OSError:
                return  # not empty (or not ours): the folders above are not empty either

    def folds_case(self) -> bool:
        """Whether the file system of `<dir>` treats `a` and `A` as one name (probed)."""
        probe = f".commentd-case-{secrets.token_hex(4)}.tmp"
        fd = os.open(probe, _NEW_FILE, FILE_MODE, dir_fd=self.fd)
        os.close(fd)
        try:
            return self.exists(self.fd, probe.upper())
        finally:
            os.unlink(probe, dir_fd=self.fd)


def _read_manifest(folder: _Folder) -> tuple[dict[str, Any] | None, Iterator[_Entry]]:
    """The last run's parameters and its entries in id order, read line by line as they are
    asked for (none when there is no readable manifest)."""
    file = folder.open_file(MANIFEST)
    if file is None:
        return None, iter(())
    try:
        header = json.loads(file.readline())
    except ValueError:
        header = None
    if not isinstance(header, dict) or not isinstance(header.get("parameters"), dict):
        file.close()
        return None, iter(())

    def entries() -> Iterator[_Entry]:
        with file:
            for line in file:
                try:
                    item = json.loads(line)
                    yield _Entry(
                        int(item["id"]),
                        str(item["slug"]),
                        str(item["version"]),
                        int(item["count"]),
                        str(item["path"]),
                        line.decode("utf-8").rstrip("\n"),
                    )
                except (ValueError, KeyError, TypeError):
                    continue

    return header["parameters"], entries()


def _split(path: str) -> tuple[list[str], str]:
    """posts/<path> as (folder parts, file stem)."""
    parts = [POSTS, *path.split("/")]
    return parts[:-1], parts[-1]


class _Writer:
    """Streams files: the manifest and counts.json are built in temporary files, renamed in
    at the end only when their content changed."""

    def __init__(self, folder: _Folder, name: str) -> None:
        self.folder = folder
        self.name = name
        self.temporary = f".commentd-{secrets.token_hex(6)}.tmp"
        fd = os.open(self.temporary, _NEW_FILE, FILE_MODE, dir_fd=folder.fd)
        os.fchmod(fd, FILE_MODE)
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()

    def write(self, text: str) -> None:
        data = text.encode()
        self.digest.update(data)
        self.file.write(data)

    def finish(self) -> bool:
        """Put the new file in place if it differs from the old; True when it did. On any
        failure (a full disk as the last bytes are written, say) nothing is left behind."""
        try:
            self.file.close()
            if self._same_as_before():
                os.unlink(self.temporary, dir_fd=self.folder.fd)
                return False
            os.rename(
                self.temporary, self.name, src_dir_fd=self.folder.fd, dst_dir_fd=self.folder.fd
            )
        except BaseException:
            self.abandon()
            raise
        return True

    def _same_as_before(self) -> bool:
        old = self.folder.open_file(self.name)
        if old is None:
            return False
        digest = hashlib.sha256()
        with old:
            while chunk := old.read(1 << 16):
                digest.update(chunk)
        return digest.digest() == self.digest.digest()

    def abandon(self) -> None:
        """Remove the temporary file (its last bytes may fail to flush: a full disk)."""
        with suppress(OSError):
            self.file.close()
        with suppress(OSError):
            os.unlink(self.temporary, dir_fd=self.folder.fd)


def _canonical(slug: str) -> bool:
    try:
        return normalize_slug(slug) == slug
    except BadRequest:
        return False


class StaticExport:
    """One run of the export of `engine`'s approved comments into a folder."""

    def __init__(
        self,
        engine: Engine,
        target: str,
        *,
        public_url: str,
        language: str,
        fold_case: bool | None = None,
        progress: Progress | None = None,
    ) -> None:
        """`public_url` as the API's (COMMENTD_PUBLIC_URL), `language` a catalogue's name
        (i18n.resolve) for the fragments' words; `fold_case` None: probe the file system."""
        self.engine = engine
        self.target = target
        self.public_url = public_url
        self.language = language
        self.fold_case = fold_case
        self.progress = progress
        self.summary = Summary()
        self._avatars_seen: set[str] = set()
        self._avatars_refused = False

    def run(self) -> Summary:
        """Write, keep or remove every post's files; returns what it did. Raises
        ExportRefused when `target` cannot be used, OSError when writing fails."""
        folder = _Folder(self.target)
        try:
            return self._run(folder)
        finally:
            folder.close()

    def _run(self, folder: _Folder) -> Summary:
        fold_case = folder.folds_case() if self.fold_case is None else self.fold_case
        self.fold = fold_case
        params = parameters(self.public_url, self.language, fold_case)
        old_params, old_entries = _read_manifest(folder)
        self.summary.full = old_params != params
        # After a parameter changed, every post is written anew and the old entries are only
        # what to remove at the end (the files no post owns any more).
        old: Iterator[_Entry] = iter(()) if self.summary.full else old_entries
        stale: Iterator[_Entry] = old_entries if self.summary.full else iter(())
        manifest = _Writer(folder, MANIFEST)
        counts = _Writer(folder, COUNTS)
        try:
            manifest.write(json.dumps({"parameters": params}, ensure_ascii=False) + "\n")
            counts.write("{")
            self._first_count = True
            with Session(self.engine) as session:
                total = session.scalar(
                    select(func.count()).select_from(Post).where(Post.approved_count > 0)
                )
                if self.progress is not None:
                    self.progress.start(int(total or 0), "posts")
                pending = next(old, None)
                for batch in self._batches(session):
                    writes: list[tuple[_PostRow, _Entry | None]] = []
                    # What the manifest will say of each post, in id order (the next run
                    # merges it with the posts by id): kept entries now, written ones below.
                    kept: dict[int, _Entry] = {}
                    for row in batch:
                        while pending is not None and pending.id < row.id:
                            self._remove(session, folder, pending)
                            pending = next(old, None)
                        previous = None
                        if pending is not None and pending.id == row.id:
                            previous, pending = pending, next(old, None)
                        if (
                            previous is not None
                            and previous.version == row.version
                            and previous.slug == row.slug
                        ):
                            # Same slug, same parameters: the same path; nothing to do.
                            self.summary.unchanged += 1
                            kept[row.id] = previous
                        elif not _canonical(row.slug):
                            self.summary.skipped += 1
                            if previous is not None:
                                self._remove(session, folder, previous)
                        else:
                            writes.append((row, previous))
                    kept |= self._write_batch(session, folder, writes, fold_case)
                    for row in batch:
                        if row.id in kept:
                            self._record(manifest, counts, kept[row.id])
                    session.expunge_all()
                    if self.progress is not None:
                        self.progress.advance(len(batch))
                while pending is not None:
                    self._remove(session, folder, pending)
                    pending = next(old, None)
                for entry in stale:
                    self._remove(session, folder, entry)
                if self.summary.written or self.summary.removed or self.summary.full:
                    self._prune_avatars(session, folder)
            counts.write("}\n")
        except BaseException:
            manifest.abandon()
            counts.abandon()
            raise
        try:
            counts.finish()
            if self.summary.written or self.summary.removed:
                os.sync()  # the files are on disk before the manifest says they are
        except BaseException:
            manifest.abandon()
            raise
        manifest.finish()
        return self.summary

    def _batches(self, session: Session) -> Iterator[list[_PostRow]]:
        """Posts with approved comments, in id order, BATCH at a time (keyset pages)."""
        after = 0
        while True:
            rows = session.execute(
                select(Post.id, Post.slug, Post.version, Post.closed)
                .where(Post.approved_count > 0, Post.id > after)
                .order_by(Post.id)
                .limit(BATCH)
            ).all()
            if not rows:
                return
            yield [_PostRow(int(r.id), str(r.slug), str(r.version), bool(r.closed)) for r in rows]
            after = int(rows[-1].id)

    def _record(self, manifest: _Writer, counts: _Writer, entry: _Entry) -> None:
        manifest.write(entry.line() + "\n")
        key = json.dumps(entry.slug, ensure_ascii=False)
        counts.write(("" if self._first_count else ",") + f"{key}:{entry.count}")
        self._first_count = False

    def _write_batch(
        self,
        session: Session,
        folder: _Folder,
        writes: list[tuple[_PostRow, _Entry | None]],
        fold_case: bool,
    ) -> dict[int, _Entry]:
        """Read the approved comments of `writes`' posts in one query, then write each post;
        returns the manifest entries of those written, by post id."""
        written: dict[int, _Entry] = {}
        if not writes:
            return written
        ids = [row.id for row, _ in writes]
        rows_by_post: dict[int, list[Comment]] = {post_id: [] for post_id in ids}
        for comment in session.scalars(
            select(Comment)
            .where(Comment.post_id.in_(ids), Comment.status == CommentStatus.APPROVED)
            .order_by(Comment.post_id, Comment.id)
        ):
            rows_by_post[comment.post_id].append(comment)
        for row, previous in writes:
            rows = rows_by_post[row.id]
            path = path_for_slug(row.slug, fold_case=fold_case)
            if not rows:  # emptied since the posts were read: as if it had none
                if previous is not None:
                    self._remove(session, folder, previous)
                continue
            if previous is not None and previous.path != path:
                self._remove(session, folder, previous, count=False)
            links = comments.parent_links(session, row.id) if needs_links(rows) else None
            page = public_page(
                row.slug, rows, closed=row.closed, public_url=self.public_url, links=links
            )
            inline = public_page(
                row.slug,
                rows,
                closed=row.closed,
                public_url=self.public_url,
                links=links,
                inline_avatars=True,
            )
            fragment = render_thread(
                inline, version=row.version, language=self.language, public_url=self.public_url
            )
            parts, stem = _split(path)
            try:
                with folder.folder(parts, create=True) as folder_fd:
                    folder.write(folder_fd, f"{stem}.json", public_json(page))
                    folder.write(folder_fd, f"{stem}.html", fragment.encode())
            except NotADirectoryError as error:
                self.summary.refused += 1
                self.summary.problems.append(f"{row.slug!r}: {error}")
                continue
            try:
                self._write_avatars(folder, rows)
            except NotADirectoryError as error:
                if not self._avatars_refused:
                    self.summary.problems.append(f"avatars: {error}")
                    self.summary.refused += 1
                self._avatars_refused = True
            self.summary.written += 1
            written[row.id] = _Entry(row.id, row.slug, row.version, len(rows), path)
        return written

    def _write_avatars(self, folder: _Folder, rows: Sequence[Comment]) -> None:
        """`avatars/<key>.svg` for each commenter, when missing (or on a full run, once)."""
        keys = {c.avatar_key for c in rows} - self._avatars_seen
        if not keys:
            return
        with folder.folder([AVATARS], create=True) as avatars_fd:
            for key in sorted(keys):
                name = f"{key}.svg"
                if not AVATAR_FILE.fullmatch(name):
                    continue
                if self.summary.full or not folder.exists(avatars_fd, name):
                    folder.write(avatars_fd, name, identicon_svg(key).encode())
                    self.summary.avatars_written += 1
        self._avatars_seen |= keys
        if len(self._avatars_seen) > 100_000:
            self._avatars_seen.clear()  # a bound; the worst is a few needless stat() calls

    def _remove(
        self, session: Session, folder: _Folder, entry: _Entry, *, count: bool = True
    ) -> None:
        """Remove a post's old files, unless a post exported in this run owns that path now
        (the same post after a parameter changed nothing for it, or a slug that came back)."""
        try:
            owner = slug_for_path(entry.path)
            ours = entry.path in (path_for_slug(owner), path_for_slug(owner, fold_case=True))
        except ValueError:  # UnsafeSlug too
            ours = False
        if not ours:
            return  # a manifest edited by hand: not a path this export makes (`..`, …)
        for slug in {entry.slug, owner}:
            exported = session.execute(
                select(Post.approved_count).where(Post.slug == slug)
            ).scalar_one_or_none()
            if (
                exported
                and _canonical(slug)
                and path_for_slug(slug, fold_case=self.fold) == entry.path
            ):
                return
        parts, stem = _split(entry.path)
        folder.remove(parts, [f"{stem}.json", f"{stem}.html"])
        if count:
            self.summary.removed += 1

    def _prune_avatars(self, session: Session, folder: _Folder) -> None:
        """Remove avatars no approved comment shows any more (an erased commenter's)."""
        try:
            with folder.folder([AVATARS], create=False) as avatars_fd:
                names = [n for n in os.listdir(avatars_fd) if AVATAR_FILE.fullmatch(n)]
                if not names:
                    return
                used = set(
                    session.scalars(
                        select(Comment.avatar_key)
                        .where(Comment.status == CommentStatus.APPROVED)
                        .distinct()
                    )
                )
                for name in names:
                    if name.removesuffix(".svg") not in used:
                        with suppress(FileNotFoundError):
                            os.unlink(name, dir_fd=avatars_fd)
                        self.summary.avatars_removed += 1
        except (FileNotFoundError, NotADirectoryError):
            return


def export_static(
    engine: Engine,
    target: str,
    *,
    public_url: str,
    language: str,
    fold_case: bool | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Export every post with approved comments into `target` (see the module's docstring).
    Raises ExportRefused when `target` is a symbolic link or not a folder; OSError when a write
    fails (what was written stays; the next run finishes the job)."""
    return StaticExport(
        engine,
        target,
        public_url=public_url,
        language=language,
        fold_case=fold_case,
        progress=progress,
    ).run()
