"""readers/wordpress.py: a WordPress WXR 1.0-1.2 export → SourceComment records, streamed and
hardened."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commentd.models import CommentStatus
from commentd.portability.readers import READERS, wordpress
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

SAMPLES = FIXTURES / "wordpress"
SAMPLE = SAMPLES / "sample-wxr-1.2.xml"


def head(version: str = "1.2") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<rss version="2.0" xmlns:wp="http://wordpress.org/export/{version}/">\n<channel>\n'
    )


TAIL = "</channel>\n</rss>\n"


def comment(comment_id: str = "5", **fields: str) -> str:
    values = {"comment_date_gmt": "2020-01-02 03:04:05", "comment_approved": "1", **fields}
    if comment_id:
        values = {"comment_id": comment_id, **values}
    inner = "".join(f"<wp:{key}>{value}</wp:{key}>" for key, value in values.items())
    return f"<wp:comment>{inner}</wp:comment>\n"


def item(*comments: str, link: str = "https://blog.example/p/", status: str = "open") -> str:
    return (
        f"<item><title>P</title><link>{link}</link><wp:post_id>42</wp:post_id>"
        f"<wp:comment_status>{status}</wp:comment_status>\n{''.join(comments)}</item>\n"
    )


def read_all(path: Path) -> list[SourceComment]:
    return list(wordpress.read(path, NoProgress()))


def by_id(path: Path = SAMPLE) -> dict[str, SourceComment]:
    return {c.source_id: c for c in read_all(path)}


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "export.xml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_reader_is_registered_under_its_format_name() -> None:
    assert READERS["wordpress"] is wordpress.read


def test_every_comment_of_every_item_is_read_in_file_order() -> None:
    comments = read_all(SAMPLE)

    assert [c.source_id for c in comments] == [
        *(str(n) for n in range(101, 114)),
        *("201", "202", "203", "301", "401"),
    ]


def test_a_comment_keeps_everything_the_export_says_of_it() -> None:
    assert by_id()["101"] == SourceComment(
        source_id="101",
        parent_id=None,
        page="https://blog.example/2024/03/glute/",
        name="Dana",
        email="dana@example.org",
        website="https://dana.example/",
        text=(
            "Great routine!\n\nThe side-lying clamshell is the one\n"
            "that finally made my hip stop aching."
        ),
        markup=Markup.WORDPRESS,
        created_at=datetime(2024, 3, 29, 9, 15, tzinfo=UTC),  # comment_date_gmt
        status=CommentStatus.APPROVED,
        skip=None,
        ip="203.0.113.7",
        record="comment 101 of item 42",
        closed=False,
    )


def test_replies_name_their_parent_and_zero_means_none() -> None:
    comments = by_id()

    chain = [comments[i].parent_id for i in ("101", "102", "103", "104", "105")]

    assert chain == [None, "101", "102", "103", "104"]
    assert comments["111"].parent_id == "110"  # a trashed parent: the importer decides
    assert comments["112"].parent_id == "9999"


@pytest.mark.parametrize(
    ("source_id", "status", "skip"),
    [
        ("101", CommentStatus.APPROVED, None),  # approved "1", type "comment"
        ("102", CommentStatus.APPROVED, None),  # type "" (before WordPress 5.5)
        ("106", CommentStatus.APPROVED, Skip.PINGBACK),
        ("107", CommentStatus.APPROVED, Skip.TRACKBACK),
        ("108", CommentStatus.PENDING, None),  # "0"
        ("109", CommentStatus.SPAM, None),  # "spam"
        ("110", CommentStatus.PENDING, Skip.DELETED),  # "trash"
        ("203", CommentStatus.PENDING, Skip.DELETED),  # "post-trashed"
    ],
)
def test_approval_and_type_become_a_status_or_a_reason_to_skip(
    source_id: str, status: CommentStatus, skip: Skip | None
) -> None:
    comment = by_id()[source_id]

    assert (comment.status, comment.skip) == (status, skip)


@pytest.mark.parametrize(
    ("fields", "status", "skip"),
    [
        ({"comment_approved": "approved-by-plugin"}, CommentStatus.PENDING, None),
        ({"comment_approved": ""}, CommentStatus.PENDING, None),
        ({"comment_type": "review"}, CommentStatus.APPROVED, None),
        ({"comment_type": "comment"}, CommentStatus.APPROVED, None),
        # A plugin's private records kept as comments never become public ones.
        ({"comment_type": "order_note"}, None, Skip.NOT_A_COMMENT),
        ({"comment_type": "webhook_delivery"}, None, Skip.NOT_A_COMMENT),
        ({"comment_type": "action_log"}, None, Skip.NOT_A_COMMENT),
        ({"comment_type": "Order_Note "}, None, Skip.NOT_A_COMMENT),
        ({"comment_approved": "trash", "comment_type": "pingback"}, None, Skip.DELETED),
    ],
)
def test_unusual_values_are_read_safely(
    tmp_path: Path, fields: dict[str, str], status: CommentStatus | None, skip: Skip | None
) -> None:
    path = written(tmp_path, head() + item(comment(**fields)) + TAIL)

    [read] = read_all(path)

    assert read.skip == skip
    if skip is None:
        assert read.status == status


def test_a_comment_without_approval_field_is_approved_as_wordpress_would(tmp_path: Path) -> None:
    text = comment().replace("<wp:comment_approved>1</wp:comment_approved>", "")
    path = written(tmp_path, head() + item(text) + TAIL)

    assert read_all(path)[0].status == CommentStatus.APPROVED


def test_a_zero_gmt_date_falls_back_to_the_local_date_taken_as_utc() -> None:
    assert by_id()["113"].created_at == datetime(2008, 5, 1, 10, 0, tzinfo=UTC)


def test_a_cdata_section_split_around_its_end_marker_is_joined_again() -> None:
    assert by_id()["113"].text == "Moved over from the old blog. In code: x[y[0]]> 1 is a typo."


def test_empty_author_fields_become_no_email_website_or_ip() -> None:
    comment = by_id()["112"]

    assert (comment.email, comment.website, comment.ip) == ("", None, None)


def test_a_closed_item_closes_its_comments_pages() -> None:
    comments = by_id()

    assert {i: comments[i].closed for i in ("101", "201", "301", "401")} == {
        "101": False,
        "201": True,
        "301": False,
        "401": False,
    }


def test_comments_of_pages_attachments_and_custom_types_are_read() -> None:
    comments = by_id()

    assert {i: comments[i].page for i in ("201", "301", "401")} == {
        "201": "https://blog.example/blog/%E8%AF%BB%E4%B9%A6/",
        "301": "https://blog.example/2024/03/glute/hip-diagram/",
        "401": "https://blog.example/recipes/cr%C3%A8me-br%C3%BBl%C3%A9e/?print=1",
    }
    assert [comments[i].record for i in ("201", "301", "401")] == [
        "comment 201 of item 7",
        "comment 301 of item 88",
        "comment 401 of item 55",
    ]


def test_unicode_names_and_bodies_come_through_unchanged() -> None:
    comments = by_id()

    assert [comments[i].name for i in ("201", "202", "401")] == ["李雷", "سارة", "Zoë"]
    assert comments["202"].text == "مقال رائع\u060c شكراً لك!"  # an Arabic comma
    assert comments["105"].text.startswith("\u0428\u0435\u0301\u0441\u0442\u044c ")  # Ше́сть
    assert comments["301"].text == "📚🔥 What a clear diagram!"


@pytest.mark.parametrize(
    ("version", "ids", "first_page"),
    [
        ("1.0", ["1", "2", "3", "4", "5", "6"], "http://blog.example/2008/05/hello-world/"),
        (
            "1.1",
            ["11", "12", "13", "14", "15", "16"],
            "https://blog.example/2012/07/%d8%b3%d9%84%d8%a7%d9%85/",
        ),
    ],
)
def test_older_wxr_versions_are_read_alike(version: str, ids: list[str], first_page: str) -> None:
    comments = read_all(SAMPLES / f"sample-wxr-{version}.xml")

    assert [c.source_id for c in comments] == ids
    assert comments[0].page == first_page


def test_wxr_1_0_dates_statuses_and_pingbacks() -> None:
    comments = by_id(SAMPLES / "sample-wxr-1.0.xml")

    assert comments["2"].created_at == datetime(2008, 5, 2, 18, 30, tzinfo=UTC)
    assert comments["5"].created_at == datetime(2008, 5, 5, 15, 45, tzinfo=UTC)  # no GMT date
    assert (comments["3"].skip, comments["4"].status) == (Skip.PINGBACK, CommentStatus.PENDING)
    assert comments["6"].closed


def test_comments_before_their_items_link_wait_for_it(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        head()
        + "<item><wp:post_id>9</wp:post_id>"
        + comment("1")
        + comment("2", comment_parent="1")
        + "<link>https://blog.example/late/</link><wp:comment_status>closed</wp:comment_status>"
        + comment("3")
        + "</item>\n"
        + TAIL,
    )

    comments = read_all(path)

    assert [(c.source_id, c.page, c.closed) for c in comments] == [
        ("1", "https://blog.example/late/", True),
        ("2", "https://blog.example/late/", True),
        ("3", "https://blog.example/late/", True),
    ]


@pytest.mark.parametrize(
    ("document", "place", "message"),
    [
        (item(comment("")), "comment (without id) of item 42", "no <wp:comment_id>"),
        (item(comment(comment_date_gmt="")), "comment 5 of item 42", "no <wp:comment_date_gmt>"),
        (
            item(comment(comment_date_gmt="0000-00-00 00:00:00", comment_date="soon")),
            "comment 5 of item 42",
            "'soon' is not a date",
        ),
        (
            "<item><wp:comment_status>open</wp:comment_status>" + comment() + "</item>",
            "comment 5 of item #1 in the file",
            "its item has no <link>",
        ),
    ],
)
def test_a_comment_missing_what_it_needs_is_refused_by_name(
    tmp_path: Path, document: str, place: str, message: str
) -> None:
    path = written(tmp_path, head() + document + TAIL)

    with pytest.raises(ImportFileError) as caught:
        read_all(path)

    assert caught.value.place == place
    assert message in caught.value.message


def test_a_file_cut_short_is_refused_naming_line_and_column(tmp_path: Path) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    cut = text[: text.index("李雷")]  # inside comment 201's CDATA
    line = cut.count("\n") + 1
    path = written(tmp_path, cut)

    with pytest.raises(ImportFileError) as caught:
        read_all(path)

    assert re.fullmatch(rf"line {line}, column \d+", caught.value.place)
    assert "cut short" in caught.value.message


def test_malformed_xml_is_refused_naming_line_and_column(tmp_path: Path) -> None:
    path = written(tmp_path, head() + "<item><link>x</item>\n" + TAIL)

    with pytest.raises(ImportFileError) as caught:
        read_all(path)

    assert caught.value.place == "line 4, column 16"  # the name in </item>, counted from 1
    assert caught.value.message == "not well-formed XML: mismatched tag"


@pytest.mark.parametrize("hostile", [billion_laughs, external_entity, external_parameter_entity])
def test_entity_declarations_are_refused_at_once(tmp_path: Path, hostile: object) -> None:
    assert callable(hostile)
    root = '<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/"><channel/></rss>'
    path = written(tmp_path, hostile(root))
    started = time.monotonic()

    with pytest.raises(ImportFileError) as caught:
        read_all(path)

    assert time.monotonic() - started < 1
    assert re.fullmatch(r"line \d+, column \d+", caught.value.place)
    assert "entities, which are refused" in caught.value.message


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('<rss version="2.0"><channel><item/></channel></rss>', "an RSS feed, not a WordPress"),
        (
            '<rss xmlns:wp="http://wordpress.org/export/1.3/"><channel/></rss>',
            "a WXR version this reader does not know (http://wordpress.org/export/1.3/)",
        ),
        ('<feed xmlns="http://www.w3.org/2005/Atom"/>', "its root element is <feed>"),
        ("<html><body>Not found</body></html>", "its root element is <html>"),
    ],
)
def test_another_kind_of_file_is_refused_by_its_root(
    tmp_path: Path, document: str, message: str
) -> None:
    path = written(tmp_path, '<?xml version="1.0"?>\n' + document)

    with pytest.raises(ImportFileError) as caught:
        read_all(path)

    assert caught.value.place == "root element"
    assert message in caught.value.message


def test_a_disqus_export_is_refused_too() -> None:
    with pytest.raises(ImportFileError, match=r"not a WordPress export \(WXR\): its root element"):
        read_all(FIXTURES / "disqus" / "sample.xml")


def test_progress_counts_the_files_bytes() -> None:
    progress = RecordingProgress()

    list(wordpress.read(SAMPLE, progress))

    size = SAMPLE.stat().st_size
    assert (progress.total, progress.unit, progress.done) == (size, "B", size)


def write_large_export(path: Path, items: int, comments_per_item: int) -> None:
    """A WXR file of `items` items of `comments_per_item` comments of about 4 kB each,
    written without holding it."""
    body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n" * 68
    with path.open("w", encoding="utf-8") as file:
        file.write(head())
        for i in range(items):
            file.write(
                f"<item><title>Post {i}</title><link>https://blog.example/{i}/</link>"
                f"<content:encoded xmlns:content='http://purl.org/rss/1.0/modules/content/'>"
                f"<![CDATA[{body}]]></content:encoded><wp:post_id>{i}</wp:post_id>"
                "<wp:comment_status>open</wp:comment_status>\n"
            )
            for c in range(comments_per_item):
                n = i * comments_per_item + c
                file.write(
                    f"<wp:comment><wp:comment_id>{n}</wp:comment_id>"
                    f"<wp:comment_author>Reader {n}</wp:comment_author>"
                    "<wp:comment_date_gmt>2020-01-02 03:04:05</wp:comment_date_gmt>"
                    f"<wp:comment_content><![CDATA[{body}]]></wp:comment_content>"
                    "<wp:comment_approved>1</wp:comment_approved></wp:comment>\n"
                )
            file.write("</item>\n")
        file.write(TAIL)


def test_memory_stays_small_whatever_the_files_size(tmp_path: Path) -> None:
    path = tmp_path / "large.xml"
    write_large_export(path, items=10, comments_per_item=500)  # each item as big as 2 MB
    size = path.stat().st_size

    count, peak = peak_memory_of_reading(wordpress.read, path)

    assert count == 5_000
    assert size > 20_000_000
    assert peak < 2_000_000  # a tenth of the file, a fraction of one item: nothing accumulates


def test_comments_come_before_the_whole_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "large.xml"
    write_large_export(path, items=50, comments_per_item=100)

    first, progress = first_comment_and_progress(wordpress.read, path)

    assert first.source_id == "0"
    assert progress.done < path.stat().st_size / 10
