"""The reader of a Disqus XML export (Admin → Moderation → Export, or the older Community →
Export): one SourceComment per <post>.

The format (https://help.disqus.com/en/articles/1717164-comments-export, schema
http://disqus.com/api/schemas/1.0/disqus.xsd): a root <disqus> in the namespace
http://disqus.com, the internal ids in http://disqus.com/disqus-internals (prefix `dsq`):

    <category dsq:id="…">…</category>                       (ignored)
    <thread dsq:id="7">  <link>https://blog.example/p/</link>  <title>…</title>
                         <createdAt>…</createdAt>  <isClosed>false</isClosed>
                         <isDeleted>false</isDeleted>  <author>…</author>  </thread>
    <post dsq:id="42">   <id/>  <message><![CDATA[<p>HTML</p>]]></message>
                         <createdAt>2011-08-31T15:16:29Z</createdAt>
                         <isDeleted>false</isDeleted>  <isSpam>false</isSpam>
                         <author> <name/> <email/> <isAnonymous/> <username/> </author>
                         <ipAddress>…</ipAddress>  <thread dsq:id="7"/>
                         <parent dsq:id="41"/>  (replies only)  </post>

Threads precede the posts that refer to them (Disqus's documentation: "Threads must be
declared after categories, and before posts"). Not every export has the authors' <email> or
<ipAddress> (newer ones leave them out): both are optional here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from commentd.models import CommentStatus
from commentd.portability.readers import xmlstream
from commentd.portability.records import ImportFileError, Markup, Progress, Skip, SourceComment
from commentd.portability.spill import SpillMap

NS = "{http://disqus.com}"
DSQ_ID = "{http://disqus.com/disqus-internals}id"


def read(path: Path, progress: Progress) -> Iterator[SourceComment]:
    """The comments of the Disqus export at `path`, one per <post>, in file order, streamed
    (memory: one post at a time, plus each thread's (link, closed, deleted) by id in a
    SpillMap: the last few thousand in memory, the rest in a temporary file, so memory stays
    flat however many threads and posts the file has).

    - source_id: the post's dsq:id (its <id> if it has none); parent_id: <parent dsq:id>.
    - page: its thread's <link>; closed: the thread's <isClosed>.
    - text: <message>, HTML (Markup.HTML); created_at: <createdAt>, ISO 8601 (UTC when it
      has no offset, as Disqus writes it with or without the Z).
    - name: <author><name> (else <username>); email: <author><email> or ""; ip: <ipAddress>.
    - skip DELETED: <isDeleted>true, or the thread's <isDeleted>true (Disqus shows neither;
      Remark42's importer skips them too); status SPAM: <isSpam>true; PENDING: <isApproved>
      false (not in Disqus's documented example; read when present, as Coral Talk's Disqus
      importer does); else APPROVED.
      <isFlagged> (readers reported it) changes nothing: Disqus kept showing such posts.

    Raises ImportFileError naming the line when the file is not XML, is cut short or declares
    entities; naming the root element when it is not Disqus's <disqus>; naming the post ("post
    42") when it has no id, no <thread dsq:id>, a thread the file has not declared before it,
    a thread without a link, or no valid <createdAt>."""
    with SpillMap[tuple[str, bool, bool]]() as threads:
        root: Element | None = None
        depth = 0
        posts = 0
        for event, element in xmlstream.events(path, progress):
            if event == "start":
                depth += 1
                if root is None:
                    _check_root(element)
                    root = element
                continue
            depth -= 1
            if depth != 1 or root is None:
                continue
            comment = None
            if element.tag == NS + "thread":
                _add_thread(threads, element)
            elif element.tag == NS + "post":
                posts += 1
                comment = _comment(element, posts, threads)
            root.clear()  # each top-level record, once read, is let go
            if comment is not None:
                yield comment


def _check_root(element: Element) -> None:
    if element.tag != NS + "disqus":
        raise ImportFileError(
            "root element",
            f"not a Disqus export: its root element is {_display(element.tag)}, not <disqus> "
            "in the namespace http://disqus.com",
        )


def _add_thread(threads: SpillMap[tuple[str, bool, bool]], element: Element) -> None:
    thread_id = element.get(DSQ_ID)
    if thread_id:  # a thread without an id cannot be referred to: nothing to keep
        threads[thread_id] = (
            (xmlstream.text(element, NS + "link") or "").strip(),
            _true(xmlstream.text(element, NS + "isClosed")),
            _true(xmlstream.text(element, NS + "isDeleted")),
        )


def _comment(
    element: Element, number: int, threads: SpillMap[tuple[str, bool, bool]]
) -> SourceComment:
    source_id = element.get(DSQ_ID) or (xmlstream.text(element, NS + "id") or "").strip()
    if not source_id:
        raise ImportFileError(f"post #{number} in the file", "it has no dsq:id and no <id>")
    record = f"post {source_id}"
    thread_ref = element.find(NS + "thread")
    thread_id = thread_ref.get(DSQ_ID) if thread_ref is not None else None
    if not thread_id:
        raise ImportFileError(record, 'it has no <thread dsq:id="…"/>')
    thread = threads.get(thread_id)
    if thread is None:
        raise ImportFileError(
            record, f"its thread {thread_id} is not declared before it in the file"
        )
    link, closed, thread_deleted = thread
    if not link:
        raise ImportFileError(record, f"its thread {thread_id} has no <link>")
    parent = element.find(NS + "parent")
    parent_id = parent.get(DSQ_ID) if parent is not None else None
    author = element.find(NS + "author")
    name = email = ""
    if author is not None:
        name = (xmlstream.text(author, NS + "name") or "").strip() or (
            xmlstream.text(author, NS + "username") or ""
        ).strip()
        email = (xmlstream.text(author, NS + "email") or "").strip()
    status = CommentStatus.APPROVED
    if _true(xmlstream.text(element, NS + "isSpam")):
        status = CommentStatus.SPAM
    elif _false(xmlstream.text(element, NS + "isApproved")):
        status = CommentStatus.PENDING
    deleted = thread_deleted or _true(xmlstream.text(element, NS + "isDeleted"))
    return SourceComment(
        source_id=source_id,
        parent_id=parent_id or None,
        page=link,
        name=name,
        email=email,
        website=None,
        text=(xmlstream.text(element, NS + "message") or "").strip(),
        markup=Markup.HTML,
        created_at=_created_at(xmlstream.text(element, NS + "createdAt"), record),
        status=status,
        skip=Skip.DELETED if deleted else None,
        ip=(xmlstream.text(element, NS + "ipAddress") or "").strip() or None,
        record=record,
        closed=closed,
    )


def _created_at(value: str | None, record: str) -> datetime:
    if not value or not value.strip():
        raise ImportFileError(record, "it has no <createdAt>")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ImportFileError(record, f"its <createdAt> {value.strip()!r} is not a date") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _true(value: str | None) -> bool:
    return value is not None and value.strip().lower() in {"true", "1"}


def _false(value: str | None) -> bool:
    return value is not None and value.strip().lower() in {"false", "0"}


def _display(tag: Any) -> str:
    """An element's tag as a reader knows it: `<name>` and its namespace, if any."""
    namespace, _, local = str(tag).rpartition("}")
    return f"<{local}> in the namespace {namespace[1:]}" if namespace else f"<{local}>"
