"""readers/disqus.py: a Disqus XML export → SourceComment records, streamed and hardened."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commentd.models import CommentStatus
from commentd.portability.readers import READERS, disqus
from commentd.portability.records import ImportFileError, Markup, NoProgress, Skip, SourceComment
from tests.unit.portability.xml_cases import (
    FIXTURES,
    RecordingProgress,
    billion_laughs,
    external_entity,
    external_parameter_entity,
    first_comment_and_progress,
    peak_memory_of_reading,
)

SAMPLE = FIXTURES / "disqus" / "sample.xml"
HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">\n'
)
THREAD = (
    '<thread dsq:id="9"><link>https://blog.example/p/</link><isClosed>false</isClosed>'
    "<isDeleted>false</isDeleted></thread>\n"
)


def read_all(path: Path) -> list[SourceComment]:
    return list(disqus.read(path, NoProgress()))


def by_id(path: Path = SAMPLE) -> dict[str, SourceComment]:
    return {comment.source_id: comment for comment in read_all(path)}


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "export.xml"
    path.write_text(text, encoding="utf-8")
    return path


def post(body: str, attributes: str = 'dsq:id="5"') -> str:
    return f"<post {attributes}>{body}</post>\n"


def test_the_reader_is_registered_under_its_format_name() -> None:
    assert READERS["disqus"] is disqus.read


def test_every_post_of_the_sample_is_read_in_file_order() -> None:
    comments = read_all(SAMPLE)

    assert [c.source_id for c in comments] == [
        *(str(n) for n in range(1001, 1012)),
        *("2001", "2002", "2003", "2004", "3001", "3002", "4001"),
    ]


def test_a_post_keeps_everything_the_export_says_of_it() -> None:
    assert by_id()["1001"] == SourceComment(
        source_id="1001",
        parent_id=None,
        page="https://blog.example/2024/03/glute/?utm_source=disqus&utm_medium=comments",
        name="Dana",
        email="dana@example.org",
        website=None,
        text=(
            "<p>Great routine! The side-lying clamshell is the one that finally made my hip"
            " stop aching on runs.</p>"
        ),
        markup=Markup.HTML,
        created_at=datetime(2024, 3, 29, 9, 15, tzinfo=UTC),
        status=CommentStatus.APPROVED,
        skip=None,
        ip="203.0.113.7",
        record="post 1001",
        closed=False,
    )


def test_replies_name_their_parent_post_and_top_level_posts_none() -> None:
    comments = by_id()

    chain = [comments[i].parent_id for i in ("1001", "1002", "1003", "1004", "1005")]

    assert chain == [None, "1001", "1002", "1003", "1004"]
    assert comments["1009"].parent_id == "1008"  # a deleted parent: the importer decides
    assert comments["1010"].parent_id == "999999"  # absent from the file


def test_html_is_handed_on_as_the_export_has_it_for_the_importer_to_sanitise() -> None:
    text = by_id()["1002"].text

    assert text == (
        "<p>Agreed <script>alert('x')</script>— and try "
        '<a href="javascript:alert(1)">this one</a> too.</p>'
    )


@pytest.mark.parametrize(
    ("source_id", "status", "skip"),
    [
        ("1001", CommentStatus.APPROVED, None),
        ("1006", CommentStatus.SPAM, None),  # <isSpam>true
        ("1007", CommentStatus.PENDING, None),  # <isApproved>false
        ("1008", CommentStatus.APPROVED, Skip.DELETED),  # <isDeleted>true
        ("4001", CommentStatus.APPROVED, Skip.DELETED),  # its thread <isDeleted>true
        ("1011", CommentStatus.APPROVED, None),  # empty: the importer counts it
    ],
)
def test_flags_become_a_status_or_a_reason_to_skip(
    source_id: str, status: CommentStatus, skip: Skip | None
) -> None:
    comment = by_id()[source_id]

    assert (comment.status, comment.skip) == (status, skip)


def test_a_date_with_an_offset_is_converted_to_utc() -> None:
    assert by_id()["1010"].created_at == datetime(2024, 4, 1, 14, 45, tzinfo=UTC)


def test_a_date_without_offset_is_taken_as_utc(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        HEAD
        + THREAD
        + post('<createdAt>2012-12-12T12:12:12</createdAt><thread dsq:id="9"/>')
        + "</disqus>",
    )

    assert read_all(path)[0].created_at == datetime(2012, 12, 12, 12, 12, 12, tzinfo=UTC)


def test_authors_without_email_or_ip_get_empty_email_and_no_ip() -> None:
    comments = by_id()

    assert (comments["1002"].email, comments["1002"].ip) == ("", "198.51.100.23")
    assert (comments["1010"].email, comments["1010"].ip) == ("", None)


def test_a_closed_thread_closes_its_posts_pages() -> None:
    comments = by_id()

    assert {i: comments[i].closed for i in ("1001", "2001", "2004", "3001")} == {
        "1001": False,
        "2001": True,
        "2004": True,
        "3001": False,
    }


def test_unicode_names_bodies_and_encoded_paths_come_through_unchanged() -> None:
    comments = by_id()

    assert comments["2001"].name == "李雷"
    assert comments["2001"].text == "<p>这本书我也读过\uff0c第三章最好。</p>"  # a fullwidth comma
    assert comments["2003"].name == "سارة"
    assert comments["1005"].text.startswith("<p>\u0428\u0435\u0301\u0441\u0442\u044c ")  # Ше́сть
    assert comments["2002"].text == "<p>📚🔥 Same here!</p>"
    assert comments["2001"].page == "https://blog.example/blog/%E8%AF%BB%E4%B9%A6/"


def test_an_author_without_a_name_is_named_by_username(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        HEAD
        + THREAD
        + post(
            "<createdAt>2020-01-01T00:00:00Z</createdAt><author><name></name>"
            '<username>ghost_writer</username></author><thread dsq:id="9"/>'
        )
        + "</disqus>",
    )

    assert read_all(path)[0].name == "ghost_writer"


def test_a_post_without_dsq_id_is_known_by_its_id(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        HEAD
        + THREAD
        + post(
            '<id>12345678890</id><createdAt>2011-08-31T22:49:43Z</createdAt><thread dsq:id="9"/>',
            attributes="",
        )
        + "</disqus>",
    )

    assert read_all(path)[0].source_id == "12345678890"


@pytest.mark.parametrize(
    ("records", "place", "message"),
    [
        (
            post("<createdAt>2020-01-01T00:00:00Z</createdAt>", attributes=""),
            "post #1 in the file",
            "no dsq:id",
        ),
        (post("<createdAt>2020-01-01T00:00:00Z</createdAt>"), "post 5", "<thread"),
        (
            post('<createdAt>2020-01-01T00:00:00Z</createdAt><thread dsq:id="77"/>'),
            "post 5",
            "thread 77 is not declared",
        ),
        (post('<thread dsq:id="9"/>'), "post 5", "no <createdAt>"),
        (
            post('<createdAt>yesterday</createdAt><thread dsq:id="9"/>'),
            "post 5",
            "'yesterday' is not a date",
        ),
    ],
)
def test_a_post_missing_what_it_needs_is_refused_by_name(
    tmp_path: Path, records: str, place: str, message: str
) -> None:
    path = written(tmp_path, HEAD + THREAD + records + "</disqus>")

    with pytest.raises(ImportFileError) as caught:
        read_all(path)

    assert caught.value.place == place
    assert message in caught.value.message


def test_a_post_on_a_thread_without_link_is_refused(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        HEAD
        + '<thread dsq:id="9"><link/></thread>\n'
        + post('<createdAt>2020-01-01T00:00:00Z</createdAt><thread dsq:id="9"/>')
        + "</disqus>",
    )

    with pytest.raises(ImportFileError, match=r"^post 5: its thread 9 has no <link>$"):
        read_all(path)


def test_a_file_cut_short_is_refused_naming_line_and_column(tmp_path: Path) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    cut = text[: text.index("Ana")]  # inside post 2002's <author>
    line = cut.count("\n") + 1
    path = written(tmp_path, cut)

    with pytest.raises(ImportFileError) as caught:
        read_all(path)

    assert re.fullmatch(rf"line {line}, column \d+", caught.value.place)
    assert "cut short" in caught.value.message


def test_malformed_xml_is_refused_naming_line_and_column(tmp_path: Path) -> None:
    path = written(tmp_path, HEAD + THREAD + "<post dsq:id='5'><message>x</post>\n</disqus>")

    with pytest.raises(ImportFileError) as caught:
        read_all(path)

    assert caught.value.place == "line 4, column 30"  # the name in </post>, counted from 1
    assert caught.value.message == "not well-formed XML: mismatched tag"


@pytest.mark.parametrize("hostile", [billion_laughs, external_entity, external_parameter_entity])
def test_entity_declarations_are_refused_at_once(tmp_path: Path, hostile: object) -> None:
    assert callable(hostile)
    path = written(tmp_path, hostile('<disqus xmlns="http://disqus.com"></disqus>'))
    started = time.monotonic()

    with pytest.raises(ImportFileError) as caught:
        read_all(path)

    assert time.monotonic() - started < 1
    assert re.fullmatch(r"line \d+, column \d+", caught.value.place)
    assert "entities, which are refused" in caught.value.message


def test_a_doctype_without_entities_is_no_reason_to_refuse(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        HEAD.replace("<disqus", "<!DOCTYPE disqus>\n<disqus")
        + THREAD
        + post('<createdAt>2020-01-01T00:00:00Z</createdAt><thread dsq:id="9"/>')
        + "</disqus>",
    )

    assert [c.source_id for c in read_all(path)] == ["5"]


@pytest.mark.parametrize(
    ("document", "found"),
    [
        ('<rss version="2.0"><channel/></rss>', "<rss>"),
        ("<disqus><post/></disqus>", "<disqus>"),  # no namespace: not Disqus's
        ('<feed xmlns="http://www.w3.org/2005/Atom"/>', "<feed> in the namespace"),
    ],
)
def test_another_kind_of_file_is_refused_by_its_root(
    tmp_path: Path, document: str, found: str
) -> None:
    path = written(tmp_path, '<?xml version="1.0"?>\n' + document)

    with pytest.raises(ImportFileError) as caught:
        read_all(path)

    assert caught.value.place == "root element"
    assert found in caught.value.message
    assert "not a Disqus export" in caught.value.message


def test_a_wordpress_export_is_refused_too() -> None:
    with pytest.raises(ImportFileError, match="not a Disqus export"):
        read_all(FIXTURES / "wordpress" / "sample-wxr-1.2.xml")


def test_progress_counts_the_files_bytes() -> None:
    progress = RecordingProgress()

    list(disqus.read(SAMPLE, progress))

    size = SAMPLE.stat().st_size
    assert (progress.total, progress.unit, progress.done) == (size, "B", size)


def write_large_export(path: Path, posts: int, threads: int = 50) -> None:
    """A Disqus export of `posts` posts of about 4 kB each, written without holding it."""
    body = "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 68 + "</p>"
    with path.open("w", encoding="utf-8") as file:
        file.write(HEAD)
        for t in range(threads):
            file.write(
                f'<thread dsq:id="{t}"><link>https://blog.example/p/{t}/</link>'
                "<isClosed>false</isClosed><isDeleted>false</isDeleted></thread>\n"
            )
        for n in range(posts):
            file.write(
                f'<post dsq:id="{n}"><message><![CDATA[{body}]]></message>'
                f"<createdAt>2020-01-01T00:00:00Z</createdAt><isSpam>false</isSpam>"
                f'<author><name>Reader {n}</name></author><thread dsq:id="{n % threads}"/></post>\n'
            )
        file.write("</disqus>\n")


def test_memory_stays_small_whatever_the_files_size(tmp_path: Path) -> None:
    path = tmp_path / "large.xml"
    write_large_export(path, posts=5_000)
    size = path.stat().st_size

    count, peak = peak_memory_of_reading(disqus.read, path)

    assert count == 5_000
    assert size > 20_000_000
    assert peak < 2_000_000  # a tenth of the file: nothing accumulates


def test_comments_come_before_the_whole_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "large.xml"
    write_large_export(path, posts=2_000)

    first, progress = first_comment_and_progress(disqus.read, path)

    assert first.source_id == "0"
    assert progress.done < path.stat().st_size / 10
